"""The WD14 tagger (SmilingWolf's wd-v1-4-* and wd-*-tagger-v3 ONNX models) through onnxruntime.

A model folder holds `model.onnx` and `selected_tags.csv` (columns tag_id,name,category,count;
category 0 = general, 4 = character, 9 = rating; any other category counts as general). Nothing is
downloaded: the user points at a folder. The model takes (N, S, S, 3) float32 BGR pixels in 0..255
(S from the model's input, usually 448; the image is composited on white, padded to a white square,
then resized) and returns one probability per tag.

A caption is the character tags above `character_threshold`, then the general tags above
`general_threshold`, each group by descending probability; ratings are never written; excluded tags
are dropped. Underscores become spaces except in kaomoji-like tags such as `^_^` or `o_o`; brackets
are escaped (`\\(`) by default because training reads `(`/`[` in captions as emphasis, as the webui does.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
from PIL import Image

from ..errors import HypernetError, InvalidOptionError

MODEL_FILE = "model.onnx"
TAGS_FILE = "selected_tags.csv"
GENERAL, CHARACTER, RATING = 0, 4, 9
DEFAULT_SIZE = 448
WHERE_TO_GET = ("download one from Hugging Face, e.g. SmilingWolf/wd-v1-4-moat-tagger-v2 or "
                "SmilingWolf/wd-vit-tagger-v3 (files model.onnx and selected_tags.csv), into a folder of its own")
_LETTER_RUN = re.compile(r"[^\W\d_]{2,}")


class TaggerModelError(HypernetError):
    """The WD14 model folder is missing, incomplete or unreadable."""


@dataclass(frozen=True)
class Tag:
    name: str
    category: int


@dataclass(frozen=True)
class TaggerSettings:
    general_threshold: float = 0.35
    character_threshold: float = 0.85
    exclude_tags: tuple[str, ...] = ()
    keep_underscores: bool = False
    escape_brackets: bool = True
    batch_size: int = 4


def parse_tag_list(text: str | Iterable[str]) -> tuple[str, ...]:
    """'a, b_c,  d' -> ('a', 'b_c', 'd')."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(t.strip() for t in items if t and t.strip())


def is_kaomoji(tag: str) -> bool:
    """Tags like ^_^, o_o, >_<, 0_0: no run of two letters, so their underscores are part of the face."""
    return "_" in tag and not _LETTER_RUN.search(tag)


def display_tag(name: str, keep_underscores: bool, escape_brackets: bool) -> str:
    """A tag as written into a caption."""
    text = name if keep_underscores or is_kaomoji(name) else name.replace("_", " ")
    if escape_brackets:
        text = re.sub(r"([\\()\[\]])", r"\\\1", text)
    return text


def _normalized(tag: str) -> str:
    return tag.strip().lower().replace(" ", "_")


