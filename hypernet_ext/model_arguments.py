"""Command-line options shared by every command that loads a standalone model (train, generate, ui)."""
from __future__ import annotations

import argparse

# Models built into the package, by name: `tiny` has seeded random weights (fast, for tests that need
# only the shapes of SD1 tensors); `tiny-shapes` is trained to draw captioned coloured shapes
# (hypernet_ext/standalone/tiny_shapes.py). Both work at 64x64 pixels.
EMBEDDED_MODELS = ("tiny", "tiny-shapes")


def is_embedded_model(model) -> bool:
    """Whether `--model` names a built-in model rather than a checkpoint file (their default size is 64x64)."""
    return str(model) in EMBEDDED_MODELS


def add_model_options(parser) -> None:
    """`--device` and `--prediction` (the caller adds `--model`, required or defaulted)."""
    parser.add_argument("--device", default="cpu", help="torch device for the model, e.g. cuda (default cpu)")
    parser.add_argument("--prediction", choices=("eps", "v"), default=None,
                        help="override the checkpoint's parameterisation (default: detected; SD2 768-v is 'v')")


def load_host_from_args(args: argparse.Namespace):
    """The StandaloneHost named by `args.model` with the shared options."""
    from .standalone import load_host
    return load_host(args.model, device=args.device, prediction=getattr(args, "prediction", None))
