"""The diffusion training loss and the keyed noise it uses.

Noise and timesteps of every sample come from a torch.Generator keyed by (seed, global sample
index), so they do not depend on batch size, accumulation or where a run was resumed. Timesteps
are uniform in [0, T). The loss is the MSE between the UNet output and the target (eps or v),
optionally weighted per element, averaged per sample and then over the batch.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from .host import add_noise, training_target
from .keyed_rng import DROPOUT, NOISE, keyed_torch_generator


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def sample_noise(shape: tuple[int, ...], num_timesteps: int, seed: int, first_sample: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(noise (B, ...), timesteps (B,)) on the CPU for samples first_sample .. first_sample+B-1."""
    noises, steps = [], []
    for i in range(shape[0]):
        generator = keyed_torch_generator(seed, NOISE, first_sample + i)
        steps.append(torch.randint(0, num_timesteps, (1,), generator=generator))
        noises.append(torch.randn(tuple(shape[1:]), generator=generator, dtype=torch.float32))
    return torch.stack(noises), torch.cat(steps)


def seed_dropout(seed: int, micro_step: int) -> None:
    """Seed torch's global RNG (all devices) so dropout masks are a function of (seed, micro step)."""
    generator = keyed_torch_generator(seed, DROPOUT, micro_step)
    torch.manual_seed(int(generator.initial_seed()))


def autocast_context(precision: str, device: torch.device):
    """bf16/fp16 autocast on the host device, or nothing for fp32."""
    if precision not in AUTOCAST_DTYPES:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=AUTOCAST_DTYPES[precision])


def per_sample_loss(prediction: torch.Tensor, target: torch.Tensor,
                    weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean squared error per sample (B,), in float32, optionally weighted per element."""
    error = (prediction.float() - target.float()) ** 2
    if weight is not None:
        error = error * weight.to(device=error.device, dtype=error.dtype)
    return error.flatten(1).mean(dim=1)


def diffusion_loss(host, latents: torch.Tensor, cond: torch.Tensor, seed: int, first_sample: int,
                   weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean loss of one batch: noise it, run the UNet, compare with the target (eps or v)."""
    latents = latents.to(device=host.device, dtype=torch.float32)
    noise, timesteps = sample_noise(tuple(latents.shape), int(host.alphas_cumprod.shape[0]), seed, first_sample)
    noise, timesteps = noise.to(latents.device), timesteps.to(latents.device)
    noisy = add_noise(host, latents, noise, timesteps)
    target = training_target(host, latents, noise, timesteps)
    prediction = host.predict(noisy, timesteps, cond)
    return per_sample_loss(prediction, target, weight).mean()
