"""The per-width MLP modules that transform attention K/V inputs.

`HypernetworkModule` reproduces the webui's Sequential layout index for index, so its state-dict
keys (`linear.<i>.weight`) match webui files. `ResidualHypernetworkModule` is MonkeyPatch's
skip-connection variant (keys `linear.<i>.linear.<j>.*`).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import HypernetworkConfig, make_activation


def initialize_weights(module: nn.Module, weight_init: str, activation: Optional[str],
                       std: float = 0.01, generator: Optional[torch.Generator] = None) -> None:
    """Initialise every Linear and LayerNorm inside `module` the way the webui does at creation.

    LayerNorm layers always get N(0, std) weights (the webui's choice, kept for parity).
    """
    nonlinearity = "leaky_relu" if activation == "leakyrelu" else "relu"
    for layer in module.modules():
        if isinstance(layer, nn.LayerNorm) or (isinstance(layer, nn.Linear) and weight_init == "Normal"):
            nn.init.normal_(layer.weight, mean=0.0, std=std, generator=generator)
        elif isinstance(layer, nn.Linear):
            if weight_init == "XavierUniform":
                nn.init.xavier_uniform_(layer.weight, generator=generator)
            elif weight_init == "XavierNormal":
                nn.init.xavier_normal_(layer.weight, generator=generator)
            elif weight_init == "KaimingUniform":
                nn.init.kaiming_uniform_(layer.weight, nonlinearity=nonlinearity, generator=generator)
            elif weight_init == "KaimingNormal":
                nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity, generator=generator)
            else:
                raise ValueError(f"unknown weight init {weight_init!r}")
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class _CastingModule(nn.Module):
    """Runs the MLP in the module's own dtype/device and returns the caller's dtype.

    Subclasses define `_transform(h, m)`.
    """

    multiplier: float = 1.0

    def _param(self) -> torch.Tensor:
        return next(self.parameters())

    def forward(self, x: torch.Tensor, multiplier: Optional[float] = None) -> torch.Tensor:
        p = self._param()
        h = x if (x.dtype == p.dtype and x.device == p.device) else x.to(device=p.device, dtype=p.dtype)
        if self.training:
            m = 1.0
        else:
            m = self.multiplier if multiplier is None else multiplier
        out = self._transform(h, m)
        return out if out.dtype == x.dtype and out.device == x.device else out.to(device=x.device, dtype=x.dtype)


class HypernetworkModule(_CastingModule):
    """`y = x + mlp(x) * m`, where m is 1 in training mode and the strength in eval mode."""

    def __init__(self, dim: int, config: HypernetworkConfig):
        super().__init__()
        self.dim = dim
        self.linear = nn.Sequential(*_a1111_layers(dim, config))

    def _transform(self, h, m):
        return h + self.linear(h) * m


def _a1111_layers(dim: int, config: HypernetworkConfig) -> list[nn.Module]:
    widths = config.widths(dim)
    dropout = config.effective_dropout
    n = len(widths)
    layers: list[nn.Module] = []
    for i in range(n - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if config.has_activation and (i < n - 2 or config.activate_output):
            layers.append(make_activation(config.activation))
        if config.layer_norm:
            layers.append(nn.LayerNorm(widths[i + 1]))
        if dropout[i + 1] > 0:
            layers.append(nn.Dropout(p=dropout[i + 1]))
    return layers


class ResidualBlock(nn.Module):
    """One MonkeyPatch skip-connection block: `resize(x) + inner(x)`."""

    def __init__(self, n_in: int, n_out: int, config: HypernetworkConfig, dropout: float):
        super().__init__()
        self.n_out = n_out
        inner: list[nn.Module] = [nn.Linear(n_in, n_out)]
        if config.layer_norm:
            inner.append(nn.LayerNorm(n_out))
        if dropout > 0:
            inner.append(nn.Dropout(p=dropout))
        if config.has_activation:
            inner.append(make_activation(config.activation))
        self.linear = nn.Sequential(*inner)
        if config.upsample_linear == "Linear":
            self.upsample_layer = nn.Linear(n_in, n_out, bias=False)
        else:
            self.upsample_layer = None

    def forward(self, x):
        if self.upsample_layer is not None:
            shortcut = self.upsample_layer(x)
        elif x.shape[-1] == self.n_out:
            shortcut = x
        else:
            shortcut = F.interpolate(x, size=self.n_out, mode="nearest-exact")
        return shortcut + self.linear(x)


class ResidualHypernetworkModule(_CastingModule):
    """MonkeyPatch's skip-connection module: training -> f(x); eval -> x + m * (f(x) - x)."""

    def __init__(self, dim: int, config: HypernetworkConfig):
        super().__init__()
        self.dim = dim
        widths = config.widths(dim)
        dropout = config.effective_dropout
        self.linear = nn.Sequential(*[
            ResidualBlock(widths[i], widths[i + 1], config, dropout[i + 1]) for i in range(len(widths) - 1)
        ])

    def _transform(self, h, m):
        out = self.linear(h)
        if self.training:
            return out
        return h + (out - h) * m


def build_module(dim: int, config: HypernetworkConfig) -> _CastingModule:
    """The module class a config calls for."""
    cls = ResidualHypernetworkModule if config.skip_connection else HypernetworkModule
    return cls(dim, config)
