"""Options declared once: a dataclass field carries everything a front end needs to show it.

In the style of peft's `LoraConfig` (fields with `metadata={"help": ...}`): every option of create,
preprocess and training is a dataclass field made with `option(...)`. The CLI flags
(`option_cli`), the panel components (`ui.option_components`), the REST API's request fields
(`webui.api.requests`), the webui settings defaults and the tooltips are all generated from these
declarations, so adding an option means editing one file.

    @dataclass
    class Example:
        steps: int = option(1000, help="train until the hypernetwork is at this step",
                            label="Max steps", group="run", minimum=1)
        precision: str = option("fp32", help="...", label="Precision", choices=("fp32", "bf16", "fp16"))

Metadata keys (read them with `spec_of(field)`): help, label, group, choices (the only values
allowed), suggest (values offered while any other is allowed too; a sequence or a function
returning one), minimum, maximum, step (slider step), flag (CLI flag when it is not
`--<name-with-dashes>`), metavar, frontends (subset of FRONTENDS that show the option; default:
all).

The value type comes from the field's annotation (`int`, `float`, `str`, `bool`, `dict`, `list`,
`Optional[...]` of them; a union of several, such as text or a list, is `object`: kept as given);
`convert` turns what a front end sends (text, floats from number boxes)
into that type with a message naming the option as that front end shows it.
"""
from __future__ import annotations

import ast
import re
import typing
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any, Callable, Optional, Sequence, Union

from .errors import InvalidOptionError

FRONTENDS = ("cli", "panel", "api", "settings")
VALUE_TYPES = (bool, int, float, str, dict, list)


@dataclass(frozen=True)
class OptionSpec:
    """What a front end needs to know about one declared option."""

    name: str
    help: str
    label: str
    group: str
    default: Any  # dataclasses.MISSING when the option has none
    choices: Optional[tuple] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    flag: Optional[str] = None
    metavar: Optional[str] = None
    frontends: tuple = FRONTENDS
    value_type: type = str
    optional: bool = False
    step: Optional[float] = None
    suggest: Union[None, Sequence, Callable[[], Sequence]] = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def long_flag(self) -> str:
        """`--<name-with-dashes>`: accepted too when `flag` names the option differently."""
        return "--" + self.name.replace("_", "-")

    def shown_in(self, frontend: str) -> bool:
        return frontend in self.frontends

    def suggestions(self) -> list:
        """The values offered for an open choice (`suggest`), read now (e.g. installed optimizers)."""
        found = self.suggest() if callable(self.suggest) else self.suggest
        return list(found or ())

    def help_with_default(self) -> str:
        """The help text ending with the default, as the CLI and tooltips show it."""
        default = self.default
        if default is MISSING:
            return self.help
        if default is None or default == "" or default == {} or default == []:
            shown = "none"
        elif isinstance(default, bool):
            shown = "on" if default else "off"
        else:
            shown = repr(default) if isinstance(default, str) and default.strip() != default else str(default)
        return f"{self.help} (default: {shown})"


def option(default: Any = MISSING, *, help: str, label: str = "", group: str = "", choices: Sequence | None = None,
           minimum: float | None = None, maximum: float | None = None, flag: str | None = None,
           metavar: str | None = None, frontends: Sequence[str] = FRONTENDS,
           default_factory: Callable[[], Any] | Any = MISSING, step: float | None = None,
           suggest: Sequence | Callable[[], Sequence] | None = None) -> Any:
    """A dataclass field with its front-end description in `metadata`."""
    unknown = set(frontends) - set(FRONTENDS)
    if unknown:
        raise ValueError(f"unknown front ends {sorted(unknown)}; use some of {FRONTENDS}")
    metadata = {"help": help, "label": label, "group": group, "choices": tuple(choices) if choices else None,
                "minimum": minimum, "maximum": maximum, "flag": flag, "metavar": metavar,
                "frontends": tuple(frontends), "step": step, "suggest": suggest}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _value_type(hint: Any, default: Any) -> tuple[type, bool]:
    """(one of VALUE_TYPES, whether None is allowed) from a resolved annotation."""
    optional = False
    origin = typing.get_origin(hint)
    if origin is Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) > 1:
            return object, optional  # several types (text or a list, e.g. a colour): kept as given
        hint = args[0]
        origin = typing.get_origin(hint)
    hint = origin or hint
    for kind in VALUE_TYPES:
        if hint is kind:
            return kind, optional
    if hint in (tuple, typing.Tuple):
        return list, optional
    if default is not MISSING and default is not None and type(default) in VALUE_TYPES:
        return type(default), optional
    return str, optional


