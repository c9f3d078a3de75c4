"""The embedded `tiny-sdxl` model: SDXL architecture at toy sizes with seeded random weights.

Two text towers whose penultimate states concatenate to the real 2048 width (CLIP-L 768 + bigG
1280, two layers each, real 49408-token vocabulary), the pooled bigG vector with projection (1280),
the six size embeddings (adm width 2816 as in SDXL), an SDXL-style UNet (no attention on the first
level, deeper transformers on the last) at widths 32/64/128, and the SD VAE structure at toy width.
Exported in the single-file sgm key layout and loaded back through the same loader as any SDXL file.
Attention widths: (2048, 64, 128), so real SDXL hypernetworks' 2048 text layers apply.
"""
from __future__ import annotations

import torch

from .model_config import UNET_PREFIX, VAE_PREFIX, VAEConfig
from .sdxl_checkpoint import SDXL_VAE_SCALE_FACTOR, SDXLModelConfig, SDXLTextConfig, SDXLUNetConfig, \
    build_sdxl_unet, diffusers_to_sgm_unet
from .sdxl_text import SDXLTextEncoder, build_text_towers, sdxl_text_checkpoint_weights
from .tiny import _randomize
from .vae import LatentAutoencoder

TINY_SDXL = SDXLModelConfig(
    unet=SDXLUNetConfig(model_channels=32, channel_mult=(1, 2, 4), num_res_blocks=1, transformer_depth=(0, 1, 2)),
    vae=VAEConfig(base_channels=32, channel_mult=(1, 1, 2, 2), num_res_blocks=1, latent_channels=4,
                  scale_factor=SDXL_VAE_SCALE_FACTOR),
    text=SDXLTextConfig(clip_l_layers=2, clip_l_mlp=1536, bigg_layers=2, bigg_mlp=2560))
TINY_SDXL_IMAGE_SIZE = 64


def _clip_l_last_layer(config: SDXLTextConfig) -> dict[str, torch.Tensor]:
    """Weights of CLIP-L's last layer: present in every SDXL file, never run (the penultimate state is used)."""
    full, _ = build_text_towers(SDXLTextConfig(clip_l_width=config.clip_l_width, clip_l_layers=config.clip_l_layers + 1,
                                               clip_l_mlp=config.clip_l_mlp, bigg_width=64, bigg_layers=1,
                                               bigg_mlp=64, projection=64, vocab_size=8, positions=config.positions))
    last = f"text_model.encoder.layers.{config.clip_l_layers - 1}."
    return {k: v for k, v in full.state_dict().items() if k.startswith(last)}


def tiny_sdxl_checkpoint(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict in the sgm SDXL key layout, safetensors metadata), deterministic in `seed`."""
    config = TINY_SDXL
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = _randomize(build_sdxl_unet(config.unet))
        vae = _randomize(LatentAutoencoder(config.vae))
        text = SDXLTextEncoder(config.text)
        last_layer = _clip_l_last_layer(config.text)
    weights = {UNET_PREFIX + k: v for k, v in diffusers_to_sgm_unet(unet.state_dict(), config.unet).items()}
    weights.update({VAE_PREFIX + k: v for k, v in vae.state_dict().items()})
    weights.update(sdxl_text_checkpoint_weights(text, last_layer))
    metadata = {"modelspec.architecture": "stable-diffusion-xl-v1-base"}
    return {k: v.detach().contiguous() for k, v in weights.items()}, metadata
