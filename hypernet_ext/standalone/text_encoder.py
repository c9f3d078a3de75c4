"""Text encoders in transformers' CLIP classes: SD1's CLIP ViT-L and SD2's OpenCLIP ViT-H text tower.

SD2 checkpoints store the OpenCLIP tower (`cond_stage_model.model.*`); its weights are mapped onto a
`CLIPTextModel` with GELU. SD2 conditions on the penultimate layer followed by the final layer
norm, so the mapped model keeps all but the last layer and its `last_hidden_state` is exactly that.
"""
from __future__ import annotations

import logging
import re
from typing import Mapping, Optional

import torch
from torch import nn

from ..errors import InvalidOptionError
from .model_config import SD1_TEXT_PREFIX, SD2_TEXT_PREFIX, TextEncoderConfig
from .prompt_chunks import DEFAULT_COMMA_BACKTRACK, PromptEncoder, SpecialTokens
from .tokenizer import CONTEXT_LENGTH, shared_tokenizer

log = logging.getLogger(__name__)

_OPENCLIP_UNUSED = ("text_projection", "logit_scale", "attn_mask")
_LAYER_NAMES = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
                "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}


def encoder_layers(config: TextEncoderConfig) -> int:
    """Layers actually run: SD2 stops one short (penultimate output), SD1 runs them all."""
    return config.layers - 1 if config.openclip else config.layers


def build_clip_text_model(config: TextEncoderConfig):
    """An (uninitialised-weight-agnostic) transformers `CLIPTextModel` for `config`."""
    from transformers import CLIPTextConfig, CLIPTextModel

    hf_config = CLIPTextConfig(
        vocab_size=config.vocab_size, hidden_size=config.width, intermediate_size=config.mlp_width,
        num_hidden_layers=encoder_layers(config), num_attention_heads=config.heads,
        max_position_embeddings=config.positions, hidden_act="gelu" if config.openclip else "quick_gelu",
        layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407,
        pad_token_id=0 if config.openclip else 49407)
    hf_config._attn_implementation = "sdpa"
    return CLIPTextModel(hf_config)


def check_clip_skip(clip_skip: Optional[int], config: TextEncoderConfig) -> Optional[int]:
    """None (the model's own) or 1..layers; SD2 accepts any value and ignores it, as the webui does."""
    if clip_skip is None:
        return None
    if isinstance(clip_skip, bool) or not isinstance(clip_skip, int) or not 1 <= clip_skip <= config.layers:
        raise InvalidOptionError(f"clip skip {clip_skip!r} must be a whole number from 1 (use the last layer) "
                                 f"to {config.layers} (this text encoder's layer count); 2 is usual for "
                                 "anime checkpoints")
    if config.openclip and clip_skip != 2:
        log.warning("clip skip %s is ignored for SD2 models: the webui always conditions them on the "
                    "penultimate text layer (clip skip 2)", clip_skip)
    return clip_skip


class TextEncoder(nn.Module):
    """Captions -> (B, 77*K, width) conditioning with the webui's prompt rules (`prompt_chunks`).

    `clip_skip` N > 1 (SD1) takes the hidden state N layers from the end and applies the final layer
    norm to it, as the webui does; None or 1 is the last layer. SD2 always uses the penultimate layer.
    """

    def __init__(self, config: TextEncoderConfig, *, clip_skip: Optional[int] = None,
                 emphasis: str = "Original", comma_backtrack: int = DEFAULT_COMMA_BACKTRACK):
        super().__init__()
        self.config = config
        self.transformer = build_clip_text_model(config)
        self.tokenizer = shared_tokenizer("openclip" if config.openclip else "clip")
        self.pad_id = 0 if config.openclip else None
        self.clip_skip = check_clip_skip(clip_skip, config)
        end = self.tokenizer.end_id
        self.special_tokens = SpecialTokens(start=self.tokenizer.start_id, end=end,
                                            pad=end if self.pad_id is None else self.pad_id,
                                            comma=self.tokenizer.encoder.get(",</w>"))
        self.prompts = PromptEncoder(self._tokenize_runs, self.encode_chunk_ids, self.special_tokens,
                                     emphasis=emphasis, comma_backtrack=comma_backtrack)

    @property
    def emphasis(self) -> str:
        return self.prompts.emphasis

    def conditioning_settings(self) -> dict:
        """What, besides the text, decides the conditioning (recorded with a run; text caches key on it)."""
        return {"clip_skip": 2 if self.config.openclip else (self.clip_skip or 1),
                "emphasis": self.prompts.emphasis, "comma_backtrack": self.prompts.comma_backtrack}

    def _tokenize_runs(self, texts: list[str]) -> list[list[int]]:
        return [self.tokenizer.encode(text) for text in texts]

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        """(B, 77) ids, truncated, no emphasis parsing (the plain CLIP tokenisation)."""
        return self.tokenizer(captions, pad_id=self.pad_id, length=CONTEXT_LENGTH)

    def encode_chunk_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(N, 77) ids -> (N, 77, width): the chosen hidden state, final layer norm applied."""
        device = self.transformer.text_model.embeddings.token_embedding.weight.device
        skip = 1 if self.config.openclip else (self.clip_skip or 1)
        if skip == 1:
            return self.transformer(input_ids=ids.to(device)).last_hidden_state
        hidden = self.transformer(input_ids=ids.to(device), output_hidden_states=True).hidden_states[-skip]
        return self.transformer.text_model.final_layer_norm(hidden)

    def forward(self, captions: list[str]) -> torch.Tensor:
        return self.prompts(list(captions))

    def encode_each(self, captions: list[str]) -> list[torch.Tensor]:
        """Each caption's (77*K, width) conditioning as if encoded alone."""
        return self.prompts.encode_each(list(captions))