def spec_of(f: Field, hint: Any = None) -> Optional[OptionSpec]:
    """The OptionSpec of a field declared with `option(...)`, else None."""
    meta = f.metadata
    if "help" not in meta:
        return None
    default = f.default if f.default is not MISSING else (
        f.default_factory() if f.default_factory is not MISSING else MISSING)
    value_type, optional = _value_type(hint if hint is not None else f.type, default)
    return OptionSpec(name=f.name, help=meta["help"], label=meta["label"] or f.name.replace("_", " ").capitalize(),
                      group=meta["group"], choices=meta["choices"], minimum=meta["minimum"],
                      maximum=meta["maximum"], flag=meta["flag"], metavar=meta["metavar"],
                      frontends=meta["frontends"], default=default, value_type=value_type,
                      optional=optional or default is None, step=meta.get("step"), suggest=meta.get("suggest"))


def declared_options(cls_or_instance: Any, frontend: str | None = None) -> list[OptionSpec]:
    """Every option declared on a dataclass, in declaration order (only those `frontend` shows, if given)."""
    cls = cls_or_instance if isinstance(cls_or_instance, type) else type(cls_or_instance)
    hints = typing.get_type_hints(cls)
    specs = [spec_of(f, hints.get(f.name)) for f in fields(cls)]
    return [s for s in specs if s is not None and (frontend is None or s.shown_in(frontend))]


def option_defaults(cls: Any) -> dict:
    """{name: default} of every declared option of `cls`."""
    return {s.name: s.default for s in declared_options(cls) if s.default is not MISSING}


def display_value(spec: OptionSpec, value: Any) -> Any:
    """How a form field shows an option's value: dicts as 'k=v; k=v' text, free lists joined, None as 0 (off)."""
    if spec.value_type is dict:
        return "; ".join(f"{k}={v!r}" for k, v in dict(value or {}).items())
    if spec.value_type is list and not spec.suggest:
        return ", ".join(str(v) for v in value or ())
    if value is None and spec.value_type in (int, float):
        return 0
    return value


def parse_keyword_text(text: str, what: str) -> dict:
    """'weight_decay=0.01; betas=(0.9, 0.99)' (';' or new lines between) -> {name: Python literal or text}."""
    out = {}
    for item in (part.strip() for part in re.split(r"[;\n]+", text or "")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise InvalidOptionError(f"{what}: {item!r} must be KEY=VALUE, e.g. weight_decay=0.0.")
        try:
            out[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = raw.strip()
    return out


def convert(spec: OptionSpec, value: Any, what: str | None = None) -> Any:
    """`value` as the option's type; InvalidOptionError names it as `what` (the front end's name for it)."""
    what = what or spec.label
    if spec.optional and (value is None or value == "" or (spec.value_type in (int, float) and value == 0
                                                            and spec.default is None)):
        return None
    kind = spec.value_type
    if kind is bool:
        value = _boolean(value, what)
    elif kind is int:
        value = _whole(value, what)
    elif kind is float:
        value = _number(value, what)
    elif kind is dict:
        value = dict(value) if isinstance(value, dict) else parse_keyword_text(str(value or ""), what)
    elif kind is list:
        value = list(value) if isinstance(value, (list, tuple)) else \
            [part.strip() for part in str(value or "").split(",") if part.strip()]
    elif kind is object:
        value = value.strip() if isinstance(value, str) else value
    elif value is None:
        value = ""
    elif not isinstance(value, str):
        value = str(value)
    _check(spec, value, what)
    return value


def _check(spec: OptionSpec, value: Any, what: str) -> None:
    if spec.choices and value not in spec.choices:
        raise InvalidOptionError(f"{what} must be one of {', '.join(str(c) for c in spec.choices)}; got {value!r}.")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidOptionError(f"{what} must be at least {spec.minimum:g}, got {value!r}.")
        if spec.maximum is not None and value > spec.maximum:
            raise InvalidOptionError(f"{what} must be at most {spec.maximum:g}, got {value!r}.")


def _boolean(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", "", "none"):
        return False
    raise InvalidOptionError(f"{what} must be true or false, got {value!r}.")


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{what} must be a number, got {value!r}.") from None


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidOptionError(f"{what} must be a whole number, got {value!r}.")
    number = _number(value, what) if not isinstance(value, int) else value
    if isinstance(number, float) and not number.is_integer():
        raise InvalidOptionError(f"{what} must be a whole number, got {value!r}.")
    return int(number)


def converted(cls: Any, values: dict, what: Callable[[OptionSpec], str] = lambda s: s.label) -> dict:
    """{name: converted value} for the declared options of `cls` present in `values` (others are left out)."""
    return {s.name: convert(s, values[s.name], what(s)) for s in declared_options(cls) if s.name in values}


def saved_values(instance: Any) -> dict:
    """{name: value} of an options instance's declared options, JSON-able (tuples become lists)."""
    out = {}
    for spec in declared_options(instance):
        value = getattr(instance, spec.name)
        out[spec.name] = list(value) if isinstance(value, tuple) else value
    return out


def is_options_class(cls: Any) -> bool:
    return is_dataclass(cls) and bool(declared_options(cls))
