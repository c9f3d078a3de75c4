"""SDXL single-file checkpoints (the sgm/webui key layout) and their UNet in diffusers' classes.

`ldm` has no SDXL UNet, so the UNet is diffusers' `UNet2DConditionModel` (text-time additional
embedding). The checkpoint stores sgm's `openaimodel.UNetModel` names (`model.diffusion_model.*`);
`unet_key_pairs` lists, from the UNet structure alone, which sgm prefix becomes which diffusers
prefix, and `sgm_to_diffusers_unet` / `diffusers_to_sgm_unet` rename every tensor accordingly (no
tensor is changed: both libraries use the same layers, only the names differ).

Structure rules (`infer_sdxl_unet_config`, one per field): base channels from the first conv; one
level per Downsample op; res blocks per level from `input_blocks.N`; attention levels and
transformer depth per level from `input_blocks.N.1.transformer_blocks.*`; text width from
`attn2.to_k`; pooled + size-embedding width from `label_emb.0.0`. Heads: 64 channels per head, as
every SDXL model uses (at least one head), unless a webui-style `<checkpoint>.yaml` beside the
file says otherwise (`network_config.params.num_head_channels` / `num_heads`, see `sidecar_heads`).
"""
from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from .model_config import UNET_PREFIX, VAE_PREFIX, UnsupportedModelError, VAEConfig, infer_vae_config

CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
BIGG_PREFIX = "conditioner.embedders.1.model."
SDXL_VAE_SCALE_FACTOR = 0.13025
SIZE_EMBED_WIDTH = 256   # each of the 6 size numbers becomes a 256-wide sinusoidal embedding
SIZE_NUMBERS = 6         # original (h, w), crop (top, left), target (h, w)
HEAD_CHANNELS = 64

