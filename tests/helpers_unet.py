"""Tiny real ldm UNets (and helpers to call them) for tests that need an attention UNet."""
from __future__ import annotations

import torch
from torch import nn

TINY_CONTEXT_DIM = 48
TINY_MODEL_CHANNELS = 32


def tiny_ldm_unet(context_dim: int = TINY_CONTEXT_DIM, model_channels: int = TINY_MODEL_CHANNELS,
                  channel_mult=(1, 2), seed: int = 0, use_checkpoint: bool = False,
                  dtype: torch.dtype = torch.float32) -> nn.Module:
    """A small `ldm` `UNetModel` with spatial transformers and randomised (non-zero) weights.

    Widths: cross-attention `context_dim`, self-attention `model_channels * mult` per level
    (32 and 64 by default). Every zero-initialised projection (ldm zero-inits `proj_out` and the
    output conv) gets random weights so attention changes the output. Returned in eval mode.
    """
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    torch.manual_seed(seed)
    unet = UNetModel(image_size=8, in_channels=4, model_channels=model_channels, out_channels=4,
                     num_res_blocks=1, attention_resolutions=(1, 2), channel_mult=tuple(channel_mult),
                     num_head_channels=16, use_spatial_transformer=True, transformer_depth=1,
                     context_dim=context_dim, use_checkpoint=use_checkpoint, legacy=False)
    randomize_zero_parameters(unet, seed)
    return unet.to(dtype).eval()


def randomize_zero_parameters(module: nn.Module, seed: int = 0, std: float = 0.05) -> None:
    """Give every all-zero weight tensor random values (deterministic for a seed)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("weight") and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def unet_inputs(context_dim: int = TINY_CONTEXT_DIM, batch: int = 2, size: int = 8, tokens: int = 7,
                seed: int = 1, dtype: torch.dtype = torch.float32):
    """`(latents, timesteps, context)` matching `tiny_ldm_unet`."""
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 4, size, size, generator=generator).to(dtype)
    timesteps = torch.tensor([10, 500][:batch] + [999] * max(0, batch - 2))
    context = torch.randn(batch, tokens, context_dim, generator=generator).to(dtype)
    return latents, timesteps, context


def run_unet(unet: nn.Module, inputs) -> torch.Tensor:
    latents, timesteps, context = inputs
    return unet(latents, timesteps=timesteps, context=context)


def all_hooks(module: nn.Module) -> list:
    """Every forward (pre-)hook installed anywhere in `module`."""
    return [h for m in module.modules() for h in (*m._forward_pre_hooks.values(), *m._forward_hooks.values())]


def count_calls(module: nn.Module) -> list:
    """A list that grows by one at each forward of `module`."""
    calls = []
    module.register_forward_hook(lambda *a: calls.append(1))
    return calls
