"""`python -m hypernet_ext <command> ...`: create, train, generate, runs, use, info, preprocess.

Subcommands live in `SUBCOMMANDS`, a table of name -> (help, module path or local functions);
each module provides `add_arguments(parser)` and `run(args) -> int`, so adding one (e.g. `ui`)
is one table row. Exit codes: 0 success, 1 failure (message, no traceback), 2 bad arguments,
130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from .atomic_files import atomic_write_bytes
from .cli_wording import cli_message
from .config import parse_number_list
from .create_options import CreateOptions, create_file
from .errors import HypernetError, InvalidOptionError
from .image_output import encode_image, output_format
from .library import HypernetworkLibrary
from .model_arguments import MODEL_HELP, add_model_options, default_image_side, load_host_from_args
from .option_cli import add_option_flags, defaults_with, given_values
from .storage import convert_hypernetwork, load_hypernetwork, read_header
from .tagged_generation import generate_with_tags, generation_infotext
from .training.command import parse_size
from . import use_command

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True)
class Subcommand:
    """`module` names a module with add_arguments/run; or give the two functions directly."""

    help: str
    module: str = ""
    add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None
    run: Optional[Callable[[argparse.Namespace], int]] = None

    def load(self) -> tuple[Callable, Callable]:
        if self.module:
            module = importlib.import_module(self.module)
            return module.add_arguments, module.run
        return self.add_arguments, self.run


# -- create ------------------------------------------------------------------------------------
def _create_arguments(parser: argparse.ArgumentParser) -> None:
    """NAME, --dir and --sizes, then one generated flag per declared creation option."""
    parser.add_argument("name", help="hypernetwork name (also the file name)")
    parser.add_argument("--dir", required=True, help="folder to write NAME.pt (or .safetensors) into")
    parser.add_argument("--sizes", default="768,320,640,1280", help="attention widths (default: %(default)s)")
    add_option_flags(parser, CreateOptions, {"": "hypernetwork options"})


def _create_run(args: argparse.Namespace) -> int:
    options = CreateOptions(args.name, parse_number_list(args.sizes, "--sizes"), str(args.dir),
                            **defaults_with(CreateOptions, given_values(args, CreateOptions)))
    path = create_file(options, overwrite_hint="pass --overwrite")
    print(f"Created {path}: {load_hypernetwork(path).describe()}")
    return EXIT_OK


# -- convert -----------------------------------------------------------------------------------
def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="hypernetwork file to read (.pt or .safetensors)")
    parser.add_argument("dst", help="file to write; the format follows its suffix")
    parser.add_argument("--overwrite", action="store_true", help="replace DST if it exists")


def _convert_run(args: argparse.Namespace) -> int:
    path = convert_hypernetwork(args.src, args.dst, overwrite=args.overwrite)
    print(f"Wrote {path}")
    return EXIT_OK


# -- info --------------------------------------------------------------------------------------
def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="hypernetwork file (.pt or .safetensors)")
    parser.add_argument("--json", action="store_true", help="print the header as JSON")


def _info_run(args: argparse.Namespace) -> int:
    header = read_header(args.file)
    if args.json:
        print(json.dumps(header, indent=2, sort_keys=True, default=str))
        return EXIT_OK
    for key, value in header.items():
        if key == "metadata" and isinstance(value, dict):
            value = json.dumps(value, sort_keys=True, default=str)
        print(f"{key:>20}: {value}")
    return EXIT_OK


# -- generate ----------------------------------------------------------------------------------
def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--hypernetwork-dir", action="append", required=True, metavar="DIR",
                        help="folder of hypernetworks named by <hypernet:NAME:WEIGHT> tags; repeatable")
    parser.add_argument("--prompt", required=True, help='e.g. "a castle <hypernet:anime:0.8>"')
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="image to write: .png, .jpg/.jpeg or .webp (the infotext is embedded)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg-scale", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", metavar="WxH", help="default 512x512 (1024x1024 for SDXL, 64x64 for tiny models)")
    add_model_options(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def _generate_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = output_format(out, "--out")
    if out.exists() and not args.overwrite:
        raise InvalidOptionError(f"{out} already exists; pass --overwrite or choose another --out.")
    size = parse_size(args.size) if args.size else None
    library = HypernetworkLibrary(args.hypernetwork_dir)
    host = load_host_from_args(args)
    width, height = size or (default_image_side(args.model, host),) * 2
    check_image_size(width, height, getattr(host, "size_multiple", 8))
    result = generate_with_tags(host, library, args.prompt, args.negative_prompt, steps=args.steps,
                                cfg_scale=args.cfg_scale, seed=args.seed, width=width, height=height)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    infotext = generation_infotext(host, args.prompt, args.negative_prompt, result, steps=args.steps,
                                   cfg_scale=args.cfg_scale, seed=args.seed, width=width, height=height)
    atomic_write_bytes(out, encode_image(result.image, fmt, infotext))
    print(f"Wrote {out} (hypernetworks: {result.applied_text()})")
    return EXIT_OK


def check_image_size(width: int, height: int, multiple: int, flag: str = "--size") -> None:
    """Refuse sides the model cannot draw exactly, naming the nearest sizes that work."""
    bad = [side for side in (width, height) if side < multiple or side % multiple]
    if not bad:
        return

    def near(side: int) -> tuple[int, int]:
        below = max(multiple, side // multiple * multiple)
        return below, below + multiple if below < side else below

    (w0, w1), (h0, h1) = near(width), near(height)
    options = sorted({f"{w}x{h}" for w in (w0, w1) for h in (h0, h1)})
    raise InvalidOptionError(f"{flag} {width}x{height}: this model draws sides that are multiples of {multiple} "
                             f"pixels; use {' or '.join(options)}.")


SUBCOMMANDS: dict[str, Subcommand] = {
    "create": Subcommand("create a new hypernetwork file", add_arguments=_create_arguments, run=_create_run),
    "train": Subcommand("train a hypernetwork", module="hypernet_ext.training.command"),
    "generate": Subcommand("render an image with <hypernet:NAME:WEIGHT> prompt tags", add_arguments=_generate_arguments,
                           run=_generate_run),
    "runs": Subcommand("list training runs and their checkpoints", add_arguments=use_command.add_runs_arguments,
                       run=use_command.run_runs),
    "use": Subcommand("copy a run's checkpoint into the hypernetworks folder, to use it with <hypernet:NAME:1>",
                      add_arguments=use_command.add_arguments, run=use_command.run),
    "info": Subcommand("describe a hypernetwork file", add_arguments=_info_arguments, run=_info_run),
    "convert": Subcommand("convert between .pt (webui format) and .safetensors", add_arguments=_convert_arguments,
                          run=_convert_run),
    "mix": Subcommand("mix hypernetworks: a weighted average (same structure) or a .hns chain",
                      module="hypernet_ext.mix"),
    "compare": Subcommand("comparison grid: one column per hypernetwork, one row per seed",
                          module="hypernet_ext.compare"),
    "preprocess": Subcommand("prepare a folder of images for training", module="hypernet_ext.preprocess.command"),
    "demo": Subcommand("run every step on a built-in model (default tiny-shapes; also tiny-sdxl): sample images -> "
                       "preprocess -> create -> train -> resume -> before/after grid", module="hypernet_ext.demo"),
    "ui": Subcommand("serve the web UI (create, preprocess, train, resume, generate) "
                     "on 127.0.0.1; --listen/--share open it to others",
                     module="hypernet_ext.ui.command"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hypernet_ext",
                                     description="Create, preprocess, train and apply Stable Diffusion hypernetworks.")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, sub in SUBCOMMANDS.items():
        add_arguments, run = sub.load()
        sub_parser = commands.add_parser(name, help=sub.help, description=sub.help)
        add_arguments(sub_parser)
        sub_parser.set_defaults(_run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with usage on bad arguments
    try:
        return int(args._run(args))
    except InvalidOptionError as exc:
        if args.traceback:
            raise
        print(f"python -m hypernet_ext {args.command}: error: {cli_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except HypernetError as exc:
        if args.traceback:
            raise
        print(f"error: {cli_message(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a failure, not a crash: say what went wrong without a traceback
        if args.traceback:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --traceback for details)", file=sys.stderr)
        return EXIT_FAILURE