# Inside a ResBlock the two libraries name the same layers differently.
_RESNET_NAMES = (("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("emb_layers.1.", "time_emb_proj."),
                 ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."), ("skip_connection.", "conv_shortcut."))
_FIXED_PAIRS = (("time_embed.0.", "time_embedding.linear_1."), ("time_embed.2.", "time_embedding.linear_2."),
                ("label_emb.0.0.", "add_embedding.linear_1."), ("label_emb.0.2.", "add_embedding.linear_2."),
                ("input_blocks.0.0.", "conv_in."), ("out.0.", "conv_norm_out."), ("out.2.", "conv_out."))


@dataclass(frozen=True)
class SDXLUNetConfig:
    model_channels: int = 320
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    transformer_depth: tuple[int, ...] = (0, 2, 10)   # 0: no attention at that level
    context_dim: int = 2048
    adm_in_channels: int = 2816
    in_channels: int = 4
    out_channels: int = 4
    head_channels: int = HEAD_CHANNELS   # sgm's num_head_channels (-1: use num_heads)
    num_heads: int = -1

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.model_channels * m for m in self.channel_mult)

    @property
    def pooled_width(self) -> int:
        return self.adm_in_channels - SIZE_NUMBERS * SIZE_EMBED_WIDTH

    def diffusers_kwargs(self) -> dict:
        """Keyword arguments of diffusers' `UNet2DConditionModel` for this structure."""
        attention = [d > 0 for d in self.transformer_depth]
        down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention)
        up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention))
        heads = tuple(self.num_heads if self.head_channels <= 0 else max(1, w // self.head_channels)
                      for w in self.widths)
        return dict(
            sample_size=32, in_channels=self.in_channels, out_channels=self.out_channels,
            down_block_types=down, up_block_types=up, mid_block_type="UNetMidBlock2DCrossAttn",
            block_out_channels=self.widths, layers_per_block=self.num_res_blocks,
            # diffusers' `attention_head_dim` is (for historical reasons) the number of heads per level
            attention_head_dim=heads, cross_attention_dim=self.context_dim,
            transformer_layers_per_block=tuple(max(1, d) for d in self.transformer_depth),
            use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=SIZE_EMBED_WIDTH,
            projection_class_embeddings_input_dim=self.adm_in_channels,
            flip_sin_to_cos=True, freq_shift=0)


SDXL_BASE_UNET = SDXLUNetConfig()


@dataclass(frozen=True)
class SDXLTextConfig:
    """The two text towers: CLIP ViT-L (first) and OpenCLIP bigG (second, with projection)."""

    clip_l_width: int = 768
    clip_l_layers: int = 12
    clip_l_mlp: int = 3072
    bigg_width: int = 1280
    bigg_layers: int = 32
    bigg_mlp: int = 5120
    projection: int = 1280
    vocab_size: int = 49408
    positions: int = 77

    @property
    def context_width(self) -> int:
        return self.clip_l_width + self.bigg_width


@dataclass(frozen=True)
class SDXLModelConfig:
    unet: SDXLUNetConfig
    vae: VAEConfig
    text: SDXLTextConfig
    family: str = "sdxl"


def is_sdxl_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for the sgm SDXL layout: a second text embedder and the UNet's `label_emb` vector input."""
    return (any(k.startswith(BIGG_PREFIX) for k in state_dict)
            and f"{UNET_PREFIX}label_emb.0.0.weight" in state_dict)


def build_sdxl_unet(config: SDXLUNetConfig) -> nn.Module:
    """diffusers' `UNet2DConditionModel` for `config` (default initialisation; use a device context for meta)."""
    with warnings.catch_warnings():  # diffusers warns about CUDA autocast in unrelated modules on import
        warnings.simplefilter("ignore", UserWarning)
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    return UNet2DConditionModel(**config.diffusers_kwargs())


# -- key conversion --------------------------------------------------------------------------

def unet_key_pairs(config: SDXLUNetConfig) -> list[tuple[str, str, bool]]:
    """(sgm prefix, diffusers prefix, is a res block) for every block of the UNet."""
    levels, blocks = len(config.channel_mult), config.num_res_blocks
    attention = [d > 0 for d in config.transformer_depth]
    pairs = [(s, d, False) for s, d in _FIXED_PAIRS]
    n = 1
    for level in range(levels):
        for i in range(blocks):
            pairs.append((f"input_blocks.{n}.0.", f"down_blocks.{level}.resnets.{i}.", True))
            if attention[level]:
                pairs.append((f"input_blocks.{n}.1.", f"down_blocks.{level}.attentions.{i}.", False))
            n += 1
        if level < levels - 1:
            pairs.append((f"input_blocks.{n}.0.op.", f"down_blocks.{level}.downsamplers.0.conv.", False))
            n += 1
    pairs += [("middle_block.0.", "mid_block.resnets.0.", True), ("middle_block.1.", "mid_block.attentions.0.", False),
              ("middle_block.2.", "mid_block.resnets.1.", True)]
    m = 0
    for up in range(levels):
        level = levels - 1 - up
        for i in range(blocks + 1):
            pairs.append((f"output_blocks.{m}.0.", f"up_blocks.{up}.resnets.{i}.", True))
            after = 1
            if attention[level]:
                pairs.append((f"output_blocks.{m}.1.", f"up_blocks.{up}.attentions.{i}.", False))
                after = 2
            if i == blocks and up < levels - 1:
                pairs.append((f"output_blocks.{m}.{after}.conv.", f"up_blocks.{up}.upsamplers.0.conv.", False))
            m += 1
    return pairs


def _rename(key: str, pairs: list[tuple[str, str, bool]], forward: bool) -> str | None:
    best = None
    for sgm, diff, resnet in pairs:
        source, target = (sgm, diff) if forward else (diff, sgm)
        if key.startswith(source) and (best is None or len(source) > len(best[0])):
            best = (source, target, resnet)
    if best is None:
        return None
    source, target, resnet = best
    rest = key[len(source):]
    if resnet:
        for sgm_name, diff_name in _RESNET_NAMES:
            old, new = (sgm_name, diff_name) if forward else (diff_name, sgm_name)
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
    return target + rest


def _convert(weights: Mapping[str, torch.Tensor], config: SDXLUNetConfig, forward: bool) -> dict[str, torch.Tensor]:
    pairs = unet_key_pairs(config)
    out, unknown = {}, []
    for key, value in weights.items():
        name = _rename(key, pairs, forward)
        if name is None:
            unknown.append(key)
        else:
            out[name] = value
    if unknown:
        raise UnsupportedModelError(f"UNet tensors with no SDXL counterpart: {unknown[:3]}"
                                    f"{'...' if len(unknown) > 3 else ''}; not an SDXL UNet")
    return out


def sgm_to_diffusers_unet(weights: Mapping[str, torch.Tensor], config: SDXLUNetConfig) -> dict[str, torch.Tensor]:
    """sgm UNet names (without `model.diffusion_model.`) -> diffusers `UNet2DConditionModel` names."""
    return _convert(weights, config, forward=True)


def diffusers_to_sgm_unet(weights: Mapping[str, torch.Tensor], config: SDXLUNetConfig) -> dict[str, torch.Tensor]:
    """The inverse of `sgm_to_diffusers_unet` (used to write SDXL-layout files)."""
    return _convert(weights, config, forward=False)


# -- structure inference ---------------------------------------------------------------------

def _indices(keys, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for key in keys if (m := re.match(pattern, key))})


