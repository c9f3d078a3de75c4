"""PNG alpha as a per-pixel loss weight (the webui's "use PNG alpha channel as loss weight").

The alpha mask is resized to the latent size, shifted so its minimum is 0 and divided by its mean,
so the weighted loss stays comparable to the unweighted one. Unlike the webui, the mask keeps its
orientation on non-square images (the webui hands PIL (h, w) where it wants (w, h), transposing
it), and a uniform mask gives ones instead of a division by zero.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from PIL import Image


def alpha_weight_map(alpha: Optional[Image.Image], latent_hw: tuple[int, int]) -> torch.Tensor:
    """(h, w) float32 weights from an "L" alpha mask at pixel size; ones when `alpha` is None."""
    height, width = latent_hw
    if alpha is None:
        return torch.ones(height, width)
    small = alpha.convert("L").resize((width, height), Image.Resampling.BOX)
    weight = np.asarray(small, dtype=np.float32) / 255.0
    weight = weight - weight.min()
    mean = float(weight.mean())
    if mean <= 1e-8:
        return torch.ones(height, width)
    return torch.from_numpy(weight / mean)


def expand_to_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """(h, w) -> (channels, h, w): the same weight for every latent channel."""
    return weight.unsqueeze(0).expand(channels, *weight.shape)
