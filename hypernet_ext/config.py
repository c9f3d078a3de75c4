"""Structural options of a hypernetwork, their validation, and the activation registry.

Semantics follow the webui's built-in hypernetworks and the MonkeyPatch extension.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.modules.activation as _torch_activations

from .errors import InvalidOptionError

WEIGHT_INITS = ("Normal", "XavierUniform", "XavierNormal", "KaimingUniform", "KaimingNormal")

# Names that mean "no activation layer at all".
NO_ACTIVATION = (None, "linear")

# Activations that construct but cannot work inside an MLP of fixed widths, with the reason.
_UNUSABLE_ACTIVATIONS = {
    "threshold": "it needs constructor arguments (threshold, value) that the file format cannot store",
    "glu": "it halves the layer width, so the next layer's input size no longer matches",
    "multiheadattention": "it is an attention block, not an element-wise activation",
}

MAX_LAYERS = 32
MAX_MULTIPLIER = 64.0


def _activation_registry() -> dict[str, type]:
    """Every activation the webui accepts: torch.nn activations by lowercase name plus its aliases."""
    registry = {
        name.lower(): cls
        for name, cls in inspect.getmembers(_torch_activations)
        if inspect.isclass(cls) and cls.__module__ == _torch_activations.__name__
    }
    registry.update({
        "linear": torch.nn.Identity,
        "relu": torch.nn.ReLU,
        "leakyrelu": torch.nn.LeakyReLU,
        "elu": torch.nn.ELU,
        "swish": torch.nn.Hardswish,  # the webui maps "swish" to Hardswish, not SiLU
        "tanh": torch.nn.Tanh,
        "sigmoid": torch.nn.Sigmoid,
    })
    return registry


ACTIVATIONS: dict[str, type] = _activation_registry()

# What a creation UI should offer: everything usable, common ones first (hardswish is reachable as swish).
SELECTABLE_ACTIVATIONS: tuple[str, ...] = tuple(
    ["linear", "relu", "leakyrelu", "elu", "swish", "tanh", "sigmoid"]
    + sorted(n for n in ACTIVATIONS if n not in _UNUSABLE_ACTIVATIONS
             and n not in ("linear", "relu", "leakyrelu", "elu", "swish", "tanh", "sigmoid", "hardswish"))
)


def make_activation(name: Optional[str]) -> torch.nn.Module:
    """Instantiate an activation by its stored name, exactly as the webui does (no arguments)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise InvalidOptionError(
            f"Unknown activation {name!r}. Use one of: {', '.join(SELECTABLE_ACTIVATIONS)}."
        ) from None


def default_dropout_structure(layer_structure: Sequence[float], use_dropout: bool,
                              last_layer_dropout: bool) -> list[float]:
    """The dropout structure the webui derives for files that do not store one."""
    if not use_dropout:
        return [0.0] * len(layer_structure)
    inner = [0.3] * max(len(layer_structure) - 3, 0)
    return [0.0] + inner + [0.3 if last_layer_dropout else 0.0] + [0.0]


