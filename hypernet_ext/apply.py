"""The pure K/V input transform: chain every (hypernetwork, strength) pair over one context."""
from __future__ import annotations

from typing import Iterable, Tuple

import torch

from .hypernetwork import Hypernetwork


def apply_hypernetworks(pairs: Iterable[Tuple[Hypernetwork, float]], context: torch.Tensor
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return `(k_in, v_in)` for a context `[batch, tokens, width]`.

    Hypernetworks are composed in list order (`k = hn2.k(hn1.k(x))`), as the webui does; a
    hypernetwork without a pair for this width passes the context through. Strength is ignored by
    modules in training mode (they use 1), as in the webui.
    """
    width = context.shape[-1]
    k = v = context
    for hypernetwork, strength in pairs:
        pair = hypernetwork.pair(width)
        if pair is None:
            continue
        k = pair.k(k, strength)
        v = pair.v(v, strength)
    return k, v
