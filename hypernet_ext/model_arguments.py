"""Command-line options shared by every command that loads a standalone model (train, generate, ui)."""
from __future__ import annotations

import argparse

# Models built into the package, by name: `tiny` has seeded random weights (fast, for tests that need
# only the shapes of SD1 tensors); `tiny-shapes` is trained to draw captioned coloured shapes
# (hypernet_ext/standalone/tiny_shapes.py). Both work at 64x64 pixels.
EMBEDDED_MODELS = ("tiny", "tiny-shapes", "tiny-sdxl")


def is_embedded_model(model) -> bool:
    """Whether `--model` names a built-in model rather than a checkpoint file (their default size is 64x64)."""
    return str(model) in EMBEDDED_MODELS


def add_model_options(parser) -> None:
    """`--device`, `--prediction` and the text conditioning flags (the caller adds `--model`)."""
    parser.add_argument("--device", default="cpu", help="torch device for the model, e.g. cuda (default cpu)")
    parser.add_argument("--prediction", choices=("eps", "v"), default=None,
                        help="override the checkpoint's parameterisation (default: detected; SD2 768-v is 'v')")
    add_text_conditioning_options(parser)


MODEL_HELP = ("'tiny-shapes' (built-in, draws coloured shapes), 'tiny' (random toy), 'tiny-sdxl' (random SDXL "
              "toy) or an SD1/SD2/SDXL checkpoint file")


def default_image_side(model: str, host=None) -> int:
    """Default image side: 64 for the embedded toy models, 1024 for SDXL (when the host is known), else 512."""
    if str(model) in EMBEDDED_MODELS:
        return 64
    from .widths import host_family
    return 1024 if host is not None and host_family(host) == "sdxl" else 512


# -- text conditioning flags, wired by hand until the CLI is generated from TextConditioningOptions --
def add_text_conditioning_options(parser) -> None:
    """`--clip-skip`, `--emphasis`, `--comma-backtrack` (see `standalone.text_options`)."""
    parser.add_argument("--clip-skip", type=int, default=None, metavar="N",
                        help="use the text encoder's output N layers from the end, like the webui's Clip skip "
                             "(default: the model's own; 2 is usual for anime checkpoints)")
    parser.add_argument("--emphasis", choices=("Original", "No norm", "Ignore", "None"), default="Original",
                        help="how (word:1.2) weights apply, like the webui's Emphasis mode (default %(default)s)")
    parser.add_argument("--comma-backtrack", type=int, default=20, metavar="N",
                        help="prompt word wrap length limit in tokens, like the webui's (default %(default)s)")


def text_conditioning_from_args(args: argparse.Namespace):
    """The TextConditioningOptions given by the flags above, validated with the flags' names."""
    from .errors import InvalidOptionError
    from .standalone.text_options import MAX_CLIP_SKIP, TextConditioningOptions
    clip_skip = getattr(args, "clip_skip", None)
    if clip_skip is not None and not 1 <= clip_skip <= MAX_CLIP_SKIP:
        raise InvalidOptionError(f"--clip-skip {clip_skip} is out of range; use 1 to {MAX_CLIP_SKIP} "
                                 "(1 = last layer, 2 = penultimate)")
    backtrack = getattr(args, "comma_backtrack", 20)
    if not 0 <= backtrack <= 74:
        raise InvalidOptionError(f"--comma-backtrack {backtrack} is out of range; use 0 to 74 (default 20)")
    return TextConditioningOptions(clip_skip=clip_skip, emphasis=getattr(args, "emphasis", "Original"),
                                   comma_backtrack=backtrack).validate()
# -- end of hand-wired text conditioning flags -----------------------------------------------------


def load_host_from_args(args: argparse.Namespace, dtype=None):
    """The StandaloneHost named by `args.model` with the shared options (`dtype`: UNet weights, default fp32)."""
    import torch

    from .standalone import load_host
    return load_host(args.model, device=args.device, prediction=getattr(args, "prediction", None),
                     dtype=dtype or torch.float32, **text_conditioning_from_args(args).load_host_arguments())
