"""ldm UNets prepared for hypernetwork training: SDPA attention, no reentrant checkpointing, frozen."""
from __future__ import annotations

import contextlib
import io
from typing import Union

import torch
from torch import nn

from .attention import disable_ldm_checkpointing, use_sdpa_attention
from .model_config import UNetConfig

SD15_UNET = UNetConfig(model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                       attention_levels=(0, 1, 2), context_dim=768, num_heads=8)
SD21_UNET = UNetConfig(model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                       attention_levels=(0, 1, 2), context_dim=1024, num_head_channels=64,
                       use_linear_in_transformer=True)


def build_unet(config: UNetConfig) -> nn.Module:
    """An ldm `UNetModel` for `config` with SDPA attention and ldm checkpointing off.

    Weights come from the default initialisation (use a `torch.device` context to build on meta/GPU).
    """
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    with contextlib.redirect_stdout(io.StringIO()):
        unet = UNetModel(**config.ldm_kwargs())
    use_sdpa_attention(unet)
    disable_ldm_checkpointing(unet)
    return unet


def freeze(module: nn.Module) -> nn.Module:
    """requires_grad False on every parameter and eval mode."""
    module.requires_grad_(False)
    return module.eval()


def build_sd15_unet(device: Union[str, torch.device] = "cpu", dtype: torch.dtype = torch.float32,
                    seed: int = 0) -> nn.Module:
    """A frozen SD 1.5-shaped UNet (random weights, real shapes) for benchmarks."""
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        unet = build_unet(SD15_UNET)
    return freeze(unet.to(dtype=dtype))


@torch.no_grad()
def predicts_v(unet: nn.Module, context_dim: int) -> bool:
    """Numeric parameterisation test for SD2 UNets (the webui decides the same way).

    At the last timestep the input is almost pure noise, so an eps model returns about its input,
    while a v model returns about minus the clean image; for a constant 0.5 latent and constant 0.5
    conditioning, real v weights give mean(output - input) far below -1.
    """
    param = next(unet.parameters())
    x = torch.full((1, 4, 8, 8), 0.5, device=param.device, dtype=torch.float32)
    context = torch.full((1, 2, context_dim), 0.5, device=param.device, dtype=torch.float32)
    t = torch.tensor([999], device=param.device)
    with torch.autocast(param.device.type, dtype=param.dtype, enabled=param.dtype != torch.float32):
        out = unet(x, t, context=context).float()
    return (out - x).mean().item() < -1.0