def infer_sdxl_unet_config(sd: Mapping[str, torch.Tensor]) -> SDXLUNetConfig:
    """SDXL UNet structure from `model.diffusion_model.*` keys (see the module docstring)."""
    p = UNET_PREFIX
    first = sd[f"{p}input_blocks.0.0.weight"]
    model_channels, in_channels = int(first.shape[0]), int(first.shape[1])
    if in_channels != 4:
        raise UnsupportedModelError(
            f"the UNet takes {in_channels} input channels (an inpainting or other special model); "
            "hypernetwork training needs a plain txt2img SDXL checkpoint")
    level, blocks, mults, depth = 0, {}, {}, {}
    for n in _indices(sd, re.escape(p) + r"input_blocks\.(\d+)\.")[1:]:
        if f"{p}input_blocks.{n}.0.op.weight" in sd:
            level += 1
            continue
        blocks[level] = blocks.get(level, 0) + 1
        mults[level] = int(sd[f"{p}input_blocks.{n}.0.out_layers.3.weight"].shape[0]) // model_channels
        depth[level] = len(_indices(sd, re.escape(f"{p}input_blocks.{n}.1.transformer_blocks.") + r"(\d+)\."))
    if len(set(blocks.values())) != 1:
        raise UnsupportedModelError(f"uneven res blocks per level {blocks} are not an SDXL UNet")
    k_weights = [v for k, v in sd.items() if k.startswith(p) and k.endswith("attn2.to_k.weight")]
    if not k_weights:
        raise UnsupportedModelError("the UNet has no cross-attention blocks; not an SDXL model")
    levels = sorted(mults)
    config = SDXLUNetConfig(
        model_channels=model_channels, channel_mult=tuple(mults[i] for i in levels),
        num_res_blocks=next(iter(blocks.values())), transformer_depth=tuple(depth[i] for i in levels),
        context_dim=int(k_weights[0].shape[1]), adm_in_channels=int(sd[f"{p}label_emb.0.0.weight"].shape[1]),
        in_channels=in_channels, out_channels=int(sd[f"{p}out.2.weight"].shape[0]))
    middle = len(_indices(sd, re.escape(f"{p}middle_block.1.transformer_blocks.") + r"(\d+)\."))
    if middle != config.transformer_depth[-1]:
        raise UnsupportedModelError(f"the middle block has {middle} transformer layers, the last level "
                                    f"{config.transformer_depth[-1]}; this SDXL variant is not supported")
    return config


def infer_sdxl_text_config(sd: Mapping[str, torch.Tensor]) -> SDXLTextConfig:
    """Both text towers' structure from their tensors."""
    lp = CLIP_L_PREFIX + "text_model."
    gp = BIGG_PREFIX
    tokens = sd[f"{lp}embeddings.token_embedding.weight"]
    bigg_tokens = sd[f"{gp}token_embedding.weight"]
    return SDXLTextConfig(
        clip_l_width=int(tokens.shape[1]),
        clip_l_layers=len(_indices(sd, re.escape(lp) + r"encoder\.layers\.(\d+)\.")),
        clip_l_mlp=int(sd[f"{lp}encoder.layers.0.mlp.fc1.weight"].shape[0]),
        bigg_width=int(bigg_tokens.shape[1]),
        bigg_layers=len(_indices(sd, re.escape(gp) + r"transformer\.resblocks\.(\d+)\.")),
        bigg_mlp=int(sd[f"{gp}transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
        projection=int(sd[f"{gp}text_projection"].shape[1]),
        vocab_size=int(tokens.shape[0]), positions=int(sd[f"{gp}positional_embedding"].shape[0]))


def sidecar_heads(path: str | None) -> dict:
    """{"head_channels": .., "num_heads": ..} from a webui-style `<checkpoint>.yaml`, or {} without one."""
    import os

    yaml_path = os.path.splitext(path)[0] + ".yaml" if path else None
    if not yaml_path or not os.path.isfile(yaml_path):
        return {}
    import yaml

    try:
        with open(yaml_path, encoding="utf-8") as handle:
            params = yaml.safe_load(handle)["model"]["params"]["network_config"]["params"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise UnsupportedModelError(f"{yaml_path}: no readable model.params.network_config.params "
                                    f"({error}); fix or remove it") from error
    channels, heads = int(params.get("num_head_channels", -1)), int(params.get("num_heads", -1))
    if channels <= 0 and heads <= 0:
        return {}
    return {"head_channels": channels, "num_heads": heads}


def infer_sdxl_config(sd: Mapping[str, torch.Tensor], path: str | None = None) -> SDXLModelConfig:
    """The full structure of an SDXL single-file checkpoint (raises UnsupportedModelError)."""
    if not any(k.startswith(CLIP_L_PREFIX) for k in sd):
        raise UnsupportedModelError("the SDXL checkpoint has no first text encoder (conditioner.embedders.0.*); "
                                    "use a full SDXL checkpoint, not a refiner or a UNet-only file")
    if not any(k.startswith(VAE_PREFIX + "decoder.") for k in sd):
        raise UnsupportedModelError("the checkpoint has no VAE (first_stage_model.*); use a full checkpoint")
    try:
        vae = infer_vae_config(sd)
        vae = VAEConfig(base_channels=vae.base_channels, channel_mult=vae.channel_mult,
                        num_res_blocks=vae.num_res_blocks, latent_channels=vae.latent_channels,
                        attention_levels=vae.attention_levels, scale_factor=SDXL_VAE_SCALE_FACTOR)
        unet = dataclasses.replace(infer_sdxl_unet_config(sd), **sidecar_heads(path))
        return SDXLModelConfig(unet=unet, vae=vae, text=infer_sdxl_text_config(sd))
    except KeyError as error:
        raise UnsupportedModelError(f"the checkpoint lacks the tensor {error.args[0]!r} that every SDXL "
                                    "checkpoint has; the file is incomplete or another architecture") from error