def parse_number_list(text: str, what: str) -> list[float]:
    """Parse '1, 2, 1' into floats; raise InvalidOptionError naming the field on bad input."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise InvalidOptionError(f"{what} is empty. Enter comma-separated numbers such as '1, 2, 1'.")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidOptionError(
            f"{what} {text!r} is not a list of numbers. Enter comma-separated numbers such as '1, 2, 1'."
        ) from None
    return values


@dataclass
class HypernetworkConfig:
    """Every structural option of a hypernetwork.

    `dropout_structure=None` means no dropout. Creation validates strictly; files written by the
    webui are loaded with `strict=False`, which accepts the lengths and first values it tolerates.
    """

    layer_structure: tuple = (1.0, 2.0, 1.0)
    activation: Optional[str] = "linear"
    weight_init: str = "Normal"
    layer_norm: bool = False
    dropout_structure: Optional[tuple] = None
    activate_output: bool = False
    last_layer_dropout: bool = False
    skip_connection: bool = False
    upsample_linear: Optional[str] = None
    strict: bool = field(default=True, repr=False, compare=False)

    def __post_init__(self):
        self.layer_structure = tuple(self.layer_structure)
        if self.dropout_structure is not None:
            self.dropout_structure = tuple(self.dropout_structure)
        self.validate()

    # -- derived -------------------------------------------------------------------------------
    @property
    def effective_dropout(self) -> tuple:
        """Dropout probability after each layer transition's output, indexed like layer_structure."""
        if self.dropout_structure is None:
            return (0.0,) * len(self.layer_structure)
        return self.dropout_structure

    @property
    def uses_dropout(self) -> bool:
        return any(p > 0 for p in self.effective_dropout[1:len(self.layer_structure)])

    @property
    def has_activation(self) -> bool:
        return self.activation not in NO_ACTIVATION

    def widths(self, dim: int) -> list[int]:
        """Layer widths for a module of input width `dim` (truncated like the webui)."""
        return [int(dim * m) for m in self.layer_structure]

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise InvalidOptionError naming the option and how to fix it."""
        self._validate_layer_structure()
        self._validate_activation()
        if self.weight_init not in WEIGHT_INITS:
            raise InvalidOptionError(
                f"Unknown weight initialization {self.weight_init!r}. Use one of: {', '.join(WEIGHT_INITS)}.")
        self._validate_dropout()
        if self.upsample_linear not in (None, False, "Linear"):
            raise InvalidOptionError(
                f"upsample_linear must be None or 'Linear', not {self.upsample_linear!r}.")

    def _validate_layer_structure(self) -> None:
        ls = self.layer_structure
        if len(ls) < 2:
            raise InvalidOptionError(
                f"Layer structure {list(ls)} needs at least two entries. Use something like '1, 2, 1'.")
        if len(ls) > MAX_LAYERS:
            raise InvalidOptionError(
                f"Layer structure has {len(ls)} entries; at most {MAX_LAYERS} are supported.")
        for m in ls:
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m):
                raise InvalidOptionError(f"Layer structure entry {m!r} is not a finite number.")
            if m <= 0 or m > MAX_MULTIPLIER:
                raise InvalidOptionError(
                    f"Layer structure entry {m} is out of range; each width multiplier must be in "
                    f"(0, {MAX_MULTIPLIER:g}].")
        if ls[0] != 1 or ls[-1] != 1:
            raise InvalidOptionError(
                f"Layer structure {_fmt(ls)} must start and end with 1 (the module maps a width back "
                f"to itself). Try '1, {_fmt(ls[1:-1]) or '2'}, 1'.")

    def _validate_activation(self) -> None:
        name = self.activation
        if name in NO_ACTIVATION:
            return
        if name not in ACTIVATIONS:
            make_activation(name)  # raises with the list of choices
        if name in _UNUSABLE_ACTIVATIONS:
            raise InvalidOptionError(
                f"Activation {name!r} cannot be used: {_UNUSABLE_ACTIVATIONS[name]}. "
                f"Pick another, e.g. relu, swish or linear.")

    def _validate_dropout(self) -> None:
        ds = self.dropout_structure
        if ds is None:
            return
        n = len(self.layer_structure)
        for p in ds:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not (0 <= p < 1):
                raise InvalidOptionError(
                    f"Dropout structure {_fmt(ds)}: every value must be in [0, 1), got {p!r}.")
        if len(ds) < n:
            raise InvalidOptionError(
                f"Dropout structure {_fmt(ds)} has {len(ds)} values but the layer structure "
                f"{_fmt(self.layer_structure)} has {n}; give one value per layer, e.g. "
                f"'{_fmt([0] + [0.3] * (n - 2) + [0])}'.")
        if self.strict:
            if len(ds) != n:
                raise InvalidOptionError(
                    f"Dropout structure {_fmt(ds)} has {len(ds)} values but the layer structure has {n}; "
                    f"give one value per layer, e.g. '{_fmt([0] + [0.3] * (n - 2) + [0])}'.")
            if ds[0] != 0:
                raise InvalidOptionError(
                    f"Dropout structure {_fmt(ds)}: the first value must be 0 (no dropout applies "
                    f"before the first layer).")


def _fmt(values) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
