"""Random streams keyed by (seed, ...): the same key always gives the same numbers.

Training must resume exactly, so nothing in the data pipeline draws from a global RNG or depends on
how many numbers were drawn before. Every decision (epoch order, template line, tag shuffle and
dropout, flip, latent noise, training noise, hypernetwork dropout) gets its own stream from
`keyed_rng(seed, PURPOSE, *keys)` (keys such as epoch or sample number). Every purpose code is
declared here, so no two decisions can share a stream by accident; changing one changes what a
resumed run draws, so they never change.
"""
from __future__ import annotations

import numpy as np
import torch

# Purpose codes: distinct streams for distinct decisions made with the same (seed, keys).
ORDER = 1
BATCH_ORDER = 2
PADDING = 3
TEMPLATE_LINE = 4
TAGS = 5
FLIP = 6
LATENT_NOISE = 7
ONCE_NOISE = 8
NOISE = 101      # the training loss: diffusion noise and timestep per sample
DROPOUT = 102    # the hypernetwork's dropout per micro step
STREAMS = {"ORDER": ORDER, "BATCH_ORDER": BATCH_ORDER, "PADDING": PADDING, "TEMPLATE_LINE": TEMPLATE_LINE, "TAGS": TAGS,
           "FLIP": FLIP, "LATENT_NOISE": LATENT_NOISE, "ONCE_NOISE": ONCE_NOISE, "NOISE": NOISE, "DROPOUT": DROPOUT}

_MASK64 = (1 << 64) - 1


def _entropy(seed: int, keys: tuple[int, ...]) -> list[int]:
    return [int(seed) & _MASK64, *(int(k) & _MASK64 for k in keys)]


def keyed_rng(seed: int, *keys: int) -> np.random.Generator:
    """A numpy Generator that depends only on `seed` and `keys` (non-negative after masking)."""
    return np.random.default_rng(np.random.SeedSequence(_entropy(seed, keys)))


def keyed_torch_generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU torch.Generator seeded from `seed` and `keys` (same numbers on every machine)."""
    state = np.random.SeedSequence(_entropy(seed, keys)).generate_state(1, np.uint64)[0]
    return torch.Generator(device="cpu").manual_seed(int(state) & ((1 << 63) - 1))


def keyed_normal(shape: tuple[int, ...], seed: int, *keys: int) -> torch.Tensor:
    """Standard normal float32 noise on the CPU, a pure function of (shape, seed, keys)."""
    return torch.randn(shape, generator=keyed_torch_generator(seed, *keys), dtype=torch.float32)
