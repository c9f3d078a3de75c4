"""Every preprocessing option, with defaults from the webui and validation with fix-it messages."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

from ..errors import InvalidOptionError
from ..images import DEFAULT_MAX_PIXELS, RESIZE_MODES, parse_color
from ..option_spec import option
from .autosize import OBJECTIVES
from .captioners import CAPTION_ACTIONS, REGISTRY

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
    width: int = option(512, help="output width in pixels", label="Output width", group="size",
                        minimum=MIN_SIDE, maximum=MAX_SIDE, step=SIDE_STEP)
    height: int = option(512, help="output height in pixels", label="Output height", group="size",
                         minimum=MIN_SIDE, maximum=MAX_SIDE, step=SIDE_STEP)
    resize_mode: str = option("crop", help="crop to fill, fit with padding, or stretch", label="Resize mode",
                              group="size", choices=RESIZE_MODES)
    fit_background: Color = option("edge", help="padding for resize mode fit: 'edge' (repeat the border pixels) "
                                   "or a colour such as white or '#202020'",
                                   label="Padding for fit ('edge' or a colour)", group="size", metavar="COLOUR")
    small_images: str = option("upscale", help="images smaller than the output: upscale or skip",
                               label="Images smaller than the output", group="size", choices=SMALL_IMAGE_ACTIONS)
    keep_original_size: bool = option(False, help="save images unresized when no other operation applies",
                                      label="Keep original size", group="size")
    captioners: list[str] = option(help="caption with these captioners (on the CLI one per flag), e.g. filename, "
                                   "blip, deepdanbooru", flag="--captioner", label="Captioners", group="captions",
                                   default_factory=list, metavar="NAME", suggest=lambda: REGISTRY.names())
    caption_action: str = option("ignore", help="an existing caption file <image>.txt: ignore, copy, prepend or "
                                 "append it", label="Existing caption file", group="captions",
                                 choices=CAPTION_ACTIONS)
    caption_separator: str = option(", ", help="text between the parts of a caption", label="Caption separator",
                                    group="captions", metavar="TEXT")
    flip: bool = option(False, help="also save flipped copies", label="Create flipped copies", group="flip")
    flip_direction: str = option("horizontal", help="direction of the flipped copies", label="Flip direction",
                                 group="flip", choices=FLIP_DIRECTIONS)
    split: bool = option(False, help="split oversized images into overlapping tiles",
                         label="Split oversized images", group="split")
    split_threshold: float = option(0.5, help="how much larger than the output an image must be to be split",
                                    label="Split image threshold", group="split", minimum=0.0, maximum=1.0,
                                    step=0.05)
    split_overlap: float = option(0.2, help="overlap of neighbouring tiles", label="Split image overlap ratio",
                                  group="split", minimum=0.0, maximum=0.9, step=0.05)
    focal_crop: bool = option(False, help="crop around the focal point (faces, detail, edges)",
                              label="Auto focal point crop", group="focal")
    focal_face_weight: float = option(0.9, help="weight of faces when finding the focal point",
                                      label="Focal point face weight", group="focal", minimum=0.0, maximum=1.0,
                                      step=0.05)
    focal_entropy_weight: float = option(0.15, help="weight of detail (entropy) when finding the focal point",
                                         label="Focal point entropy weight", group="focal", minimum=0.0,
                                         maximum=1.0, step=0.05)
    focal_edges_weight: float = option(0.5, help="weight of edges when finding the focal point",
                                       label="Focal point edges weight", group="focal", minimum=0.0, maximum=1.0,
                                       step=0.05)
    focal_debug: bool = option(False, help="save debug images in <destination>/focal-debug",
                               label="Create debug image", group="focal")
    auto_size: bool = option(False, help="crop each image at the size that best fits the limits below",
                             label="Auto-sized crop", group="auto_size")
    auto_min_size: int = option(384, help="smallest side of an auto-sized crop", label="Minimum dimension",
                                group="auto_size", minimum=MIN_SIDE, maximum=MAX_SIDE, step=SIDE_STEP)
    auto_max_size: int = option(768, help="largest side of an auto-sized crop", label="Maximum dimension",
                                group="auto_size", minimum=MIN_SIDE, maximum=MAX_SIDE, step=SIDE_STEP)
    auto_min_area: int = option(64 * 64, help="smallest area of an auto-sized crop, in pixels",
                                label="Minimum area", group="auto_size", minimum=1)
    auto_max_area: int = option(640 * 640, help="largest area of an auto-sized crop, in pixels",
                                label="Maximum area", group="auto_size", minimum=1)
    auto_objective: str = option("Maximize area", help="what the auto-sized crop optimises",
                                 label="Resizing objective", group="auto_size", choices=OBJECTIVES)
    auto_threshold: float = option(0.1, help="largest aspect-ratio error accepted by the auto-sized crop",
                                   label="Error threshold", group="auto_size", minimum=0.0, maximum=1.0, step=0.01)
    keep_alpha: bool = option(False, help="keep transparency (used as loss weight), else composite it",
                              label="Keep transparency", group="input")
    background: Color = option("white", help="colour transparent pixels are composited on: a name, '#rrggbb' or "
                               "'r,g,b'", label="Background for transparent pixels", group="input",
                               metavar="COLOUR")
    existing: str = option("skip", help="outputs already in the destination: skip or replace",
                           label="Outputs that already exist", group="input", choices=EXISTING_ACTIONS)
    recursive: bool = option(False, help="include images in sub-folders of the source",
                             label="Include sub-folders", group="input")
    max_pixels: int = option(DEFAULT_MAX_PIXELS, help="refuse images with more pixels than this",
                             label="Largest image (pixels)", group="input", minimum=1)

    def validate(self) -> None:
        """Raise InvalidOptionError naming the first bad option and how to fix it."""
        self.source, self.destination = Path(self.source), Path(self.destination)
        _check_folders(self.source, self.destination)
        for name in ("width", "height"):
            _check_side(name, getattr(self, name))
        _one_of("resize_mode", self.resize_mode, RESIZE_MODES)
        if not (isinstance(self.fit_background, str) and self.fit_background.lower() == "edge"):
            _color("fit_background", self.fit_background)
        if isinstance(self.background, str) and "," in self.background:
            self.background = tuple(part.strip() for part in self.background.split(","))
            self.background = tuple(int(p) if p.isdigit() else p for p in self.background)
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
        if int(self.max_pixels) < 1:
            raise InvalidOptionError(f"max_pixels must be positive, got {self.max_pixels}")

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
