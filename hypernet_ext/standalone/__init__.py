"""Offline Stable Diffusion 1.x/2.x host for training and previews (ldm + transformers, no network).

`load_host("tiny")` gives the embedded toy model; `load_host(path)` loads a single-file checkpoint.
"""
from .host import StandaloneHost, load_host
from .unet import build_sd15_unet

__all__ = ["StandaloneHost", "build_sd15_unet", "load_host"]
