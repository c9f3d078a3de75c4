"""The KL autoencoder (SD's `first_stage_model`) built from ldm's Encoder/Decoder modules."""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

from .model_config import VAEConfig

_RESOLUTION = 256  # ldm's nominal resolution; only used to place attention levels


class LatentAutoencoder(nn.Module):
    """encoder/quant_conv/post_quant_conv/decoder with the same names as SD's `first_stage_model`."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        with contextlib.redirect_stdout(io.StringIO()):  # ldm prints a line about xformers on import
            from ldm.modules.diffusionmodules.model import Decoder, Encoder

        z = config.latent_channels
        kwargs = dict(ch=config.base_channels, out_ch=3, ch_mult=tuple(config.channel_mult),
                      num_res_blocks=config.num_res_blocks, in_channels=3, resolution=_RESOLUTION,
                      attn_resolutions=[_RESOLUTION // 2 ** level for level in config.attention_levels],
                      z_channels=z, dropout=0.0)
        with contextlib.redirect_stdout(io.StringIO()):  # ldm prints one line per attention block
            self.encoder = Encoder(double_z=True, **kwargs)
            self.decoder = Decoder(**kwargs)
        self.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.post_quant_conv = nn.Conv2d(z, z, 1)
        self.config = config
        self.scale_factor = config.scale_factor

    def encode_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, 3, H, W) in [-1, 1] -> latent (mean, std), both times the scale factor."""
        moments = self.quant_conv(self.encoder(pixels))
        mean, logvar = torch.chunk(moments, 2, dim=1)
        std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
        return mean * self.scale_factor, std * self.scale_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> pixels in [-1, 1] (clamped)."""
        pixels = self.decoder(self.post_quant_conv(latents / self.scale_factor))
        return pixels.clamp(-1.0, 1.0)
