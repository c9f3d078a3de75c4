"""The Hypernetwork: one (K, V) module pair per attention width, plus its identity and metadata."""
from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

import torch
from torch import nn

from .config import HypernetworkConfig
from .errors import InvalidOptionError
from .layers import build_module, initialize_weights

DEFAULT_SIZES = (768, 320, 640, 1280)
KNOWN_SIZES = (768, 1024, 2048, 320, 640, 1280)
MAX_WIDTH = 8192
_NAME_ALLOWED = re.compile(r"[^A-Za-z0-9._\- ]")


class HypernetworkPair(nn.Module):
    """The K and V modules for one attention width."""

    def __init__(self, dim: int, config: HypernetworkConfig):
        super().__init__()
        self.k = build_module(dim, config)
        self.v = build_module(dim, config)


class Hypernetwork(nn.Module):
    """A hypernetwork: `layers[str(width)]` holds the K/V pair applied to contexts of that width.

    Attributes mirror the webui file keys: `name`, `step`, `sizes`, `config`, `optional_info`,
    `sd_checkpoint`, `sd_checkpoint_name`; `extra` keeps unknown file keys, `metadata` our own.
    """

    def __init__(self, name: str, sizes: Sequence[int] = DEFAULT_SIZES,
                 config: Optional[HypernetworkConfig] = None, step: int = 0):
        super().__init__()
        self.name = name
        self.config = config or HypernetworkConfig()
        self.sizes = validate_sizes(sizes)
        self.step = int(step)
        self.optional_info: Optional[str] = None
        self.sd_checkpoint: Optional[str] = None
        self.sd_checkpoint_name: Optional[str] = None
        self.extra: dict = {}
        self.metadata: dict = {}
        self.filename: Optional[str] = None
        self.layers = nn.ModuleDict({str(size): HypernetworkPair(size, self.config) for size in self.sizes})
        self.eval()

    def pair(self, width: int) -> Optional[HypernetworkPair]:
        """The K/V pair for contexts of this width, or None."""
        return self.layers[str(width)] if str(width) in self.layers else None

    def set_multiplier(self, multiplier: float) -> None:
        """Default strength used by the modules when none is passed (webui's `set_multiplier`)."""
        for module in self.modules():
            if hasattr(module, "multiplier"):
                module.multiplier = float(multiplier)

    def weights(self) -> list[torch.nn.Parameter]:
        return list(self.parameters())

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def initialize(self, weight_init: Optional[str] = None, std: float = 0.01,
                   seed: Optional[int] = None) -> None:
        """Re-initialise all weights; deterministic when `seed` is given."""
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        with torch.no_grad():
            initialize_weights(self, weight_init or self.config.weight_init, self.config.activation,
                               std=std, generator=generator)

    def describe(self) -> str:
        c = self.config
        return (f"{self.name}: sizes {list(self.sizes)}, layers {list(c.layer_structure)}, "
                f"activation {c.activation}, init {c.weight_init}, layer norm {c.layer_norm}, "
                f"dropout {list(c.effective_dropout)}, step {self.step}, "
                f"{self.parameter_count():,} parameters")

    def __repr__(self) -> str:  # nn.Module's repr is too long for 4 widths x 2 modules
        return f"Hypernetwork({self.describe()})"


def validate_sizes(sizes: Iterable[int]) -> tuple[int, ...]:
    """Check attention widths: positive unique ints."""
    out = []
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or not (0 < size <= MAX_WIDTH):
            raise InvalidOptionError(
                f"Attention width {size!r} is invalid; widths are positive integers such as "
                f"{', '.join(map(str, KNOWN_SIZES))}.")
        if size in out:
            raise InvalidOptionError(f"Attention width {size} is listed twice; list each width once.")
        out.append(size)
    if not out:
        raise InvalidOptionError(
            "No attention widths selected. Pick at least one, e.g. 768 (SD1 text) or 320/640/1280.")
    return tuple(out)


def sanitize_name(name: str) -> str:
    """Keep letters, digits and `._- ` like the webui; refuse names that end up empty."""
    clean = _NAME_ALLOWED.sub("", str(name or "")).strip()
    if not clean or clean in (".", ".."):
        raise InvalidOptionError(
            f"Hypernetwork name {name!r} is empty after removing unsupported characters; "
            f"use letters, digits, '.', '_', '-' or spaces.")
    return clean


def create_hypernetwork(name: str, sizes: Sequence[int] = DEFAULT_SIZES,
                        layer_structure: Sequence[float] = (1, 2, 1), activation: Optional[str] = "linear",
                        weight_init: str = "Normal", layer_norm: bool = False,
                        dropout_structure: Optional[Sequence[float]] = None, activate_output: bool = False,
                        last_layer_dropout: Optional[bool] = None, skip_connection: bool = False,
                        optional_info: Optional[str] = None, init_std: float = 0.01,
                        seed: Optional[int] = None) -> Hypernetwork:
    """Create a freshly initialised hypernetwork; invalid options raise InvalidOptionError."""
    from . import limits
    if not (init_std >= 0):
        raise InvalidOptionError(f"Initialisation std must be >= 0, got {init_std!r}.")
    limits.check_number("init_std", init_std, "Initialisation std")  # 1e308 gives weights our loader refuses
    ls = tuple(float(m) for m in layer_structure)
    ds = tuple(float(p) for p in dropout_structure) if dropout_structure is not None else None
    if last_layer_dropout is None:
        last_layer_dropout = bool(ds is not None and len(ds) >= 2 and ds[-2] != 0)
    config = HypernetworkConfig(layer_structure=ls, activation=activation, weight_init=weight_init,
                                layer_norm=bool(layer_norm), dropout_structure=ds,
                                activate_output=bool(activate_output),
                                last_layer_dropout=bool(last_layer_dropout),
                                skip_connection=bool(skip_connection))
    hn = Hypernetwork(sanitize_name(name), sizes=_as_ints(sizes), config=config)
    hn.optional_info = optional_info
    hn.initialize(std=init_std, seed=seed)
    return hn


def _as_ints(sizes: Iterable) -> tuple:
    out = []
    for size in sizes:
        try:
            out.append(int(size) if float(size) == int(float(size)) else size)
        except (TypeError, ValueError):
            out.append(size)  # validate_sizes reports it
    return tuple(out)
