"""Command-line options shared by every command that loads a standalone model (train, generate, ui)."""
from __future__ import annotations

import argparse


def add_model_options(parser) -> None:
    """`--device` and `--prediction` (the caller adds `--model`, required or defaulted)."""
    parser.add_argument("--device", default="cpu", help="torch device for the model, e.g. cuda (default cpu)")
    parser.add_argument("--prediction", choices=("eps", "v"), default=None,
                        help="override the checkpoint's parameterisation (default: detected; SD2 768-v is 'v')")


EMBEDDED_MODELS = ("tiny", "tiny-sdxl")
MODEL_HELP = "'tiny' or 'tiny-sdxl' (built-in toy models) or an SD1/SD2/SDXL checkpoint file"


def default_image_side(model: str, host=None) -> int:
    """Default image side: 64 for the embedded toy models, 1024 for SDXL (when the host is known), else 512."""
    if str(model) in EMBEDDED_MODELS:
        return 64
    from .widths import host_family
    return 1024 if host is not None and host_family(host) == "sdxl" else 512


def load_host_from_args(args: argparse.Namespace):
    """The StandaloneHost named by `args.model` with the shared options."""
    from .standalone import load_host
    return load_host(args.model, device=args.device, prediction=getattr(args, "prediction", None))
