"""Shared builders for the file-format tests: tiny hypernetworks and hand-made webui-style dicts."""
from __future__ import annotations

import io
import os
from collections import OrderedDict

import torch

from hypernet_ext import create_hypernetwork

SIZES = (16, 8)


def tiny_hypernetwork(seed: int = 0, **options):
    """A small hypernetwork with non-trivial weights (so outputs differ from the identity)."""
    options.setdefault("sizes", SIZES)
    hn = create_hypernetwork(options.pop("name", "tiny"), seed=seed, **options)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in hn.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return hn


def outputs(hn, x_by_width: dict, strength: float = 0.8) -> list[torch.Tensor]:
    """K and V outputs of every width for fixed inputs."""
    hn.eval()
    out = []
    for width, x in x_by_width.items():
        pair = hn.pair(width)
        out += [pair.k(x, strength), pair.v(x, strength)]
    return out


def inputs(sizes=SIZES, seed: int = 5) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {w: torch.randn(2, 3, w, generator=g) for w in sizes}


def linear_sd(indices_and_shapes: dict, seed: int = 0) -> "OrderedDict[str, torch.Tensor]":
    """A webui module state dict: {index: (out, in)} for Linear, {index: (n,)} for LayerNorm."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for index, shape in indices_and_shapes.items():
        sd[f"linear.{index}.weight"] = torch.randn(shape, generator=g) * 0.2
        sd[f"linear.{index}.bias"] = torch.randn(shape[0], generator=g) * 0.2
    return sd


def torch_bytes(obj, zip_format: bool = True) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=zip_format)
    return buffer.getvalue()


class RunsShell:
    """A hostile payload: unpickling it would create `marker` via os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class RunsEval:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)