def sd1_text_weights(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`cond_stage_model.transformer.*` -> `CLIPTextModel` state dict (old and new key layouts)."""
    out = {}
    for key, value in sd.items():
        if not key.startswith(SD1_TEXT_PREFIX):
            continue
        name = key[len(SD1_TEXT_PREFIX):]
        if not name.startswith("text_model."):
            name = "text_model." + name
        if not name.endswith("position_ids"):
            out[name] = value
    return out


def openclip_text_weights(sd: Mapping[str, torch.Tensor], config: TextEncoderConfig, *,
                          prefix: str = SD2_TEXT_PREFIX, keep: Optional[int] = None) -> dict[str, torch.Tensor]:
    """`cond_stage_model.model.*` (OpenCLIP) -> `CLIPTextModel` state dict, last layer dropped.

    `prefix` and `keep` (layers kept) serve other OpenCLIP towers (SDXL's bigG keeps every layer)."""
    p, keep = prefix, encoder_layers(config) if keep is None else keep
    out = {"text_model.embeddings.token_embedding.weight": sd[p + "token_embedding.weight"],
           "text_model.embeddings.position_embedding.weight": sd[p + "positional_embedding"],
           "text_model.final_layer_norm.weight": sd[p + "ln_final.weight"],
           "text_model.final_layer_norm.bias": sd[p + "ln_final.bias"]}
    for key, value in sd.items():
        match = re.match(re.escape(p) + r"transformer\.resblocks\.(\d+)\.(.+)$", key)
        if not match or int(match.group(1)) >= keep:
            continue
        layer, rest = f"text_model.encoder.layers.{match.group(1)}.", match.group(2)
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = rest.rsplit("_", 1)[1]
            for name, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                out[f"{layer}self_attn.{name}.{kind}"] = chunk
            continue
        part, _, kind = rest.rpartition(".")
        if part in _LAYER_NAMES:
            out[f"{layer}{_LAYER_NAMES[part]}.{kind}"] = value
    return out


def unused_openclip_keys(sd: Mapping[str, torch.Tensor], config: TextEncoderConfig) -> set[str]:
    """OpenCLIP keys the mapping ignores on purpose (projection, logit scale, the unused last layer)."""
    last = f"{SD2_TEXT_PREFIX}transformer.resblocks.{config.layers - 1}."
    return {k for k in sd if k.startswith(SD2_TEXT_PREFIX)
            and (k[len(SD2_TEXT_PREFIX):] in _OPENCLIP_UNUSED or k.startswith(last))}


def hf_to_openclip_weights(model_sd: Mapping[str, torch.Tensor], prefix: str = SD2_TEXT_PREFIX
                           ) -> dict[str, torch.Tensor]:
    """Inverse of `openclip_text_weights` for the layers present (used to write SD2-style files)."""
    p = prefix
    out = {p + "token_embedding.weight": model_sd["text_model.embeddings.token_embedding.weight"],
           p + "positional_embedding": model_sd["text_model.embeddings.position_embedding.weight"],
           p + "ln_final.weight": model_sd["text_model.final_layer_norm.weight"],
           p + "ln_final.bias": model_sd["text_model.final_layer_norm.bias"]}
    reverse = {v: k for k, v in _LAYER_NAMES.items()}
    for key, value in model_sd.items():
        match = re.match(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$", key)
        if not match:
            continue
        index, part, kind = match.groups()
        block = f"{p}transformer.resblocks.{index}."
        if part == "self_attn.q_proj":
            parts = [model_sd[f"text_model.encoder.layers.{index}.self_attn.{n}.{kind}"]
                     for n in ("q_proj", "k_proj", "v_proj")]
            out[f"{block}attn.in_proj_{kind}"] = torch.cat(parts, dim=0)
        elif part in reverse:
            out[f"{block}{reverse[part]}.{kind}"] = value
    return out
