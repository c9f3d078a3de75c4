"""SDXL conditioning: two text towers, the pooled vector and the size/crop/target embeddings.

- Cross-attention context (B, 77*K, 768 + 1280 = 2048): the penultimate hidden states of CLIP ViT-L
  (no final layer norm) and of OpenCLIP bigG (no final layer norm), concatenated, CLIP-L first.
- Pooled vector (B, 1280): bigG's final-layer-normed state at the end token times its text projection,
  from each prompt's FIRST 77-token chunk (the webui returns the first chunk's pooled output).
- Prompt rules: each tower runs the prompt through its own `prompt_chunks.PromptEncoder` (emphasis,
  BREAK, 75-token chunks with comma backtracking, batch padding with empty chunks), as the webui
  v1.10.1 wraps each of sgm's two embedders; emphasis is applied to, and "Original" restores the
  mean of, each tower's output separately. The pooled vector is never weighted. Both towers share
  one BPE, so their chunk counts agree; if cleaning ever made them differ, the shorter is padded
  with empty chunks so the two still concatenate.
- Clip skip: the webui applies its "Clip skip" to SDXL only when its "Clip skip SDXL" setting
  (`sdxl_clip_l_skip`, off by default) is on, and then only to CLIP-L; by default both towers give
  the penultimate layer whatever Clip skip says. The standalone host follows that default: a
  `clip_skip` other than 2 is accepted, logged and ignored (as for SD2).
- Size numbers (B, 6): original size (h, w), crop top-left (top, left), target size (h, w) of each
  sample; the UNet embeds each number as a 256-wide sinusoid (sgm's `ConcatTimestepEmbedderND`,
  diffusers' `add_time_proj`) and appends them to the pooled vector.

Both towers are transformers CLIP classes. CLIP-L's weights are already in transformers' layout
(`conditioner.embedders.0.transformer.*`); bigG's OpenCLIP names (`conditioner.embedders.1.model.*`)
are mapped onto `CLIPTextModelWithProjection` (open_clip itself is never imported: it needs torchvision).
CLIP-L pads with its end token, bigG with 0 (as sgm and the webui do).
"""
from __future__ import annotations

import logging
from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from ..errors import InvalidOptionError
from .prompt_chunks import DEFAULT_COMMA_BACKTRACK, PromptEncoder, SpecialTokens

from .sdxl_checkpoint import BIGG_PREFIX, CLIP_L_PREFIX, SDXLTextConfig
from .text_encoder import hf_to_openclip_weights, openclip_text_weights, sd1_text_weights
from .tokenizer import shared_tokenizer
from .model_config import TextEncoderConfig

log = logging.getLogger(__name__)

BOS, EOS = 49406, 49407
SIZE_KEYS = ("original_size", "crop_top_left", "target_size")


