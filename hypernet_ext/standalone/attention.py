"""Training-friendly attention for ldm UNets: SDPA forwards and no reentrant checkpointing.

`use_sdpa_attention` replaces the `forward` of each ldm CrossAttention/MemoryEfficientCrossAttention
*instance* (the classes are left alone, so other code sharing ldm is unaffected). The new forward
still calls `self.to_k(context)` and `self.to_v(context)`, where hypernetworks hook in.
"""
from __future__ import annotations

import types
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def sdpa_cross_attention_forward(self: nn.Module, x: torch.Tensor, context: Optional[torch.Tensor] = None,
                                 mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """ldm CrossAttention maths through `torch.nn.functional.scaled_dot_product_attention`."""
    context = x if context is None else context
    q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
    batch, heads = q.shape[0], self.heads
    q, k, v = (t.reshape(batch, t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))
    attn_mask = None
    if mask is not None:
        attn_mask = mask.reshape(batch, 1, 1, -1).to(torch.bool)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    out = out.transpose(1, 2).reshape(batch, -1, q.shape[-1] * heads)
    return self.to_out(out)


def _is_ldm_attention(module: nn.Module) -> bool:
    from ldm.modules.attention import CrossAttention, MemoryEfficientCrossAttention

    return isinstance(module, (CrossAttention, MemoryEfficientCrossAttention))


def use_sdpa_attention(model: nn.Module) -> int:
    """Give every ldm attention module in `model` the SDPA forward; returns how many were changed."""
    count = 0
    for module in model.modules():
        if _is_ldm_attention(module):
            module.forward = types.MethodType(sdpa_cross_attention_forward, module)
            count += 1
    return count


def disable_ldm_checkpointing(model: nn.Module) -> None:
    """Turn off ldm's reentrant CheckpointFunction, which drops gradients of hypernetwork parameters."""
    for module in model.modules():
        if hasattr(module, "use_checkpoint"):
            module.use_checkpoint = False
        if hasattr(module, "checkpoint") and isinstance(module.checkpoint, bool):
            module.checkpoint = False


def attention_widths(model: nn.Module) -> tuple[int, ...]:
    """Context widths entering `to_k`: cross-attention (text) widths first, then self-attention ascending."""
    cross, self_widths = set(), set()
    for name, module in model.named_modules():
        if _is_ldm_attention(module):
            width = int(module.to_k.in_features)
            (cross if name.endswith("attn2") else self_widths).add(width)
    return tuple(sorted(cross)) + tuple(sorted(self_widths - cross))

