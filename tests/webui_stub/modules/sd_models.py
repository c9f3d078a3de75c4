"""Stand-in of the webui's loaded model: a tiny real ldm UNet + VAE + byte-level text encoder.

`TinyLatentDiffusion` carries the LatentDiffusion surface the extension uses
(`model.diffusion_model`, `apply_model`, `encode_first_stage`, `get_first_stage_encoding`,
`decode_first_stage`, `cond_stage_model`, `alphas_cumprod`, `parameterization`, `scale_factor`)
and the webui's extra fields (`sd_model_hash`, `sd_checkpoint_info`, `is_sdxl`, ...).
"""
from __future__ import annotations

import torch
from torch import nn

TEXT_WIDTH = 768
MODEL_CHANNELS = 32
TOKENS = 77


class CheckpointInfo:
    def __init__(self, name: str, shorthash: str):
        self.name = self.title = self.name_for_extra = name
        self.shorthash = shorthash
        self.filename = f"/models/Stable-diffusion/{name}.safetensors"


class ByteTextEncoder(nn.Module):
    """Stands in for FrozenCLIPEmbedderWithCustomWords: list of prompts -> (B, 77, width)."""

    def __init__(self, width: int = TEXT_WIDTH):
        super().__init__()
        self.embedding = nn.Embedding(256, width)

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids = torch.zeros(len(texts), TOKENS, dtype=torch.long)
        for row, text in enumerate(texts):
            data = list(text.encode("utf-8"))[:TOKENS]
            ids[row, :len(data)] = torch.tensor(data, dtype=torch.long)
        return self.embedding(ids.to(self.embedding.weight.device))


class TinyAutoencoder(nn.Module):
    """ldm's Encoder/Decoder with the AutoencoderKL encode/decode surface."""

    def __init__(self):
        super().__init__()
        from ldm.modules.diffusionmodules.model import Decoder, Encoder
        ddconfig = dict(double_z=True, z_channels=4, resolution=32, in_channels=3, out_ch=3, ch=32,
                        ch_mult=(1, 1, 1, 1), num_res_blocks=1, attn_resolutions=(), dropout=0.0)
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quant_conv = nn.Conv2d(8, 8, 1)
        self.post_quant_conv = nn.Conv2d(4, 4, 1)

    def encode(self, x):
        from ldm.modules.distributions.distributions import DiagonalGaussianDistribution
        return DiagonalGaussianDistribution(self.quant_conv(self.encoder(x)))

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


class DiffusionWrapper(nn.Module):
    def __init__(self, unet: nn.Module):
        super().__init__()
        self.diffusion_model = unet

    def forward(self, x, t, c_crossattn=None):
        return self.diffusion_model(x, t, context=torch.cat(c_crossattn, 1))


def tiny_unet(context_dim: int = TEXT_WIDTH) -> nn.Module:
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    return UNetModel(image_size=8, in_channels=4, out_channels=4, model_channels=MODEL_CHANNELS,
                     attention_resolutions=(1, 2), num_res_blocks=1, channel_mult=(1, 2), num_heads=2,
                     use_spatial_transformer=True, transformer_depth=1, context_dim=context_dim,
                     legacy=False)


class TinyLatentDiffusion(nn.Module):
    parameterization = "eps"
    conditioning_key = "crossattn"
    latent_channels = 4

    def __init__(self, name: str = "tiny-sd1", shorthash: str = "0123456789", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.model = DiffusionWrapper(tiny_unet())
        self.first_stage_model = TinyAutoencoder()
        self.cond_stage_model = ByteTextEncoder()
        self.scale_factor = 0.18215
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, 0).float())
        self.sd_model_hash = shorthash
        self.sd_model_checkpoint = f"/models/Stable-diffusion/{name}.safetensors"
        self.sd_checkpoint_info = CheckpointInfo(name, shorthash)
        self.is_sdxl = self.is_ssd = self.is_sd2 = self.is_sd3 = False
        self.is_sd1 = True
        self.lowvram = False
        _randomize_zero_weights(self, seed)
        self.eval().requires_grad_(False)

    def apply_model(self, x_noisy, t, cond):
        if not isinstance(cond, dict):
            cond = {"c_crossattn": [cond]}
        return self.model(x_noisy, t, **cond)

    def encode_first_stage(self, x):
        return self.first_stage_model.encode(x)

    def get_first_stage_encoding(self, encoder_posterior):
        z = encoder_posterior if isinstance(encoder_posterior, torch.Tensor) else encoder_posterior.sample()
        return self.scale_factor * z

    def decode_first_stage(self, z):
        return self.first_stage_model.decode(z / self.scale_factor)

    def get_learned_conditioning(self, texts):
        return self.cond_stage_model(texts)


def _randomize_zero_weights(module: nn.Module, seed: int) -> None:
    """ldm zero-initialises output projections; random values make attention reach the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("weight") and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)


def load_tiny_model(model: nn.Module | None = None, **kwargs) -> TinyLatentDiffusion:
    """Build (or take) the tiny model, install the webui's attention hijack, fire `model_loaded`."""
    from modules import script_callbacks, sd_hijack, shared
    model = TinyLatentDiffusion(**kwargs) if model is None else model
    sd_hijack.model_hijack.hijack(model)
    shared.sd_model = model
    script_callbacks.model_loaded_callback(model)
    return model


def reload_model_weights(sd_model=None, info=None):
    return shared_model()


def shared_model():
    from modules import shared
    return shared.sd_model
