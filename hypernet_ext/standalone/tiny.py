"""The embedded `tiny` model: SD-1 architecture at toy widths with seeded random weights.

Same code paths as a real checkpoint (ldm UNet and VAE, transformers CLIP text encoder, CLIP
tokenizer with the real 49408-token vocabulary), built deterministically in about a second on a CPU.
Its attention widths are (768, 32, 64, 128): 768-wide text context, so real SD1 hypernetworks
apply. `tiny_checkpoint("sd2")` gives an SD2-shaped variant (OpenCLIP keys, linear projections,
v-prediction) for tests. Weights are exported with real checkpoint key names and loaded back through
the same loader as any file.
"""
from __future__ import annotations

import os
from typing import Union

import torch
from torch import nn

from ..atomic_files import atomic_write
from ..errors import HypernetworkFileError, InvalidOptionError
from .model_config import (SD1_TEXT_PREFIX, SD2_TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX, ModelConfig,
                           TextEncoderConfig, UNetConfig, VAEConfig)
from .text_encoder import TextEncoder, hf_to_openclip_weights
from .unet import build_unet
from .vae import LatentAutoencoder

TINY_VAE = VAEConfig(base_channels=32, channel_mult=(1, 1, 2, 2), num_res_blocks=1, latent_channels=4)
TINY_SD1 = ModelConfig(
    family="sd1",
    unet=UNetConfig(model_channels=32, channel_mult=(1, 2, 4), num_res_blocks=1, attention_levels=(0, 1, 2),
                    context_dim=768, num_heads=8),
    vae=TINY_VAE, text=TextEncoderConfig(width=768, layers=2, mlp_width=1536))
TINY_SD2 = ModelConfig(
    family="sd2",
    unet=UNetConfig(model_channels=64, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(0, 1),
                    context_dim=256, num_head_channels=64, use_linear_in_transformer=True),
    vae=TINY_VAE, text=TextEncoderConfig(width=256, layers=3, mlp_width=1024, openclip=True))
TINY_CONFIGS = {"sd1": TINY_SD1, "sd2": TINY_SD2}
TINY_IMAGE_SIZE = 64


def _randomize(module: nn.Module) -> nn.Module:
    """Re-run default init on every layer, so ldm's zero-initialised output layers are not zero."""
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()
    return module


def _sd1_text_checkpoint_weights(text: TextEncoder) -> dict[str, torch.Tensor]:
    weights = {SD1_TEXT_PREFIX + k: v for k, v in text.transformer.state_dict().items()}
    positions = text.config.positions
    weights[SD1_TEXT_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(positions)[None]
    return weights


def _sd2_text_checkpoint_weights(text: TextEncoder, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """OpenCLIP names, plus what real SD2 files carry but SD2 never runs (last layer, projection)."""
    weights = hf_to_openclip_weights(text.transformer.state_dict())
    width, last = text.config.width, text.config.layers - 1
    for key, value in list(weights.items()):
        if key.startswith(f"{SD2_TEXT_PREFIX}transformer.resblocks.0."):
            unused = key.replace("resblocks.0.", f"resblocks.{last}.")
            weights[unused] = torch.randn(value.shape, generator=generator) * 0.02
    weights[SD2_TEXT_PREFIX + "text_projection"] = torch.randn((width, width), generator=generator) * 0.02
    weights[SD2_TEXT_PREFIX + "logit_scale"] = torch.tensor(4.6052)
    return weights


def tiny_checkpoint(family: str = "sd1", seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict with SD checkpoint key names, safetensors metadata) of a tiny model, deterministic in seed."""
    if family not in TINY_CONFIGS:
        raise InvalidOptionError(f"tiny family {family!r} is not one of {tuple(TINY_CONFIGS)}")
    config = TINY_CONFIGS[family]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = _randomize(build_unet(config.unet))
        vae = _randomize(LatentAutoencoder(config.vae))
        text = TextEncoder(config.text)
        generator = torch.Generator().manual_seed(seed + 1)
    weights = {UNET_PREFIX + k: v for k, v in unet.state_dict().items()}
    weights.update({VAE_PREFIX + k: v for k, v in vae.state_dict().items()})
    if family == "sd2":
        weights.update(_sd2_text_checkpoint_weights(text, generator))
        metadata = {"modelspec.prediction_type": "v", "modelspec.architecture": "stable-diffusion-v2-768-v"}
    else:
        weights.update(_sd1_text_checkpoint_weights(text))
        metadata = {"modelspec.architecture": "stable-diffusion-v1"}
    return {k: v.detach().contiguous() for k, v in weights.items()}, metadata


def write_checkpoint(path: Union[str, os.PathLike], state_dict: dict[str, torch.Tensor],
                     metadata: dict[str, str] | None = None, *, overwrite: bool = False) -> str:
    """Write a single-file checkpoint atomically: `.safetensors` (with metadata) or `.ckpt` (torch.save)."""
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise HypernetworkFileError(f"{path} already exists; pass overwrite=True or choose another name")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".safetensors", ".ckpt"):
        raise InvalidOptionError(f"checkpoint suffix {suffix!r} is not .safetensors or .ckpt")
    if suffix == ".safetensors":
        from safetensors.torch import save as safetensors_bytes

        data = safetensors_bytes(state_dict, metadata=metadata or {})
        atomic_write(path, lambda f: f.write(data))
    else:
        atomic_write(path, lambda f: torch.save({"state_dict": state_dict, "global_step": 0}, f))
    return path
