"""`python -m hypernet_ext preprocess SRC DST [options]`: arguments and entry point."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from ..errors import HypernetError
from ..progress import terminal_progress
from .autosize import OBJECTIVES
from .captioners import CAPTION_ACTIONS, REGISTRY
from .options import EXISTING_ACTIONS, FLIP_DIRECTIONS, SMALL_IMAGE_ACTIONS, PreprocessOptions
from .pipeline import preprocess
from .resize import RESIZE_MODES

_DEFAULTS = {f.name: f.default for f in fields(PreprocessOptions) if f.name not in ("source", "destination")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """SRC and DST, then one flag per PreprocessOptions field."""
    d = _DEFAULTS
    parser.add_argument("source", metavar="SRC", help="folder of raw images")
    parser.add_argument("destination", metavar="DST", help="output folder (created; must not be inside SRC)")
    size = parser.add_argument_group("size")
    size.add_argument("--width", type=int, default=d["width"], help="output width (default %(default)s)")
    size.add_argument("--height", type=int, default=d["height"], help="output height (default %(default)s)")
    size.add_argument("--resize-mode", choices=RESIZE_MODES, default=d["resize_mode"],
                      help="crop to fill, fit with padding, or stretch (default %(default)s)")
    size.add_argument("--fit-background", default=d["fit_background"],
                      help="padding for --resize-mode fit: 'edge' or a colour such as white or '#202020'")
    size.add_argument("--keep-original-size", action="store_true", help="save images unresized")
    size.add_argument("--small-images", choices=SMALL_IMAGE_ACTIONS, default=d["small_images"],
                      help="images smaller than the output: upscale or skip (default %(default)s)")
    size.add_argument("--max-pixels", type=int, default=d["max_pixels"],
                      help="refuse images with more pixels than this (default %(default)s)")
    cap = parser.add_argument_group("captions")
    cap.add_argument("--caption-action", choices=CAPTION_ACTIONS, default=d["caption_action"],
                     help="existing SRC/<name>.txt: ignore, copy, prepend or append (default %(default)s)")
    cap.add_argument("--captioner", dest="captioners", action="append", default=[],
                     help=f"caption with this captioner (repeatable); here: {', '.join(REGISTRY.names())}")
    cap.add_argument("--caption-separator", default=d["caption_separator"])
    _add_tagger_arguments(parser, d)
    ops = parser.add_argument_group("operations")
    ops.add_argument("--flip", action="store_true", help="also save flipped copies")
    ops.add_argument("--flip-direction", choices=FLIP_DIRECTIONS, default=d["flip_direction"])
    ops.add_argument("--split", action="store_true", help="split oversized images into overlapping tiles")
    ops.add_argument("--split-threshold", type=float, default=d["split_threshold"])
    ops.add_argument("--split-overlap", type=float, default=d["split_overlap"])
    ops.add_argument("--focal-crop", action="store_true", help="crop around the focal point")
    ops.add_argument("--focal-face-weight", type=float, default=d["focal_face_weight"])
    ops.add_argument("--focal-entropy-weight", type=float, default=d["focal_entropy_weight"])
    ops.add_argument("--focal-edges-weight", type=float, default=d["focal_edges_weight"])
    ops.add_argument("--focal-debug", action="store_true", help="save debug images in DST/focal-debug")
    ops.add_argument("--auto-size", action="store_true", help="auto-sized crop")
    ops.add_argument("--auto-min-size", type=int, default=d["auto_min_size"])
    ops.add_argument("--auto-max-size", type=int, default=d["auto_max_size"])
    ops.add_argument("--auto-min-area", type=int, default=d["auto_min_area"])
    ops.add_argument("--auto-max-area", type=int, default=d["auto_max_area"])
    ops.add_argument("--auto-objective", choices=OBJECTIVES, default=d["auto_objective"])
    ops.add_argument("--auto-threshold", type=float, default=d["auto_threshold"])
    inp = parser.add_argument_group("input")
    inp.add_argument("--keep-alpha", action="store_true", help="keep transparency (alpha as loss weight)")
    inp.add_argument("--background", default="white", help="colour transparent pixels are composited on")
    inp.add_argument("--existing", choices=EXISTING_ACTIONS, default=d["existing"],
                     help="outputs already in DST: skip or replace (default %(default)s)")
    inp.add_argument("--recursive", action="store_true", help="include images in sub-folders of SRC")


# -- WD14 tagger flags, wired by hand until the CLI is generated from PreprocessOptions ---------------
def _add_tagger_arguments(parser: argparse.ArgumentParser, d: dict) -> None:
    tag = parser.add_argument_group("WD14 tagger (--captioner wd14)")
    tag.add_argument("--captioner-model", default=d["captioner_model"], metavar="DIR",
                     help="folder with the tagger's model.onnx and selected_tags.csv (e.g. SmilingWolf/"
                          "wd-vit-tagger-v3 from Hugging Face); nothing is downloaded")
    tag.add_argument("--general-threshold", type=float, default=d["general_threshold"], metavar="P",
                     help="write general tags above this probability (default %(default)s)")
    tag.add_argument("--character-threshold", type=float, default=d["character_threshold"], metavar="P",
                     help="write character tags above this probability (default %(default)s)")
    tag.add_argument("--exclude-tags", default=d["exclude_tags"], metavar="TAGS",
                     help="comma-separated tags never written, e.g. 'simple background, white background'")
    tag.add_argument("--keep-underscores", action="store_true", help="write long_hair instead of long hair")
    tag.add_argument("--no-escape-brackets", dest="escape_brackets", action="store_false",
                     help="write tag brackets as they are (training reads them as emphasis)")
# -- end of hand-wired WD14 tagger flags -------------------------------------------------------------


def options_from_args(args: argparse.Namespace) -> PreprocessOptions:
    names = [f.name for f in fields(PreprocessOptions)]
    return PreprocessOptions(**{n: getattr(args, n) for n in names if hasattr(args, n)})


def run(args: argparse.Namespace) -> int:
    """Run preprocessing from parsed arguments; 0 on success, 1 with a message on failure."""
    progress = terminal_progress(0, "Preprocess")
    try:
        report = preprocess(options_from_args(args), progress)
    except HypernetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hypernet_ext preprocess",
                                     description="Turn a folder of raw images into a training set.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
