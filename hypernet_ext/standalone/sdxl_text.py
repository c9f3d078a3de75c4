"""SDXL conditioning: two text towers, the pooled vector and the size/crop/target embeddings.

- Cross-attention context (B, 77, 768 + 1280 = 2048): the penultimate hidden states of CLIP ViT-L
  (no final layer norm) and of OpenCLIP bigG (no final layer norm), concatenated, CLIP-L first.
- Pooled vector (B, 1280): bigG's final-layer-normed state at the end token times its text projection.
- Size numbers (B, 6): original size (h, w), crop top-left (top, left), target size (h, w) of each
  sample; the UNet embeds each number as a 256-wide sinusoid (sgm's `ConcatTimestepEmbedderND`,
  diffusers' `add_time_proj`) and appends them to the pooled vector.

Both towers are transformers CLIP classes. CLIP-L's weights are already in transformers' layout
(`conditioner.embedders.0.transformer.*`); bigG's OpenCLIP names (`conditioner.embedders.1.model.*`)
are mapped onto `CLIPTextModelWithProjection` (open_clip itself is never imported: it needs torchvision).
CLIP-L pads with its end token, bigG with 0 (as sgm and the webui do).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from .sdxl_checkpoint import BIGG_PREFIX, CLIP_L_PREFIX, SDXLTextConfig
from .text_encoder import hf_to_openclip_weights, openclip_text_weights, sd1_text_weights
from .tokenizer import CONTEXT_LENGTH, shared_tokenizer
from .model_config import TextEncoderConfig

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


class SDXLTextEncoder(nn.Module):
    """Captions -> {"context": (B, 77, 2048), "pooled": (B, projection)}, float32."""

    def __init__(self, config: SDXLTextConfig):
        super().__init__()
        self.config = config
        self.clip_l, self.bigg = build_text_towers(config)
        self.clip_tokenizer = shared_tokenizer("clip")
        self.bigg_tokenizer = shared_tokenizer("openclip")

    def forward(self, captions: Sequence[str]) -> dict[str, torch.Tensor]:
        captions = list(captions)
        device = self.bigg.text_projection.weight.device
        ids_l = self.clip_tokenizer(captions, length=CONTEXT_LENGTH).to(device)
        ids_g = self.bigg_tokenizer(captions, pad_id=0, length=CONTEXT_LENGTH).to(device)
        # CLIP-L runs all but its last layer, so its last hidden state (before the final norm) is the penultimate
        hidden_l = self.clip_l(input_ids=ids_l, output_hidden_states=True).hidden_states[-1]
        out_g = self.bigg(input_ids=ids_g, output_hidden_states=True)
        context = torch.cat([hidden_l, out_g.hidden_states[-2]], dim=-1)
        return {"context": context, "pooled": out_g.text_embeds}


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