def _clip_config(width: int, layers: int, mlp: int, vocab: int, positions: int, act: str, pad: int,
                 projection: Optional[int] = None):
    from transformers import CLIPTextConfig

    config = CLIPTextConfig(vocab_size=vocab, hidden_size=width, intermediate_size=mlp, num_hidden_layers=layers,
                            num_attention_heads=max(1, width // 64), max_position_embeddings=positions,
                            hidden_act=act, layer_norm_eps=1e-5, bos_token_id=BOS, eos_token_id=EOS,
                            pad_token_id=pad, projection_dim=projection or width)
    config._attn_implementation = "sdpa"
    return config


def build_text_towers(config: SDXLTextConfig) -> tuple[nn.Module, nn.Module]:
    """(CLIP-L `CLIPTextModel` without its unused last layer, bigG `CLIPTextModelWithProjection`)."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    clip_l = CLIPTextModel(_clip_config(config.clip_l_width, config.clip_l_layers - 1, config.clip_l_mlp,
                                        config.vocab_size, config.positions, "quick_gelu", EOS))
    bigg = CLIPTextModelWithProjection(_clip_config(config.bigg_width, config.bigg_layers, config.bigg_mlp,
                                                    config.vocab_size, config.positions, "gelu", 0,
                                                    config.projection))
    return clip_l, bigg


def check_sdxl_clip_skip(clip_skip: Optional[int]) -> Optional[int]:
    """None or a whole number from 1 to 12; any value but 2 is logged as ignored (see the module docstring)."""
    if clip_skip is None:
        return None
    if isinstance(clip_skip, bool) or not isinstance(clip_skip, int) or not 1 <= clip_skip <= 12:
        raise InvalidOptionError(f"clip skip {clip_skip!r} must be a whole number from 1 to 12")
    if clip_skip != 2:
        log.warning("clip skip %s is ignored for SDXL models: like the webui (its 'Clip skip SDXL' setting "
                    "is off by default), both text encoders give their penultimate layer", clip_skip)
    return clip_skip


class SDXLTextEncoder(nn.Module):
    """Captions -> {"context": (B, 77*K, 2048), "pooled": (B, projection)}, float32, with the webui's prompt rules."""

    def __init__(self, config: SDXLTextConfig, *, clip_skip: Optional[int] = None, emphasis: str = "Original",
                 comma_backtrack: int = DEFAULT_COMMA_BACKTRACK):
        super().__init__()
        self.config = config
        self.clip_l, self.bigg = build_text_towers(config)
        self.clip_tokenizer = shared_tokenizer("clip")
        self.bigg_tokenizer = shared_tokenizer("openclip")
        self.clip_skip = check_sdxl_clip_skip(clip_skip)
        options = {"emphasis": emphasis, "comma_backtrack": comma_backtrack}
        self.prompts_l = PromptEncoder(_runs_tokenizer(self.clip_tokenizer), self._encode_clip_l,
                                       _special_tokens(self.clip_tokenizer, pad=EOS), **options)
        self.prompts_g = PromptEncoder(_runs_tokenizer(self.bigg_tokenizer), self._encode_bigg,
                                       _special_tokens(self.bigg_tokenizer, pad=0), **options)

    def conditioning_settings(self) -> dict:
        """What, besides the text, decides the conditioning (clip_skip is always the penultimate layer, 2)."""
        return {"clip_skip": 2, "emphasis": self.prompts_l.emphasis, "comma_backtrack": self.prompts_l.comma_backtrack}

    def _device(self) -> torch.device:
        return self.bigg.text_projection.weight.device

    def _encode_clip_l(self, ids: torch.Tensor) -> torch.Tensor:
        # CLIP-L runs all but its last layer, so its last hidden state (before the final norm) is the penultimate
        return self.clip_l(input_ids=ids.to(self._device()), output_hidden_states=True).hidden_states[-1]

    def _encode_bigg(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.bigg(input_ids=ids.to(self._device()), output_hidden_states=True)
        return out.hidden_states[-2], out.text_embeds

    def _empty_chunk(self, prompts: PromptEncoder) -> torch.Tensor:
        """(77, C): what the tower gives for an empty chunk (the padding of a shorter prompt)."""
        return prompts([""])[0]

    def _same_length(self, hidden_l: torch.Tensor, hidden_g: torch.Tensor) -> torch.Tensor:
        """Concatenate token rows (..., T, C) of both towers, padding the shorter with empty chunks."""
        longest = max(hidden_l.shape[-2], hidden_g.shape[-2])
        parts = []
        for hidden, prompts in ((hidden_l, self.prompts_l), (hidden_g, self.prompts_g)):
            missing = (longest - hidden.shape[-2]) // 77
            if missing:
                empty = self._empty_chunk(prompts).to(hidden.dtype).repeat(missing, 1)
                hidden = torch.cat([hidden, empty.expand(*hidden.shape[:-2], *empty.shape)], dim=-2)
            parts.append(hidden)
        return torch.cat(parts, dim=-1)

    def forward(self, captions: Sequence[str]) -> dict[str, torch.Tensor]:
        """The webui's batch encoding: every caption padded to the longest one's chunk count."""
        captions = list(captions)
        hidden_l, _ = self.prompts_l.encode(captions)
        hidden_g, pooled = self.prompts_g.encode(captions)
        return {"context": self._same_length(hidden_l, hidden_g), "pooled": pooled}

    def encode_each(self, captions: Sequence[str]) -> list[dict[str, torch.Tensor]]:
        """Each caption's {"context": (77*K_i, 2048), "pooled": (projection,)} as if encoded alone."""
        captions = list(captions)
        rows_l = self.prompts_l.encode_each(captions)
        rows_g, pooled = self.prompts_g.encode_each_pooled(captions)
        return [{"context": self._same_length(row_l, row_g), "pooled": pooled[i]}
                for i, (row_l, row_g) in enumerate(zip(rows_l, rows_g))]


def _runs_tokenizer(tokenizer):
    return lambda texts: [tokenizer.encode(text) for text in texts]


def _special_tokens(tokenizer, pad: int) -> SpecialTokens:
    return SpecialTokens(start=tokenizer.start_id, end=tokenizer.end_id, pad=pad,
                         comma=tokenizer.encoder.get(",</w>"))


# -- weights ---------------------------------------------------------------------------------

def _as_sd2_config(config: SDXLTextConfig) -> TextEncoderConfig:
    return TextEncoderConfig(width=config.bigg_width, layers=config.bigg_layers, mlp_width=config.bigg_mlp,
                             vocab_size=config.vocab_size, positions=config.positions, openclip=True)


def sdxl_text_weights(sd: Mapping[str, torch.Tensor], config: SDXLTextConfig) -> dict[str, torch.Tensor]:
    """Checkpoint tensors -> `SDXLTextEncoder` state dict (CLIP-L's unused last layer dropped)."""
    renamed = {"cond_stage_model.transformer." + k[len(CLIP_L_PREFIX):]: v
               for k, v in sd.items() if k.startswith(CLIP_L_PREFIX)}
    last = f"text_model.encoder.layers.{config.clip_l_layers - 1}."
    out = {"clip_l." + k: v for k, v in sd1_text_weights(renamed).items() if not k.startswith(last)}
    bigg = openclip_text_weights(sd, _as_sd2_config(config), prefix=BIGG_PREFIX, keep=config.bigg_layers)
    out.update({"bigg." + k: v for k, v in bigg.items()})
    # OpenCLIP computes x @ P; transformers' projection is a Linear, whose weight is P transposed
    out["bigg.text_projection.weight"] = sd[BIGG_PREFIX + "text_projection"].t()
    return out


def sdxl_text_checkpoint_weights(encoder: SDXLTextEncoder, unused_last_layer: Mapping[str, torch.Tensor]
                                 ) -> dict[str, torch.Tensor]:
    """`SDXLTextEncoder` weights in checkpoint names; `unused_last_layer` supplies CLIP-L's last layer
    (named `text_model.encoder.layers.<last>.*`), which real files carry though SDXL never runs it."""
    weights = {CLIP_L_PREFIX + k: v for k, v in encoder.clip_l.state_dict().items()}
    weights.update({CLIP_L_PREFIX + k: v for k, v in unused_last_layer.items()})
    weights[CLIP_L_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(encoder.config.positions)[None]
    bigg_sd = encoder.bigg.state_dict()
    weights.update(hf_to_openclip_weights(bigg_sd, prefix=BIGG_PREFIX))
    weights[BIGG_PREFIX + "text_projection"] = bigg_sd["text_projection.weight"].t().contiguous()
    weights[BIGG_PREFIX + "logit_scale"] = torch.tensor(4.6052)
    return weights


def size_numbers(original: Sequence[tuple[int, int]], crops: Sequence[tuple[int, int]],
                 targets: Sequence[tuple[int, int]]) -> torch.Tensor:
    """(B, 6) float32: original (h, w), crop (top, left), target (h, w) per sample, in pixels."""
    rows = [[o[0], o[1], c[0], c[1], t[0], t[1]] for o, c, t in zip(original, crops, targets)]
    return torch.tensor(rows, dtype=torch.float32)
