"""The host seam: what the trainer needs from a loaded Stable Diffusion model.

The webui glue implements `TrainingHost` on the webui's loaded model; `hypernet_ext.standalone`
implements it offline. The trainer only ever talks to a host through this protocol and the two
helpers below, so every host shares the same noise and target maths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol, runtime_checkable

import torch

from ..errors import InvalidOptionError

if TYPE_CHECKING:  # Pillow is only needed by hosts that render previews
    from PIL import Image

PARAMETERIZATIONS = ("eps", "v")


@dataclass
class PreviewParams:
    """Settings of one preview image rendered during training."""

    prompt: str
    negative_prompt: str = ""
    steps: int = 20
    cfg_scale: float = 7.0
    seed: int = -1
    width: int = 512
    height: int = 512
    sampler: Optional[str] = None


@runtime_checkable
class TrainingHost(Protocol):
    """A frozen Stable Diffusion model the trainer can encode with and predict noise through.

    `alphas_cumprod` is the (T,) float32 noise schedule on the CPU; `attention_widths` lists the
    context widths seen by the UNet's attention layers (text width first, then self-attention
    widths ascending); `model_hash` is the webui short hash (10 hex digits) when known.
    """

    device: torch.device
    dtype: torch.dtype
    unet: torch.nn.Module
    parameterization: str
    alphas_cumprod: torch.Tensor
    attention_widths: tuple[int, ...]
    latent_channels: int
    latent_downscale: int
    model_name: Optional[str]
    model_hash: Optional[str]

    def encode_latent_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, 3, H, W) in [-1, 1] -> (mean, std) of the latent, both times the VAE scale factor."""
        ...

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Captions -> conditioning (B, 77, text width) in the host dtype on the host device."""
        ...

    def predict(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's output (eps or v, per `parameterization`) in the dtype of `noisy_latents`."""
        ...

    def generate_preview(self, params: PreviewParams) -> "Optional[Image.Image]":
        """Render a preview image, or None when this host cannot."""
        ...


def _alpha_bars(host: TrainingHost, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """alphas_cumprod[t] shaped (B, 1, 1, ...) to broadcast against `like`."""
    index = timesteps.detach().to(device="cpu", dtype=torch.long)
    alpha_bar = host.alphas_cumprod.to(torch.float32)[index]
    alpha_bar = alpha_bar.to(device=like.device, dtype=torch.float32)
    return alpha_bar.reshape(-1, *([1] * (like.dim() - 1)))


def add_noise(host: TrainingHost, latents: torch.Tensor, noise: torch.Tensor,
              timesteps: torch.Tensor) -> torch.Tensor:
    """Forward diffusion: sqrt(a_t) * x0 + sqrt(1 - a_t) * noise, in the dtype of `latents`."""
    alpha_bar = _alpha_bars(host, timesteps, latents)
    noisy = alpha_bar.sqrt() * latents.float() + (1.0 - alpha_bar).sqrt() * noise.float()
    return noisy.to(latents.dtype)


def training_target(host: TrainingHost, latents: torch.Tensor, noise: torch.Tensor,
                    timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet should predict: the noise (eps) or v = sqrt(a_t) * noise - sqrt(1 - a_t) * x0."""
    if host.parameterization == "eps":
        return noise
    if host.parameterization == "v":
        alpha_bar = _alpha_bars(host, timesteps, latents)
        target = alpha_bar.sqrt() * noise.float() - (1.0 - alpha_bar).sqrt() * latents.float()
        return target.to(noise.dtype)
    raise InvalidOptionError(f"host parameterization {host.parameterization!r} is not one of "
                             f"{PARAMETERIZATIONS}; the host must set 'eps' or 'v'")
