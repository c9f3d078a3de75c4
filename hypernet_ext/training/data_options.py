"""Options of the training data pipeline and their validation (fix-it messages)."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from ..errors import InvalidOptionError
from ..images import RESIZE_MODES
from ..option_spec import option
from .captions import builtin_templates, compile_word_regex, load_template

LATENT_SAMPLING = ("once", "deterministic", "random")
MIN_SIDE, MAX_SIDE = 64, 4096


@dataclass
class DataOptions:
    """How images, captions and prompts become training batches.

    template: built-in name (see `builtin_templates()`), path of a .txt file, or a list of lines.
    resize: "crop" (cover + centre crop, default), "stretch" (webui: BICUBIC, aspect not kept) or
    "fit" (letterbox; padding gets zero alpha weight). buckets=True ignores `resize` and trains each
    image near width*height pixels at its own aspect ratio, sides multiples of 8 latent pixels.
    latent_sampling: "once" (one sample, kept), "deterministic" (the mean), "random" (per step).
    keep_first_tags: that many leading tags are never shuffled or dropped.
    """

    data_dir: str
    name: str
    template: Union[str, list[str]] = option("style_filewords", help="prompt template: a built-in name or the path "
                                             "of a .txt file", label="Prompt template", group="run",
                                             suggest=builtin_templates, metavar="FILE")
    width: int = option(512, help="training width in pixels, a multiple of 64 (64 for the tiny model)",
                        label="Training width", group="run", minimum=MIN_SIDE, maximum=MAX_SIDE, step=64)
    height: int = option(512, help="training height in pixels, a multiple of 64 (64 for the tiny model)",
                         label="Training height", group="run", minimum=MIN_SIDE, maximum=MAX_SIDE, step=64)
    batch_size: int = option(1, help="images per batch", label="Batch size", group="run", minimum=1, metavar="B")
    seed: int = option(0, help="seed of everything random in training (order, noise, timesteps, flips)",
                       label="Training seed", group="run", metavar="S")
    resize: str = option("crop", help="crop: cover and centre-crop; stretch: the webui's resize, aspect not kept; "
                         "fit: letterbox (padding not trained with alpha weights)", label="Resize images",
                         group="data", choices=RESIZE_MODES)
    buckets: bool = option(False, help="aspect-ratio buckets of about width x height pixels instead of one size",
                           label="Aspect-ratio buckets", group="data")
    flip: bool = option(False, help="random horizontal flips", label="Random horizontal flips", group="data")
    recursive: bool = option(False, help="also read images in sub-folders", label="Include dataset sub-folders",
                             group="data")
    use_alpha_weight: bool = option(False, help="use the PNG alpha channel as loss weight", flag="--alpha-weight",
                                    label="Use PNG alpha channel as loss weight", group="data")
    latent_sampling: str = option("once", help="once: one sample, kept; deterministic: the mean; random: a new "
                                  "sample every step", label="Latent sampling method", group="data",
                                  choices=LATENT_SAMPLING)
    shuffle_tags: bool = option(False, help="shuffle the comma-separated tags of each caption",
                                label="Shuffle tags", group="data")
    keep_first_tags: int = option(0, help="this many leading tags are never shuffled or dropped",
                                  label="Keep first N tags in place", group="data", minimum=0, metavar="N")
    tag_dropout: float = option(0.0, help="probability of dropping each tag", label="Tag dropout", group="data",
                                minimum=0.0, maximum=0.95, step=0.05, metavar="P")
    filename_word_regex: str = option("", help="regex picking the words of a file name used as its caption "
                                      "(empty: the whole name)", label="Filename word regex", group="data",
                                      metavar="REGEX")
    filename_join_string: str = option(" ", help="text joining the words the regex picked",
                                       label="Filename join string", group="data", metavar="TEXT")

    def validate(self) -> None:
        """Raise InvalidOptionError naming the first bad option and how to fix it."""
        self._validate_paths()
        self._validate_size()
        self._validate_choices()
        self._validate_tags()
        compile_word_regex(self.filename_word_regex)
        load_template(self.template)

    def _validate_paths(self) -> None:
        if not isinstance(self.data_dir, (str, Path)) or not str(self.data_dir).strip():
            raise InvalidOptionError("data_dir is empty; give the folder that holds the training images")
        if not Path(self.data_dir).expanduser().is_dir():
            raise InvalidOptionError(f"data_dir {str(self.data_dir)!r} does not exist or is not a folder; "
                                     "give an existing folder of training images")
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidOptionError("name is empty; give the hypernetwork name (it replaces [name] in prompts)")
        if not isinstance(self.filename_join_string, str):
            raise InvalidOptionError("filename_join_string must be text, e.g. ' '")

    def _validate_size(self) -> None:
        for field_name in ("width", "height"):
            value = getattr(self, field_name)
            if not _is_int(value) or not MIN_SIDE <= value <= MAX_SIDE or value % 64:
                raise InvalidOptionError(
                    f"{field_name}={value!r} is not a training size; use a multiple of 64 between "
                    f"{MIN_SIDE} and {MAX_SIDE}, e.g. 512")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise InvalidOptionError(f"batch_size={self.batch_size!r} must be a whole number >= 1")
        if not _is_int(self.seed):
            raise InvalidOptionError(f"seed={self.seed!r} must be a whole number, e.g. 0")

    def _validate_choices(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise InvalidOptionError(f"resize={self.resize!r} is not one of {', '.join(RESIZE_MODES)}; "
                                     "'crop' keeps the aspect ratio and crops the overflow")
        if self.latent_sampling not in LATENT_SAMPLING:
            raise InvalidOptionError(f"latent_sampling={self.latent_sampling!r} is not one of "
                                     f"{', '.join(LATENT_SAMPLING)}; 'once' is the webui default")
        for flag in ("buckets", "shuffle_tags", "flip", "use_alpha_weight", "recursive"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidOptionError(f"{flag} must be True or False, not {getattr(self, flag)!r}")

    def _validate_tags(self) -> None:
        if not _is_int(self.keep_first_tags) or self.keep_first_tags < 0:
            raise InvalidOptionError(f"keep_first_tags={self.keep_first_tags!r} must be a whole number >= 0")
        dropout = self.tag_dropout
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
            raise InvalidOptionError(f"tag_dropout={dropout!r} must be a probability from 0 up to (not "
                                     "including) 1, e.g. 0.1")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
