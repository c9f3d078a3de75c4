"""Model structure of an SD 1.x / 2.x checkpoint, inferred from its state dict's keys and shapes.

Rules (one per field):
- family: "sd2" when the text encoder is OpenCLIP (`cond_stage_model.model.*`), "sd1" for
  transformers CLIP (`cond_stage_model.transformer.*`). SDXL, inpainting and other UNets are refused.
- UNet: model_channels from the first conv, one level per Downsample op, res blocks and attention
  per level from `input_blocks.N`, context_dim from `attn2.to_k`, linear projections from the rank
  of `proj_in`. Heads follow the family: SD1 uses 8 heads, SD2 uses 64 channels per head.
- Text encoder: width, layers, MLP width, vocabulary and positions from the tensors; 64 channels
  per head (CLIP-L: 12 heads, OpenCLIP ViT-H: 16).
- VAE: base channels, channel multipliers, res blocks, latent channels and attention levels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import torch

from ..errors import HypernetError

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_TEXT_PREFIX = "cond_stage_model.transformer."
SD2_TEXT_PREFIX = "cond_stage_model.model."
VAE_SCALE_FACTOR = 0.18215
SD1_HEADS = 8
SD2_HEAD_CHANNELS = 64
TEXT_HEAD_CHANNELS = 64


class UnsupportedModelError(HypernetError):
    """The checkpoint is a model family or variant the standalone host cannot train on."""


@dataclass(frozen=True)
class UNetConfig:
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[int, ...]
    context_dim: int
    num_heads: int = -1
    num_head_channels: int = -1
    use_linear_in_transformer: bool = False
    transformer_depth: int = 1
    in_channels: int = 4
    out_channels: int = 4

    def ldm_kwargs(self) -> dict:
        """Keyword arguments for `ldm.modules.diffusionmodules.openaimodel.UNetModel`."""
        return dict(
            image_size=32, in_channels=self.in_channels, out_channels=self.out_channels,
            model_channels=self.model_channels, num_res_blocks=self.num_res_blocks,
            attention_resolutions=[2 ** level for level in self.attention_levels],
            channel_mult=list(self.channel_mult), num_heads=self.num_heads,
            num_head_channels=self.num_head_channels, use_spatial_transformer=True,
            transformer_depth=self.transformer_depth, context_dim=self.context_dim,
            use_linear_in_transformer=self.use_linear_in_transformer, legacy=False,
            use_checkpoint=False, use_fp16=False)


@dataclass(frozen=True)
class VAEConfig:
    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    latent_channels: int = 4
    attention_levels: tuple[int, ...] = ()
    scale_factor: float = VAE_SCALE_FACTOR

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)


@dataclass(frozen=True)
class TextEncoderConfig:
    width: int = 768
    layers: int = 12
    mlp_width: int = 3072
    vocab_size: int = 49408
    positions: int = 77
    openclip: bool = False

    @property
    def heads(self) -> int:
        return max(1, self.width // TEXT_HEAD_CHANNELS)


@dataclass(frozen=True)
class ModelConfig:
    family: str  # "sd1" or "sd2"
    unet: UNetConfig
    vae: VAEConfig
    text: TextEncoderConfig
    extra: dict = field(default_factory=dict, compare=False)


def _indices(keys, pattern: str) -> list[int]:
    found = {int(m.group(1)) for key in keys if (m := re.match(pattern, key))}
    return sorted(found)


def _refuse_unknown(state_dict: Mapping[str, torch.Tensor]) -> None:
    keys = state_dict.keys()
    if any(k.startswith("conditioner.embedders.") for k in keys) or f"{UNET_PREFIX}label_emb.0.0.weight" in state_dict:
        raise UnsupportedModelError(
            "SDXL training is not supported by the standalone host yet; train on an SD 1.x or SD 2.x "
            "checkpoint, or use the webui host")
    if f"{UNET_PREFIX}input_blocks.0.0.weight" not in state_dict:
        raise UnsupportedModelError(
            "no Stable Diffusion UNet (model.diffusion_model.*) found in this file; pass an SD 1.x or "
            "SD 2.x single-file checkpoint (.safetensors or .ckpt), not a LoRA, VAE or diffusers folder")
    if not any(k.startswith(SD1_TEXT_PREFIX) or k.startswith(SD2_TEXT_PREFIX) for k in keys):
        raise UnsupportedModelError(
            "the checkpoint has no CLIP text encoder (cond_stage_model.*); use a full SD 1.x/2.x checkpoint")
    if not any(k.startswith(VAE_PREFIX + "decoder.") for k in keys):
        raise UnsupportedModelError("the checkpoint has no VAE (first_stage_model.*); use a full checkpoint")


def infer_unet_config(sd: Mapping[str, torch.Tensor], family: str) -> UNetConfig:
    """UNet structure from `model.diffusion_model.*` keys (see the module docstring)."""
    p = UNET_PREFIX
    first = sd[f"{p}input_blocks.0.0.weight"]
    model_channels, in_channels = int(first.shape[0]), int(first.shape[1])
    if in_channels != 4:
        raise UnsupportedModelError(
            f"the UNet takes {in_channels} input channels (an inpainting or depth model); hypernetwork "
            "training needs a plain txt2img SD 1.x/2.x checkpoint")
    level, blocks, mults, attention = 0, {}, {}, set()
    for n in _indices(sd, re.escape(p) + r"input_blocks\.(\d+)\.")[1:]:
        if f"{p}input_blocks.{n}.0.op.weight" in sd:
            level += 1
            continue
        blocks[level] = blocks.get(level, 0) + 1
        mults[level] = int(sd[f"{p}input_blocks.{n}.0.out_layers.3.weight"].shape[0]) // model_channels
        if f"{p}input_blocks.{n}.1.proj_in.weight" in sd:
            attention.add(level)
    if len(set(blocks.values())) != 1:
        raise UnsupportedModelError(f"uneven res blocks per level {blocks} are not an SD 1.x/2.x UNet")
    k_weights = [v for k, v in sd.items() if k.startswith(p) and k.endswith("attn2.to_k.weight")]
    depths = _indices(sd, re.escape(p) + r"middle_block\.1\.transformer_blocks\.(\d+)\.")
    proj_in = sd.get(f"{p}middle_block.1.proj_in.weight")
    if not k_weights or proj_in is None:
        raise UnsupportedModelError("the UNet has no cross-attention transformer blocks; not an SD 1.x/2.x model")
    heads = dict(num_heads=SD1_HEADS) if family == "sd1" else dict(num_head_channels=SD2_HEAD_CHANNELS)
    return UNetConfig(
        model_channels=model_channels, channel_mult=tuple(mults[i] for i in sorted(mults)),
        num_res_blocks=next(iter(blocks.values())), attention_levels=tuple(sorted(attention)),
        context_dim=int(k_weights[0].shape[1]), use_linear_in_transformer=proj_in.dim() == 2,
        transformer_depth=len(depths) or 1, in_channels=in_channels,
        out_channels=int(sd[f"{p}out.2.weight"].shape[0]), **heads)


def infer_vae_config(sd: Mapping[str, torch.Tensor]) -> VAEConfig:
    """VAE structure from `first_stage_model.encoder.*` keys."""
    p = VAE_PREFIX + "encoder."
    base = int(sd[f"{p}conv_in.weight"].shape[0])
    levels = _indices(sd, re.escape(p) + r"down\.(\d+)\.")
    mult = tuple(int(sd[f"{p}down.{i}.block.0.conv2.weight"].shape[0]) // base for i in levels)
    return VAEConfig(
        base_channels=base, channel_mult=mult,
        num_res_blocks=len(_indices(sd, re.escape(p) + r"down\.0\.block\.(\d+)\.")),
        latent_channels=int(sd[VAE_PREFIX + "decoder.conv_in.weight"].shape[1]),
        attention_levels=tuple(i for i in levels if f"{p}down.{i}.attn.0.q.weight" in sd))


def infer_text_config(sd: Mapping[str, torch.Tensor], family: str) -> TextEncoderConfig:
    """Text encoder structure from CLIP (SD1) or OpenCLIP (SD2) keys."""
    if family == "sd2":
        p = SD2_TEXT_PREFIX
        tokens, positions = sd[f"{p}token_embedding.weight"], sd[f"{p}positional_embedding"]
        layers = _indices(sd, re.escape(p) + r"transformer\.resblocks\.(\d+)\.")
        mlp = sd[f"{p}transformer.resblocks.0.mlp.c_fc.weight"]
    else:
        p = SD1_TEXT_PREFIX + ("text_model." if any(k.startswith(SD1_TEXT_PREFIX + "text_model.") for k in sd) else "")
        tokens = sd[f"{p}embeddings.token_embedding.weight"]
        positions = sd[f"{p}embeddings.position_embedding.weight"]
        layers = _indices(sd, re.escape(p) + r"encoder\.layers\.(\d+)\.")
        mlp = sd[f"{p}encoder.layers.0.mlp.fc1.weight"]
    return TextEncoderConfig(width=int(tokens.shape[1]), layers=len(layers), mlp_width=int(mlp.shape[0]),
                             vocab_size=int(tokens.shape[0]), positions=int(positions.shape[0]),
                             openclip=family == "sd2")


def infer_model_config(state_dict: Mapping[str, torch.Tensor]) -> ModelConfig:
    """The full model structure of an SD 1.x / 2.x checkpoint state dict (raises UnsupportedModelError)."""
    _refuse_unknown(state_dict)
    family = "sd2" if any(k.startswith(SD2_TEXT_PREFIX) for k in state_dict) else "sd1"
    try:
        return ModelConfig(family=family, unet=infer_unet_config(state_dict, family),
                           vae=infer_vae_config(state_dict), text=infer_text_config(state_dict, family))
    except KeyError as error:
        raise UnsupportedModelError(f"the checkpoint lacks the tensor {error.args[0]!r} that every SD "
                                    f"{family[-1]}.x checkpoint has; the file is incomplete or another "
                                    "architecture") from error
