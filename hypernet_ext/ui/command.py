"""`python -m hypernet_ext ui`: serve the standalone UI on 127.0.0.1."""
from __future__ import annotations

import argparse

from ..errors import InvalidOptionError
from ..model_arguments import add_model_options, text_conditioning_from_args

DEFAULT_PORT = 7861


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny-shapes",
                        help="'tiny-shapes' (built-in model that draws coloured shapes, default), 'tiny' (random "
                             "toy weights), 'tiny-sdxl' (random SDXL-architecture toy) or an SD1/SD2/SDXL checkpoint")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default %(default)s)")
    parser.add_argument("--hypernetwork-dir", default="hypernetworks", metavar="DIR",
                        help="folder of hypernetwork files (created if missing; default %(default)s)")
    parser.add_argument("--log-dir", default="training-runs", metavar="DIR",
                        help="folder for training runs: checkpoints, previews, loss logs (default %(default)s)")
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    if not 0 < int(args.port) < 65536:
        raise InvalidOptionError(f"--port {args.port} is not a port number; use 1-65535, e.g. {DEFAULT_PORT}.")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise InvalidOptionError("The UI needs gradio 3.41: pip install -r requirements-standalone.txt") from None
    from .app import StandaloneSettings, serve
    text = text_conditioning_from_args(args)
    print(f"Loading model {args.model} ...")
    serve(StandaloneSettings(model=args.model, hypernetwork_dir=args.hypernetwork_dir, log_dir=args.log_dir,
                             device=args.device, prediction=args.prediction, text_conditioning=text), port=args.port)
    return 0
