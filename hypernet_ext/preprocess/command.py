"""`python -m hypernet_ext preprocess SRC DST [options]`: arguments and entry point."""
from __future__ import annotations

import argparse
import sys

from ..cli_wording import cli_message
from ..errors import HypernetError
from ..option_cli import add_option_flags, defaults_with, given_values
from ..progress import terminal_progress
from .options import PreprocessOptions
from .pipeline import preprocess

GROUP_TITLES = {"size": "size", "captions": "captions", "flip": "flipped copies", "split": "split oversized images",
                "focal": "focal point crop", "auto_size": "auto-sized crop", "input": "input"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """SRC and DST, then one generated flag per declared PreprocessOptions option."""
    parser.add_argument("source", metavar="SRC", help="folder of raw images")
    parser.add_argument("destination", metavar="DST", help="output folder (created; must not be inside SRC)")
    add_option_flags(parser, PreprocessOptions, GROUP_TITLES)


def options_from_args(args: argparse.Namespace) -> PreprocessOptions:
    """PreprocessOptions from the flags given, the declared defaults for the rest."""
    return PreprocessOptions(args.source, args.destination,
                             **defaults_with(PreprocessOptions, given_values(args, PreprocessOptions)))


def run(args: argparse.Namespace) -> int:
    """Run preprocessing from parsed arguments; 0 on success, 1 with a message on failure."""
    progress = terminal_progress(0, "Preprocess")
    try:
        report = preprocess(options_from_args(args), progress)
    except HypernetError as exc:
        print(f"error: {cli_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    print(cli_message(report.summary()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hypernet_ext preprocess",
                                     description="Turn a folder of raw images into a training set.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
