"""Shared tiny standalone models for tests: cached hosts and checkpoint files written to disk."""
from __future__ import annotations

import os
from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def tiny_host():
    """The embedded tiny SD1 host (cached: treat it as read-only)."""
    from hypernet_ext.standalone import load_host

    return load_host("tiny")


@lru_cache(maxsize=2)
def tiny_weights(family: str = "sd1"):
    """(state dict, metadata) of the tiny model of `family` with checkpoint key names (read-only)."""
    from hypernet_ext.standalone.tiny import tiny_checkpoint

    return tiny_checkpoint(family)


def write_tiny_checkpoint(folder, family: str = "sd1", suffix: str = ".safetensors",
                          metadata: dict | None = None, name: str | None = None) -> str:
    """Write the tiny model of `family` to `folder/<name><suffix>`; `metadata` None keeps the default."""
    from hypernet_ext.standalone.tiny import write_checkpoint

    weights, default_metadata = tiny_weights(family)
    path = os.path.join(os.fspath(folder), (name or f"tiny-{family}") + suffix)
    return write_checkpoint(path, dict(weights), default_metadata if metadata is None else metadata)


def sample_inputs(host, batch: int = 2, seed: int = 0):
    """(noisy latents, timesteps, conditioning) fitting `host` at 64x64 pixels."""
    generator = torch.Generator().manual_seed(seed)
    side = 64 // host.latent_downscale
    latents = torch.randn((batch, host.latent_channels, side, side), generator=generator)
    timesteps = torch.linspace(10, 900, batch).long()
    cond = host.encode_text([f"a photo of thing {i}" for i in range(batch)])
    return latents, timesteps, cond