def read_tags(path: Path) -> list[Tag]:
    """The tag rows of a selected_tags.csv, in order (the model's output order)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TaggerModelError(f"cannot read {path}: {error}") from error
    if not rows or not {"name", "category"} <= set(rows[0]):
        raise TaggerModelError(f"{path} is not a WD14 tag list: it needs the columns tag_id,name,category,count")
    try:
        return [Tag(row["name"], int(row["category"])) for row in rows]
    except (TypeError, ValueError) as error:
        raise TaggerModelError(f"{path} has a category that is not a number: {error}") from error


def find_model_files(folder: str | Path) -> tuple[Path, Path]:
    """(model.onnx, selected_tags.csv) of `folder`, or TaggerModelError saying what to put there."""
    if not str(folder or "").strip():
        raise TaggerModelError(f"the WD14 tagger needs a model folder (--captioner-model DIR, or 'WD14 model "
                               f"folder' in the panel); {WHERE_TO_GET}")
    root = Path(folder).expanduser()
    model, tags = root / MODEL_FILE, root / TAGS_FILE
    missing = [p.name for p in (model, tags) if not p.is_file()]
    if not root.is_dir() or missing:
        what = "does not exist" if not root.is_dir() else f"lacks {' and '.join(missing)}"
        raise TaggerModelError(f"the WD14 model folder {str(root)!r} {what}; it must contain {MODEL_FILE} and "
                               f"{TAGS_FILE}: {WHERE_TO_GET}")
    return model, tags


def _session(model_path: Path):
    try:
        import onnxruntime
    except ImportError:
        raise TaggerModelError("the WD14 tagger needs onnxruntime: pip install onnxruntime") from None
    try:
        return onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise TaggerModelError(f"onnxruntime cannot load {model_path}: {error}") from error


def to_model_input(image: Image.Image, size: int) -> np.ndarray:
    """(size, size, 3) float32 BGR 0..255: composited on white, padded to a centred white square, resized."""
    rgba = image.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    side = max(flat.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(flat.convert("RGB"), ((side - flat.width) // 2, (side - flat.height) // 2))
    if side != size:
        square = square.resize((size, size), Image.BICUBIC)
    return np.asarray(square, dtype=np.float32)[:, :, ::-1].copy()


class WD14Tagger:
    """Tags images with a local WD14 ONNX model; `caption(image)` for one, `caption_batch(images)` for many."""

    name = "wd14"

    def __init__(self, folder: str | Path, settings: Optional[TaggerSettings] = None):
        self.settings = settings or TaggerSettings()
        _check_settings(self.settings)
        model_path, tags_path = find_model_files(folder)
        self.tags = read_tags(tags_path)
        self._session = _session(model_path)
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        shape = list(model_input.shape)
        self.size = shape[1] if len(shape) == 4 and isinstance(shape[1], int) else DEFAULT_SIZE
        outputs = self._session.get_outputs()[0].shape
        if len(outputs) == 2 and isinstance(outputs[1], int) and outputs[1] != len(self.tags):
            raise TaggerModelError(f"{model_path} gives {outputs[1]} tag probabilities but {tags_path} lists "
                                   f"{len(self.tags)} tags; use the {TAGS_FILE} that came with the model")
        self._excluded = {_normalized(t) for t in self.settings.exclude_tags}

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, tags) probabilities, run in batches of `settings.batch_size`."""
        out = []
        step = max(1, int(self.settings.batch_size))
        for start in range(0, len(images), step):
            batch = np.stack([to_model_input(im, self.size) for im in images[start:start + step]])
            out.append(np.asarray(self._session.run(None, {self._input_name: batch})[0], dtype=np.float32))
        return np.concatenate(out) if out else np.zeros((0, len(self.tags)), np.float32)

    def tags_for(self, probabilities: np.ndarray) -> list[str]:
        """Caption tags (see the module docstring) for one image's probabilities."""
        s = self.settings
        found = {CHARACTER: [], GENERAL: []}
        for tag, p in zip(self.tags, probabilities.tolist()):
            if tag.category == RATING or _normalized(tag.name) in self._excluded:
                continue
            group = CHARACTER if tag.category == CHARACTER else GENERAL
            threshold = s.character_threshold if group == CHARACTER else s.general_threshold
            if p > threshold:
                found[group].append((p, tag.name))
        ordered = [name for group in (CHARACTER, GENERAL)
                   for _, name in sorted(found[group], key=lambda item: -item[0])]
        return [display_tag(name, s.keep_underscores, s.escape_brackets) for name in ordered]

    def caption_batch(self, images: Sequence[Image.Image]) -> list[str]:
        return [", ".join(self.tags_for(row)) for row in self.probabilities(list(images))]

    def caption(self, image: Image.Image) -> str:
        return self.caption_batch([image])[0]

    def close(self) -> None:
        self._session = None


def _check_settings(settings: TaggerSettings) -> None:
    for name in ("general_threshold", "character_threshold"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise InvalidOptionError(f"{name} must be a probability from 0 to 1, got {value!r}")
    if isinstance(settings.batch_size, bool) or not isinstance(settings.batch_size, int) or settings.batch_size < 1:
        raise InvalidOptionError(f"the tagger batch size must be a whole number >= 1, got {settings.batch_size!r}")


def tagger_from_options(options) -> WD14Tagger:
    """The tagger a preprocessing run's options describe (`PreprocessOptions` fields)."""
    settings = TaggerSettings(
        general_threshold=options.general_threshold, character_threshold=options.character_threshold,
        exclude_tags=parse_tag_list(options.exclude_tags), keep_underscores=options.keep_underscores,
        escape_brackets=options.escape_brackets)
    return WD14Tagger(options.captioner_model, settings)
