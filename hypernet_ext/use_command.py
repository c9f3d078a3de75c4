"""`python -m hypernet_ext runs` (list runs and their checkpoints) and `use` (copy one into a hypernetworks folder).

Training writes checkpoints into run folders, which prompt tags do not search; `use` copies a chosen
checkpoint into the hypernetworks folder so `<hypernet:NAME:1>` loads it (run_checkpoints.py).
"""
from __future__ import annotations

import argparse
from itertools import groupby
from pathlib import Path

from .errors import InvalidOptionError
from .run_checkpoints import find_run_checkpoint, run_checkpoints, use_checkpoint

DEFAULT_LOG_DIR = "training-runs"  # the `ui` command's defaults, so the two agree out of the box
DEFAULT_HYPERNETWORK_DIR = "hypernetworks"


def _log_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", default=DEFAULT_LOG_DIR, metavar="DIR",
                        help="root folder of the training runs (train's --log-dir; default %(default)s)")


def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    _log_dir_argument(parser)


def run_runs(args: argparse.Namespace) -> int:
    """Print every run under --log-dir, newest first, with each checkpoint's step, loss and path."""
    root = Path(args.log_dir).expanduser()
    if not root.is_dir():
        raise InvalidOptionError(f"--log-dir {args.log_dir}: no such folder; give the folder train wrote its runs "
                                 f"into (train's --log-dir).")
    found = run_checkpoints(root)
    if not found:
        print(f"No training runs with checkpoints in {root}.")
        return 0
    for run_name, checkpoints in groupby(found, key=lambda c: c.run_name):
        print(run_name)
        for c in checkpoints:
            loss = f"loss {c.checkpoint.loss:.4f}" if c.checkpoint.loss is not None else "loss ?"
            print(f"  step {c.step:>7}  {loss}{'  (best validation loss)' if c.checkpoint.best else ''}  {c.path}")
    print("Use one with: python -m hypernet_ext use CHECKPOINT --name NAME [--dir HYPERNETWORK_DIR]")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a checkpoint file listed by `runs`, or a run with --step: its folder, <name>/<start "
                             "time> under --log-dir, or <name> for its newest run")
    parser.add_argument("--step", type=int, help="with a run: the checkpoint at this step (default: the newest)")
    parser.add_argument("--name", help="tag name of the copy: <hypernet:NAME:1> (default: the checkpoint's file "
                                       "name, e.g. style-500)")
    parser.add_argument("--dir", default=DEFAULT_HYPERNETWORK_DIR, metavar="DIR",
                        help="hypernetworks folder to copy into (default %(default)s)")
    _log_dir_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace a hypernetwork of that name in --dir")


def run(args: argparse.Namespace) -> int:
    """Copy the checkpoint (the run's file stays as it is) and print the tag to use."""
    chosen = find_run_checkpoint(args.checkpoint, args.step, args.log_dir)
    name = args.name if args.name is not None else chosen.suggested_name()
    used = use_checkpoint(chosen.path, name, args.dir, overwrite=args.overwrite, overwrite_hint="pass --overwrite")
    print(used.describe())
    return 0
