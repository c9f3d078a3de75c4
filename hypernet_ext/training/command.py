"""`python -m hypernet_ext train ...`: arguments, options from arguments, and the run.

Exit codes: 0 trained (or the schedule ended), 1 failure or divergence (message on stderr),
2 bad arguments, 130 interrupted with Ctrl-C (a checkpoint was saved first).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from ..cli_wording import cli_message
from ..errors import InvalidOptionError
from ..names import run_name
from ..model_arguments import MODEL_HELP, add_model_options, default_image_side, load_host_from_args
from ..option_cli import add_option_flags, defaults_with, given_values
from ..option_spec import parse_keyword_text
from ..progress import terminal_progress
from .data_options import DataOptions
from .options import PreviewOptions, TrainingOptions
from .stop_reason import StopReason
from .run_folder import CHECKPOINT_FOLDER, SETTINGS_GLOB, latest_settings, new_run_dir, saved_option_values

EXIT_INTERRUPTED = 130


class UsageError(InvalidOptionError):
    """A command-line value that cannot be parsed (exit 2)."""


GROUP_TITLES = {"run": "training", "optimization": "optimization", "data": "data", "outputs": "outputs",
                "preview": "preview images"}
OPTION_CLASSES = (TrainingOptions, DataOptions, PreviewOptions)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run's inputs, then one generated flag per declared training, data and preview option."""
    req = parser.add_argument_group("inputs")
    req.add_argument("--model", required=True, help=MODEL_HELP)
    req.add_argument("--hypernetwork", metavar="FILE", help="hypernetwork to train (.pt/.safetensors)")
    req.add_argument("--data", metavar="DIR", help="folder of training images (+ .txt captions); when resuming, "
                     "default: the run's")
    req.add_argument("--log-dir", metavar="DIR", help="root of the training runs: each new run writes checkpoints, "
                     "previews, loss.csv/png and settings to DIR/<name>/<start time>")
    req.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                     help="continue exactly from CHECKPOINT (or --hypernetwork FILE) and its .optim sidecar, in its "
                     "run folder, with the run's saved options unless flags here change them")
    shorthands = parser.add_argument_group("shorthands")
    shorthands.add_argument("--size", metavar="WxH", help="training size, sets --width and --height (default "
                            "512x512; 1024x1024 suits SDXL; 64x64 for the tiny models)")
    shorthands.add_argument("--clip", metavar="norm:V|value:V", help="gradient clipping, sets --grad-clip and "
                            "--grad-clip-value; V may be a schedule")
    for cls in OPTION_CLASSES:
        add_option_flags(parser, cls, GROUP_TITLES)
    add_model_options(parser)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
        return w, h
    except ValueError:
        raise UsageError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 512x512.") from None


def parse_clip(text: str) -> tuple[str, str]:
    mode, _, value = text.partition(":")
    if mode not in ("norm", "value") or not value.strip():
        raise UsageError(f"--clip {text!r} must be 'norm:V' or 'value:V', e.g. norm:1.0 or value:0.1.")
    return mode, value


def parse_optimizer_args(items: list[str]) -> dict:
    """['weight_decay=0.0', 'betas=(0.9,0.99)'] -> keyword arguments (values as Python literals when they parse)."""
    return parse_keyword_text("; ".join(items), "--optimizer-arg")


def given_options(args: argparse.Namespace) -> dict:
    """Every option typed on the command line (shorthands expanded), by option name."""
    given: dict = {}
    for cls in OPTION_CLASSES:
        given.update(given_values(args, cls))
    if getattr(args, "size", None):
        given["width"], given["height"] = parse_size(args.size)
    if getattr(args, "clip", None):
        given["grad_clip"], given["grad_clip_value"] = parse_clip(args.clip)
    return given


def model_defaults(model: str) -> dict:
    """Defaults that depend on the model: the embedded toy models train at 64x64."""
    side = default_image_side(model)
    return {"width": side, "height": side} if side != 512 else {}


def options_from_args(args: argparse.Namespace, hypernetwork_name: str = "") -> TrainingOptions:
    """TrainingOptions from the flags given, else a resumed run's saved options, else the defaults.

    A new run gets a folder of its own under --log-dir, named after the file (names.py); a resumed
    one continues in its run folder, under the run's name.
    """
    hypernetwork = args.resume if isinstance(args.resume, str) else args.hypernetwork
    if not hypernetwork:
        raise UsageError("Give --hypernetwork FILE (or --resume CHECKPOINT).")
    run, saved, saved_data = _resumed_run(hypernetwork) if args.resume else (None, {}, {})
    hypernetwork_name = run_name(hypernetwork, hypernetwork_name or saved_data.get("name", ""))
    data_dir = args.data or saved_data.get("data_dir")
    if not data_dir:
        raise UsageError("Give --data DIR, the folder of training images.")
    if run is None and not args.log_dir:
        raise UsageError("Give --log-dir DIR, the folder that holds the training runs.")
    layers = (model_defaults(args.model), saved, given_options(args))
    data = DataOptions(data_dir, hypernetwork_name, **defaults_with(DataOptions, *layers))
    preview = PreviewOptions(**defaults_with(PreviewOptions, *layers))
    log_dir = run if run is not None else new_run_dir(args.log_dir, hypernetwork_name)
    return TrainingOptions(hypernetwork=hypernetwork, log_dir=str(log_dir), data=data, resume=bool(args.resume),
                           preview=preview.params(data.width, data.height, data.seed),
                           **defaults_with(TrainingOptions, *layers))


def _resumed_run(checkpoint: str) -> tuple[Optional[Path], dict, dict]:
    """(run folder, saved option values, saved data inputs) of a checkpoint; (None, {}, {}) outside a run."""
    path = Path(checkpoint).expanduser()
    if path.parent.name != CHECKPOINT_FOLDER or not any(path.parent.parent.glob(SETTINGS_GLOB)):
        return None, {}, {}
    settings = latest_settings(path.parent.parent)
    return path.parent.parent, saved_option_values(settings), (settings.get("options") or {}).get("data") or {}


def run(args: argparse.Namespace) -> int:
    """Validate, load the model, train. Raises InvalidOptionError (exit 2) / HypernetError (exit 1)."""
    options = options_from_args(args).validate()
    print(f"Loading model {args.model} ...", file=sys.stderr)
    from .distributed import init_process_group, launched_ranks, train_distributed
    from .low_vram import UNET_WEIGHT_DTYPES
    ranks = launched_ranks()  # torchrun --nproc_per_node N: data-parallel ranks
    if ranks is not None:
        args.device = init_process_group(ranks, args.device)
    host = load_host_from_args(args, dtype=UNET_WEIGHT_DTYPES[options.unet_weights])
    progress = terminal_progress(options.steps, "Training") if ranks is None or ranks.is_main else None
    result = train_distributed(host, options, progress, ranks)
    stopped = StopReason(result.stopped)
    print(cli_message(result.message), file=sys.stdout if stopped.succeeded else sys.stderr)
    if stopped is StopReason.INTERRUPTED:
        return EXIT_INTERRUPTED
    return 1 if stopped is StopReason.DIVERGED else 0

