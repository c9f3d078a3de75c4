"""Conditioning values as the trainer passes them around: one tensor, or a dict of tensors.

SD1/SD2 hosts condition on one (B, T, D) tensor. SDXL hosts return {"context": (B, T, D),
"pooled": (B, P)} and the training data adds per-sample "sizes" (B, 6). These helpers give both
forms the few operations the text cache and the data pipeline need, batch dimension first.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence, Union

import torch

Conditioning = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def _map(cond: Conditioning, fn: Callable[[torch.Tensor], torch.Tensor]) -> Conditioning:
    if isinstance(cond, torch.Tensor):
        return fn(cond)
    return {key: fn(value) for key, value in cond.items()}


def detached(cond: Conditioning) -> Conditioning:
    return _map(cond, lambda t: t.detach())


def to_device(cond: Conditioning, device) -> Conditioning:
    return _map(cond, lambda t: t.to(device))


def row(cond: Conditioning, index: int) -> Conditioning:
    """Sample `index` (batch dimension removed), as its own copy."""
    return _map(cond, lambda t: t[index].clone())


def batch_of_one(cond: Conditioning) -> Conditioning:
    """One sample (no batch dimension, as `row` gives) as a batch of one."""
    return _map(cond, lambda t: t.unsqueeze(0))


def finite_rows(cond: Conditioning) -> torch.Tensor:
    """(B,) bool: every value of the sample is finite."""
    tensors = [cond] if isinstance(cond, torch.Tensor) else list(cond.values())
    flags = [torch.isfinite(t.detach()).flatten(1).all(dim=1) for t in tensors]
    return torch.stack(flags).all(dim=0)


def stack_rows(rows: Sequence[Conditioning], stack_tokens: Callable[[Sequence[torch.Tensor]], torch.Tensor]
               ) -> Conditioning:
    """Stack samples; token sequences (the tensor form, or "context") go through `stack_tokens`."""
    if isinstance(rows[0], torch.Tensor):
        return stack_tokens(rows)
    return {key: stack_tokens([r[key] for r in rows]) if key == "context" else torch.stack([r[key] for r in rows])
            for key in rows[0]}


def with_sizes(cond: Conditioning, sizes: torch.Tensor) -> Conditioning:
    """`cond` with per-sample size numbers (B, 6) added (dict conditioning only)."""
    if isinstance(cond, torch.Tensor):
        raise TypeError("size conditioning needs a host whose conditioning is a dict (an SDXL host)")
    return {**cond, "sizes": sizes}
