"""Stand-in of the webui's loaded SDXL model: sgm's `DiffusionEngine` surface, tiny and real.

Mirrors what the webui v1.10 has after `sd_models_xl.extend_sdxl` and its method patches:
- `conditioner`: a `GeneralConditioner`-like list of embedders, each with `input_key`; text
  embedders return (B, 77, width) cross-attention states (the second also a (B, 1280) pooled
  vector), `ConcatTimestepEmbedderND`-like embedders turn (B, 2) size numbers into (B, 512)
  sinusoids; 3-D outputs concatenate on the width ("crossattn"), 2-D ones on dim 1 ("vector");
  `force_zero_embeddings` zeroes the named inputs' embeddings, as sgm does.
- `get_learned_conditioning(prompts)`: the webui's function (sizes from the batch or 1024,
  crop from the options), returning {"crossattn": (B, 77, 2048), "vector": (B, 2816)}.
- `model.diffusion_model(x, timesteps, context, y)`: sgm's UNet call; here diffusers' UNet with a
  projected class embedding, which adds a linear embedding of `y` to the time embedding exactly as
  sgm's `label_emb` does. `apply_model(x, t, cond)` = `self.model(x, t, cond)`.
- first stage: `encode_first_stage` returns a scaled *sample* (sgm's regulariser samples), so the
  distribution is only reachable through `first_stage_model.encoder` / `quant_conv`.
"""
from __future__ import annotations

import torch
from torch import nn

from modules.sd_models import CheckpointInfo, TinyAutoencoder, _randomize_zero_weights

TOKENS = 77
SIZE_KEYS = ("original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple")


class ByteTextEmbedder(nn.Module):
    """A "txt" embedder: prompts -> (B, 77, width) by bytes; with `pooled`, also a (B, pooled) vector."""

    input_key = "txt"

    def __init__(self, width: int, pooled: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(256, width)
        self.projection = nn.Linear(width, pooled, bias=False) if pooled else None

    def forward(self, texts):
        ids = torch.zeros(len(texts), TOKENS, dtype=torch.long)
        for row, text in enumerate(texts):
            data = list(str(text).encode("utf-8"))[:TOKENS]
            ids[row, :len(data)] = torch.tensor(data, dtype=torch.long)
        states = self.embedding(ids.to(self.embedding.weight.device))
        if self.projection is None:
            return states
        return states, self.projection(states.mean(dim=1))


class ConcatTimestepEmbedderND(nn.Module):
    """(B, n) numbers -> (B, n * outdim) sinusoids (cos half first), as sgm's embedder of the same name."""

    def __init__(self, input_key: str, outdim: int = 256):
        super().__init__()
        self.input_key, self.outdim = input_key, outdim

    def forward(self, x):
        batch, dims = x.shape
        half = self.outdim // 2
        freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half, dtype=torch.float32) / half)
        args = x.reshape(-1, 1).float() * freqs[None].to(x.device)
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1).reshape(batch, dims * self.outdim)


class GeneralConditioner(nn.Module):
    def __init__(self, embedders):
        super().__init__()
        self.embedders = nn.ModuleList(embedders)

    def forward(self, batch, force_zero_embeddings=None):
        force = force_zero_embeddings or []
        output = {}
        for embedder in self.embedders:
            outs = embedder(batch[embedder.input_key])
            for emb in outs if isinstance(outs, (tuple, list)) else (outs,):
                if embedder.input_key in force:
                    emb = torch.zeros_like(emb)
                key, dim = ("crossattn", 2) if emb.dim() == 3 else ("vector", 1)
                output[key] = torch.cat((output[key], emb), dim) if key in output else emb
        return output


class SgmSignatureUNet(nn.Module):
    """sgm's `UNetModel(x, timesteps, context, y)` call on a diffusers UNet (y -> projected class embedding)."""

    def __init__(self, context_dim: int = 2048, adm: int = 2816):
        super().__init__()
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
        self.unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1,
            attention_head_dim=(2, 4), cross_attention_dim=context_dim, use_linear_projection=True,
            class_embed_type="projection", projection_class_embeddings_input_dim=adm)

    def forward(self, x, timesteps=None, context=None, y=None):
        return self.unet(x, timesteps, encoder_hidden_states=context, class_labels=y).sample


class OpenAIWrapper(nn.Module):
    def __init__(self, diffusion_model):
        super().__init__()
        self.diffusion_model = diffusion_model

    def forward(self, x, t, c):
        return self.diffusion_model(x, timesteps=t, context=c.get("crossattn"), y=c.get("vector"))


class SampledAutoencoder(TinyAutoencoder):
    """sgm's AutoencoderKLInferenceWrapper: `encode` returns a sample of the latent distribution."""

    def encode(self, x):
        return super().encode(x).sample()


class TinySDXLEngine(nn.Module):
    conditioning_key = "crossattn"
    latent_channels = 4

    def __init__(self, name: str = "tiny-sdxl", shorthash: str = "abcdef0123", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.model = OpenAIWrapper(SgmSignatureUNet())
        self.first_stage_model = SampledAutoencoder()
        self.conditioner = GeneralConditioner([ByteTextEmbedder(768), ByteTextEmbedder(1280, pooled=1280)]
                                              + [ConcatTimestepEmbedderND(key) for key in SIZE_KEYS])
        self.cond_stage_model = self.conditioner  # sd_hijack sets this for models with several text encoders
        self.scale_factor = 0.13025
        self.parameterization = "eps"
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, 0).float())
        self.sd_model_hash = shorthash
        self.sd_model_checkpoint = f"/models/Stable-diffusion/{name}.safetensors"
        self.sd_checkpoint_info = CheckpointInfo(name, shorthash)
        self.is_sd1 = self.is_ssd = self.is_sd2 = self.is_sd3 = self.is_sdxl_inpaint = False
        self.is_sdxl = True
        self.lowvram = False
        _randomize_zero_weights(self, seed)
        self.eval().requires_grad_(False)

    def get_learned_conditioning(self, batch):
        from modules import shared
        width = getattr(batch, "width", 1024) or 1024
        height = getattr(batch, "height", 1024) or 1024
        crop = [getattr(shared.opts, "sdxl_crop_top", 0), getattr(shared.opts, "sdxl_crop_left", 0)]
        conds = {"txt": batch,
                 "original_size_as_tuple": torch.tensor([height, width]).repeat(len(batch), 1),
                 "crop_coords_top_left": torch.tensor(crop).repeat(len(batch), 1),
                 "target_size_as_tuple": torch.tensor([height, width]).repeat(len(batch), 1)}
        negative = getattr(batch, "is_negative_prompt", False) and all(x == "" for x in batch)
        return self.conditioner(conds, force_zero_embeddings=["txt"] if negative else [])

    def apply_model(self, x, t, cond):
        return self.model(x, t, cond)

    def encode_first_stage(self, x):
        return self.scale_factor * self.first_stage_model.encode(x)

    def get_first_stage_encoding(self, x):
        return x

    def decode_first_stage(self, z):
        return self.first_stage_model.decode(z / self.scale_factor)
