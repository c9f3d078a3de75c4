"""Every preprocessing option, with defaults from the webui and validation with fix-it messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

from ..errors import HypernetError, InvalidOptionError
from ..option_spec import option
from ..images import DEFAULT_MAX_PIXELS, parse_color
from .autosize import OBJECTIVES
from .captioners import CAPTION_ACTIONS
from .resize import RESIZE_MODES

FLIP_DIRECTIONS = ("horizontal", "vertical", "both")
SMALL_IMAGE_ACTIONS = ("upscale", "skip")
EXISTING_ACTIONS = ("skip", "replace")
MIN_SIDE, MAX_SIDE, SIDE_STEP = 64, 8192, 8

Color = Union[str, Sequence[int]]


@dataclass
class PreprocessOptions:
    """What `preprocess` does; names follow the webui's Preprocess tab."""

    source: Union[str, Path]
    destination: Union[str, Path]
    width: int = 512
    height: int = 512
    resize_mode: str = "crop"                 # crop (to fill) | fit (with padding) | stretch
    fit_background: Color = "edge"            # padding for "fit": a colour, or "edge" (repeat border pixels)
    keep_original_size: bool = False          # save the image unresized when no other operation applies
    caption_action: str = "ignore"            # existing <stem>.txt: ignore | copy | prepend | append
    captioners: list[str] = field(default_factory=list)   # registry names, e.g. ["filename"], ["blip", "deepdanbooru"]
    caption_separator: str = ", "
    flip: bool = False
    flip_direction: str = "horizontal"        # horizontal | vertical | both
    split: bool = False
    split_threshold: float = 0.5
    split_overlap: float = 0.2
    focal_crop: bool = False
    focal_face_weight: float = 0.9
    focal_entropy_weight: float = 0.15
    focal_edges_weight: float = 0.5
    focal_debug: bool = False
    auto_size: bool = False
    auto_min_size: int = 384
    auto_max_size: int = 768
    auto_min_area: int = 64 * 64
    auto_max_area: int = 640 * 640
    auto_objective: str = "Maximize area"     # Maximize area | Minimize error
    auto_threshold: float = 0.1
    keep_alpha: bool = False                  # keep transparency (alpha as loss weight), else composite
    background: Color = (255, 255, 255)       # what transparent pixels are composited on
    small_images: str = "upscale"             # images that would need enlarging: upscale | skip
    existing: str = "skip"                    # outputs already in the destination: skip | replace
    recursive: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS      # refuse images with more pixels than this
    # -- the WD14 tagger (captioner "wd14"); see preprocess/wd14.py --------------------------------
    captioner_model: str = option(
        "", label="WD14 model folder", group="captions", metavar="DIR",
        help="folder holding the WD14 tagger's model.onnx and selected_tags.csv (e.g. SmilingWolf/wd-vit-tagger-v3 "
             "from Hugging Face); used by the wd14 captioner")
    general_threshold: float = option(
        0.35, label="General tag threshold", group="captions", minimum=0.0, maximum=1.0,
        help="WD14: write general tags whose probability is above this")
    character_threshold: float = option(
        0.85, label="Character tag threshold", group="captions", minimum=0.0, maximum=1.0,
        help="WD14: write character tags whose probability is above this")
    exclude_tags: str = option(
        "", label="Tags to exclude", group="captions", metavar="TAGS",
        help="WD14: comma-separated tags never written, e.g. 'simple background, white background'")
    keep_underscores: bool = option(
        False, label="Keep underscores in tags", group="captions",
        help="WD14: write long_hair instead of long hair (kaomoji such as ^_^ always keep theirs)")
    escape_brackets: bool = option(
        True, label="Escape brackets in tags", group="captions",
        help="WD14: write \\( \\) so tags like 'hood (clothing)' are not read as emphasis in training prompts")

    def validate(self) -> None:
        """Raise InvalidOptionError naming the first bad option and how to fix it."""
        self.source, self.destination = Path(self.source), Path(self.destination)
        _check_folders(self.source, self.destination)
        for name in ("width", "height"):
            _check_side(name, getattr(self, name))
        _one_of("resize_mode", self.resize_mode, RESIZE_MODES)
        if not (isinstance(self.fit_background, str) and self.fit_background.lower() == "edge"):
            _color("fit_background", self.fit_background)
        _color("background", self.background)
        _one_of("caption_action", self.caption_action, CAPTION_ACTIONS)
        if isinstance(self.captioners, str):
            self.captioners = [n.strip() for n in self.captioners.split(",") if n.strip()]
        _one_of("flip_direction", self.flip_direction, FLIP_DIRECTIONS)
        _in_range("split_threshold", self.split_threshold, 0.0, 1.0)
        _in_range("split_overlap", self.split_overlap, 0.0, 0.9)
        for name in ("focal_face_weight", "focal_entropy_weight", "focal_edges_weight"):
            _in_range(name, getattr(self, name), 0.0, 1e6)
        self._validate_auto_size()
        _one_of("small_images", self.small_images, SMALL_IMAGE_ACTIONS)
        _one_of("existing", self.existing, EXISTING_ACTIONS)
        self._validate_tagger()
        if int(self.max_pixels) < 1:
            raise InvalidOptionError(f"max_pixels must be positive, got {self.max_pixels}")

    def _validate_tagger(self) -> None:
        _in_range("general_threshold", self.general_threshold, 0.0, 1.0)
        _in_range("character_threshold", self.character_threshold, 0.0, 1.0)
        if not isinstance(self.exclude_tags, str):
            self.exclude_tags = ", ".join(str(t) for t in self.exclude_tags)
        if any(n.lower() == "wd14" for n in self.captioners):
            from .wd14 import find_model_files
            try:
                find_model_files(self.captioner_model)
            except HypernetError as exc:
                raise InvalidOptionError(str(exc)) from None

    def _validate_auto_size(self) -> None:
        _check_side("auto_min_size", self.auto_min_size)
        _check_side("auto_max_size", self.auto_max_size)
        if self.auto_min_size > self.auto_max_size:
            raise InvalidOptionError(f"auto_min_size {self.auto_min_size} is larger than auto_max_size "
                                     f"{self.auto_max_size}; swap them or lower the minimum")
        if not 0 < self.auto_min_area <= self.auto_max_area:
            raise InvalidOptionError(f"auto area bounds {self.auto_min_area}..{self.auto_max_area} are invalid; "
                                     "use 0 < auto_min_area <= auto_max_area")
        _one_of("auto_objective", self.auto_objective, OBJECTIVES)
        _in_range("auto_threshold", self.auto_threshold, 0.0, 1.0)

    @property
    def operations(self) -> list[str]:
        """The enabled operations, for summaries."""
        names = [("split", self.split), ("focal crop", self.focal_crop), ("auto-sized crop", self.auto_size),
                 ("keep original size", self.keep_original_size), ("flip", self.flip)]
        return [n for n, on in names if on]


def _check_folders(source: Path, destination: Path) -> None:
    if not source.is_dir():
        raise InvalidOptionError(f"source folder {str(source)!r} does not exist or is not a folder; "
                                 "pick the folder that holds your images")
    if destination.exists() and not destination.is_dir():
        raise InvalidOptionError(f"destination {str(destination)!r} is a file; pick a folder")
    src, dst = source.resolve(), destination.resolve()
    if dst == src or src in dst.parents:
        raise InvalidOptionError(f"destination {str(destination)!r} is inside the source folder; "
                                 "pick a destination outside it so sources are never overwritten or re-read")


def _check_side(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_SIDE <= value <= MAX_SIDE \
            or value % SIDE_STEP:
        raise InvalidOptionError(f"{name} must be a multiple of {SIDE_STEP} between {MIN_SIDE} and {MAX_SIDE}, "
                                 f"got {value!r}")


def _one_of(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidOptionError(f"{name} {value!r} is not one of: {', '.join(allowed)}")


def _in_range(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidOptionError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}")


def _color(name: str, value: Color) -> None:
    try:
        parse_color(value)
    except ValueError as exc:
        raise InvalidOptionError(f"{name}: {exc}") from None
