"""Core messages in the CLI's words: `set existing='replace'` -> `pass --existing replace`.

The core names options as Python does (`name=value`, or a bare `snake_case` name) because the API
uses those names; on the command line the user typed flags, so messages printed by the CLI name
the flags instead. Only declared options (option_spec) are rewritten, so ordinary words stay.
"""
from __future__ import annotations

import re
from typing import Iterable

from .option_spec import OptionSpec, declared_options

# `set name=value` / `pass name=value` / `name=value`; the value quoted or a bare word/number
_ASSIGNMENT = re.compile(r"\b(?:(set|pass|Set|Pass)\s+)?([a-z][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[\w.+-]+)")
# a bare snake_case word, not part of a path or file name ('/tmp/data_dir/x.png' stays as it is)
_SNAKE_NAME = re.compile(r"(?<![/\\.\w-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![/\\\w-]|\.\w)")


def option_specs(classes: Iterable[type]) -> dict[str, OptionSpec]:
    return {spec.name: spec for cls in classes for spec in declared_options(cls, "cli")}


def flag_with_value(spec: OptionSpec, value: str) -> str:
    """`--flag value`; a switch reads `--flag` / `--no-flag`."""
    value = value.strip("'\"")
    if spec.value_type is bool:
        on = value.lower() in ("true", "1", "on", "yes")
        return spec.cli_flag if on else "--no-" + spec.cli_flag[2:]
    return f"{spec.cli_flag} {value}"


def in_cli_words(message: str, classes: Iterable[type], extra: dict[str, str] | None = None) -> str:
    """`message` with declared option names (of `classes`, plus `extra` name -> flag) written as flags."""
    specs = option_specs(classes)
    extra = extra or {}

    def assignment(match: re.Match) -> str:
        verb, name, value = match.groups()
        if name in specs:
            flag = flag_with_value(specs[name], value)
        elif name in extra and value.strip("'\"").lower() == "true":
            flag = extra[name]
        else:
            return match.group(0)
        if not verb:
            return flag
        return f"{'Pass' if verb[0].isupper() else 'pass'} {flag}"  # flags are passed, not set

    def bare(match: re.Match) -> str:
        name = match.group(1)
        if name in specs:
            return specs[name].cli_flag
        return extra.get(name, name)

    return _SNAKE_NAME.sub(bare, _ASSIGNMENT.sub(assignment, message))


# Inputs that are CLI arguments but not declared options (train's --data/--log-dir, --overwrite)
CLI_INPUTS = {"data_dir": "--data", "log_dir": "--log-dir", "overwrite": "--overwrite"}


def cli_message(message: str) -> str:
    """`message` as the CLI shows it: every declared option of every subcommand named by its flag."""
    from .create_options import CreateOptions
    from .preprocess.options import PreprocessOptions
    from .training.data_options import DataOptions
    from .training.options import PreviewOptions, TrainingOptions
    classes = (TrainingOptions, DataOptions, PreviewOptions, PreprocessOptions, CreateOptions)
    return in_cli_words(str(message), classes, CLI_INPUTS)
