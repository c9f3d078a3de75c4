"""Options declared once: a dataclass field carries everything a front end needs to show it.

In the style of peft's `LoraConfig` (fields with `metadata={"help": ...}`): every option of create,
preprocess and training is a dataclass field made with `option(...)`. The CLI flags, the panel
components, the REST API's request fields, the webui settings defaults and the tooltips are all
generated from these declarations, so adding an option means editing one file.

    @dataclass
    class Example:
        steps: int = option(1000, help="train until the hypernetwork is at this step",
                            label="Max steps", group="run", minimum=1)
        precision: str = option("fp32", help="...", label="Precision", choices=("fp32", "bf16", "fp16"))

Metadata keys (read them with `spec_of(field)`): help, label, group, choices, minimum, maximum,
flag (CLI flag when it is not `--<name-with-dashes>`), metavar, frontends (subset of FRONTENDS that
show the option; default: all).
"""
from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Callable, Optional, Sequence

FRONTENDS = ("cli", "panel", "api", "settings")


@dataclass(frozen=True)
class OptionSpec:
    """What a front end needs to know about one declared option."""

    name: str
    help: str
    label: str
    group: str
    choices: Optional[tuple] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    flag: Optional[str] = None
    metavar: Optional[str] = None
    frontends: tuple = FRONTENDS
    default: Any = field(default_factory=lambda: MISSING)  # MISSING as a plain default would mean "required"

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def shown_in(self, frontend: str) -> bool:
        return frontend in self.frontends


def option(default: Any = MISSING, *, help: str, label: str = "", group: str = "", choices: Sequence | None = None,
           minimum: float | None = None, maximum: float | None = None, flag: str | None = None,
           metavar: str | None = None, frontends: Sequence[str] = FRONTENDS,
           default_factory: Callable[[], Any] | Any = MISSING) -> Any:
    """A dataclass field with its front-end description in `metadata`."""
    unknown = set(frontends) - set(FRONTENDS)
    if unknown:
        raise ValueError(f"unknown front ends {sorted(unknown)}; use some of {FRONTENDS}")
    metadata = {"help": help, "label": label, "group": group, "choices": tuple(choices) if choices else None,
                "minimum": minimum, "maximum": maximum, "flag": flag, "metavar": metavar,
                "frontends": tuple(frontends)}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def spec_of(f: Field) -> Optional[OptionSpec]:
    """The OptionSpec of a field declared with `option(...)`, else None."""
    meta = f.metadata
    if "help" not in meta:
        return None
    default = f.default if f.default is not MISSING else (
        f.default_factory() if f.default_factory is not MISSING else MISSING)
    return OptionSpec(name=f.name, help=meta["help"], label=meta["label"] or f.name.replace("_", " ").capitalize(),
                      group=meta["group"], choices=meta["choices"], minimum=meta["minimum"],
                      maximum=meta["maximum"], flag=meta["flag"], metavar=meta["metavar"],
                      frontends=meta["frontends"], default=default)


def declared_options(cls_or_instance: Any) -> list[OptionSpec]:
    """Every option declared on a dataclass, in declaration order."""
    return [spec for spec in (spec_of(f) for f in fields(cls_or_instance)) if spec is not None]
