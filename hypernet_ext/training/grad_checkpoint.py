"""Optional non-reentrant gradient checkpointing around a UNet's transformer and residual blocks.

Trades compute for memory: activations inside each wrapped block are recomputed during backward
instead of kept. `use_reentrant=False` is required because the UNet is frozen (the reentrant
variant drops gradients when a block's inputs do not require grad). Blocks are found by class name
(ldm/sgm `BasicTransformerBlock`, `ResBlock`, `AttentionBlock`; diffusers `BasicTransformerBlock`,
`ResnetBlock2D`); forwards are wrapped per instance and restored on exit.
"""
from __future__ import annotations

import functools
from typing import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

BLOCK_CLASS_NAMES = ("BasicTransformerBlock", "ResBlock", "AttentionBlock", "ResnetBlock2D")


def checkpointable_blocks(unet: nn.Module, class_names: Iterable[str] = BLOCK_CLASS_NAMES) -> list[nn.Module]:
    """Outermost modules whose class name is in `class_names` (nested matches are skipped)."""
    names = set(class_names)
    found: list[nn.Module] = []
    inside: set[int] = set()
    for module in unet.modules():
        if id(module) in inside:
            continue
        if type(module).__name__ in names:
            found.append(module)
            inside.update(id(m) for m in module.modules())
    return found


class GradientCheckpointing:
    """Context manager: wraps the blocks' forwards in `torch.utils.checkpoint(use_reentrant=False)`."""

    def __init__(self, unet: nn.Module, enabled: bool = True):
        self.unet = unet
        self.enabled = enabled
        self.blocks: list[nn.Module] = []

    def __enter__(self) -> "GradientCheckpointing":
        if self.enabled:
            self.blocks = checkpointable_blocks(self.unet)
            for block in self.blocks:
                block.forward = _checkpointed(block.forward)
        return self

    def __exit__(self, *exc) -> None:
        for block in self.blocks:
            if "forward" in block.__dict__:
                del block.forward
        self.blocks = []


def _checkpointed(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        if not torch.is_grad_enabled():
            return forward(*args, **kwargs)
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return run
