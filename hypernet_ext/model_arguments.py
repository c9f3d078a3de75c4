"""Command-line options shared by every command that loads a standalone model (train, generate, ui)."""
from __future__ import annotations

import argparse


def add_model_options(parser) -> None:
    """`--device` and `--prediction` (the caller adds `--model`, required or defaulted)."""
    parser.add_argument("--device", default="cpu", help="torch device for the model, e.g. cuda (default cpu)")
    parser.add_argument("--prediction", choices=("eps", "v"), default=None,
                        help="override the checkpoint's parameterisation (default: detected; SD2 768-v is 'v')")


def load_host_from_args(args: argparse.Namespace, dtype=None):
    """The StandaloneHost named by `args.model` with the shared options (`dtype`: UNet weights, default fp32)."""
    import torch

    from .standalone import load_host
    return load_host(args.model, device=args.device, prediction=getattr(args, "prediction", None),
                     dtype=dtype or torch.float32)
