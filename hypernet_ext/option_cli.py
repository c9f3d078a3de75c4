"""Command-line flags generated from option declarations (see `option_spec`).

Every option a class declares for the "cli" front end becomes one flag, with its type, choices,
metavar and a help text ending with the default. Flags are added with `default=SUPPRESS`, so
`given_values(args, cls)` returns only what the user typed: a resumed run can then take the rest
from its saved settings, and the declared defaults fill what is left.
"""
from __future__ import annotations

import argparse
from typing import Any, Iterable, Optional

from .option_spec import OptionSpec, convert, declared_options


def _flags(spec: OptionSpec) -> list[str]:
    """The declared flag, plus `--<name>` for a renamed value flag (`--lr` is also `--learning-rate`)."""
    alias = spec.long_flag != spec.cli_flag and spec.value_type not in (bool, dict, list)
    return [spec.cli_flag] + ([spec.long_flag] if alias else [])


def _help(spec: OptionSpec) -> str:
    text = spec.help_with_default()
    if spec.suggest is not None:
        text += f"; known: {', '.join(str(v) for v in spec.suggestions())}"
    return text.replace("%", "%%")


def add_option_flags(parser: argparse.ArgumentParser, cls: Any, group_titles: Optional[dict] = None,
                     exclude: Iterable[str] = ()) -> None:
    """One flag per declared option of `cls` (grouped by the declaration's group), none of `exclude`."""
    titles = group_titles or {}
    groups: dict[str, Any] = {}
    for spec in declared_options(cls, "cli"):
        if spec.name in exclude:
            continue
        title = titles.get(spec.group, spec.group or "options")
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        _add_flag(groups[title], spec)


def _add_flag(group, spec: OptionSpec) -> None:
    common = dict(dest=spec.name, default=argparse.SUPPRESS, help=_help(spec))
    if spec.value_type is bool:
        group.add_argument(*_flags(spec), action=argparse.BooleanOptionalAction, **common)
    elif spec.value_type in (dict, list):
        group.add_argument(*_flags(spec), action="append", metavar=spec.metavar or "VALUE",
                           **{**common, "help": common["help"] + "; repeatable"})
    else:
        kind = {int: int, float: float}.get(spec.value_type, str)
        group.add_argument(*_flags(spec), type=kind, choices=spec.choices, metavar=_metavar(spec), **common)


def _metavar(spec: OptionSpec) -> Optional[str]:
    if spec.choices:
        return None  # argparse shows {a,b,c}
    return spec.metavar or {int: "N", float: "X"}.get(spec.value_type, "TEXT")


def given_values(args: argparse.Namespace, cls: Any) -> dict:
    """{name: value} of the options of `cls` given on the command line, converted; messages name the flag."""
    out = {}
    for spec in declared_options(cls, "cli"):
        if not hasattr(args, spec.name):
            continue
        value = getattr(args, spec.name)
        if spec.value_type is dict:
            value = "; ".join(value)
        elif spec.value_type is list:
            value = [item.strip() for entry in value for item in entry.split(",") if item.strip()]
        out[spec.name] = convert(spec, value, spec.cli_flag)
    return out


def defaults_with(cls: Any, *layers: dict) -> dict:
    """The declared defaults of `cls`, overridden by each layer in turn (only names `cls` declares)."""
    names = {s.name: s.default for s in declared_options(cls)}
    values = dict(names)
    for layer in layers:
        values.update({k: v for k, v in layer.items() if k in names})
    return values
