"""The forward rule, in one place: which pairs act on a context and how they chain.

`apply_hypernetworks` (the pure function) and `attach` (the hooks on a UNet) both go through
`active_pairs` and `chain_k`/`chain_v`, so the two paths cannot disagree.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import torch
from torch import nn

from .hypernetwork import Hypernetwork


def active_pairs(pairs: Iterable[Tuple[Hypernetwork, float]]) -> list[Tuple[Hypernetwork, float]]:
    """The pairs that change anything: strength 0 means "off" and such a pair is skipped.

    Skipping is exact in eval mode (`x + mlp(x) * 0 == x` for every finite `mlp(x)`) and makes a
    `<hypernet:x:0>` tag cost what no tag costs. In training mode, where modules ignore the strength
    (they use 1, as in the webui), strength 0 still means off: nobody trains through a zero weight.
    """
    return [(hn, strength) for hn, strength in pairs if float(strength) != 0.0]


def width_steps(pairs: Sequence[Tuple[Hypernetwork, float]], width: int) -> list[tuple[nn.Module, nn.Module, float]]:
    """`(k module, v module, strength)` of every active pair that has this width, in list order."""
    steps = []
    for hypernetwork, strength in active_pairs(pairs):
        pair = hypernetwork.pair(width)
        if pair is not None:
            steps.append((pair.k, pair.v, float(strength)))
    return steps


def chain_k(steps, x: torch.Tensor) -> torch.Tensor:
    for module_k, _, strength in steps:
        x = module_k(x, strength)
    return x


def chain_v(steps, x: torch.Tensor) -> torch.Tensor:
    for _, module_v, strength in steps:
        x = module_v(x, strength)
    return x


def apply_hypernetworks(pairs: Iterable[Tuple[Hypernetwork, float]], context: torch.Tensor
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return `(k_in, v_in)` for a context `[batch, tokens, width]`.

    Hypernetworks are composed in list order (`k = hn2.k(hn1.k(x))`), as the webui does; a
    hypernetwork without a pair for this width, or with strength 0, passes the context through.
    Strength is ignored by modules in training mode (they use 1), as in the webui.
    """
    steps = width_steps(list(pairs), context.shape[-1])
    return chain_k(steps, context), chain_v(steps, context)
