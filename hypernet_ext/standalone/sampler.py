"""Deterministic DDIM sampling (eta 0) with classifier-free guidance, for previews and `generate`.

DDIM with eta 0 is the same update as the Euler method in sigma space, so "euler" is accepted as
an alias. Noise comes from a CPU generator seeded by `seed`: the same seed gives the same image on
any device.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from ..errors import InvalidOptionError

SAMPLERS = ("ddim", "euler")
Predict = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def check_sampler(name: Optional[str]) -> str:
    """Normalise a sampler name; None means DDIM."""
    key = (name or "ddim").strip().lower()
    if key not in SAMPLERS:
        raise InvalidOptionError(f"sampler {name!r} is not available in the standalone host; use one of {SAMPLERS}")
    return key


def sampling_timesteps(steps: int, total: int) -> list[int]:
    """`steps` timesteps from total-1 down to 0, evenly spaced."""
    if steps < 1:
        raise InvalidOptionError(f"steps must be at least 1, got {steps}")
    return [int(t) for t in np.linspace(total - 1, 0, min(steps, total)).round()]


def _split_prediction(output: torch.Tensor, x: torch.Tensor, alpha_bar: float,
                      parameterization: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted noise, predicted x0) from the model output at noise level alpha_bar."""
    a, s = alpha_bar ** 0.5, (1.0 - alpha_bar) ** 0.5
    if parameterization == "v":
        return a * output + s * x, a * x - s * output
    return output, (x - s * output) / a


def _guided_pair(predict: Predict, x: torch.Tensor, t: int, cond: torch.Tensor, uncond: torch.Tensor):
    """(uncond output, cond output) in float32: one batch when both have the same number of tokens,
    else two calls (the webui's default when a prompt and its negative need different chunk counts)."""
    if cond.shape[1] == uncond.shape[1]:
        t_batch = torch.full((2 * x.shape[0],), t, device=x.device, dtype=torch.long)
        return predict(torch.cat([x, x]), t_batch, torch.cat([uncond, cond])).float().chunk(2)
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    return predict(x, t_batch, uncond).float(), predict(x, t_batch, cond).float()


@torch.no_grad()
def sample_ddim(predict: Predict, cond: torch.Tensor, uncond: torch.Tensor, alphas_cumprod: torch.Tensor,
                latent_shape: tuple[int, ...], *, steps: int, cfg_scale: float, seed: int,
                parameterization: str, device: torch.device) -> torch.Tensor:
    """Denoise seeded Gaussian latents of `latent_shape` (float32) guided by cond vs uncond."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    x = torch.randn(latent_shape, generator=generator, dtype=torch.float32).to(device)
    schedule = alphas_cumprod.to(torch.float64)
    timesteps = sampling_timesteps(steps, len(schedule))
    for index, t in enumerate(timesteps):
        alpha_bar = float(schedule[t])
        alpha_prev = float(schedule[timesteps[index + 1]]) if index + 1 < len(timesteps) else 1.0
        out_uncond, out_cond = _guided_pair(predict, x, t, cond, uncond)
        output = out_uncond + cfg_scale * (out_cond - out_uncond)
        eps, x0 = _split_prediction(output, x, alpha_bar, parameterization)
        x = alpha_prev ** 0.5 * x0 + (1.0 - alpha_prev) ** 0.5 * eps
    return x


def to_pil(pixels: torch.Tensor):
    """(3, H, W) in [-1, 1] -> RGB PIL image."""
    from PIL import Image

    array = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")
