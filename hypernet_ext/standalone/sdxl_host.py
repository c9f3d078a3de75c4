"""`SDXLHost`: an offline SDXL model (diffusers UNet, ldm VAE, transformers text towers) as a `TrainingHost`.

Conditioning is a dict instead of one tensor: `encode_text` returns {"context": (B, 77*K, 2048),
"pooled": (B, 1280)}, with the webui's prompt rules (emphasis, BREAK, long prompts; see `sdxl_text`);
`encode_text_each` gives each caption as if encoded alone (for the training text cache). The
training data adds "sizes" (B, 6) from each sample's real image size and crop (see `sdxl_text`),
and `predict` passes them to the UNet as its added vector. Without "sizes" (as in generation) the
model is told what the webui tells it: original = target = the image size, crop (0, 0).
An empty negative prompt is encoded as zeros, like the webui and sgm do for SDXL.
Noise schedule: scaled linear as SD1, eps prediction; VAE scale 0.13025.
"""
from __future__ import annotations

import contextlib
import random
from typing import Mapping, Optional, Union

import torch

from ..attach import attention_widths
from ..errors import InvalidOptionError
from ..training.host import PreviewParams
from . import checkpoint as ckpt
from .host import ImageSizing, _norms_to_float32, sd_alphas_cumprod
from .model_config import UNET_PREFIX, VAE_PREFIX
from .sampler import check_sampler, sample_ddim, to_pil
from .sdxl_checkpoint import SDXLModelConfig, build_sdxl_unet, infer_sdxl_config, sgm_to_diffusers_unet
from .sdxl_text import SDXLTextEncoder, sdxl_text_weights, size_numbers
from .unet import freeze
from .vae import LatentAutoencoder

_VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
Conditioning = Mapping[str, torch.Tensor]


class SDXLHost(ImageSizing):
    """Frozen SDXL UNet, VAE and both text encoders on one device; see `hypernet_ext.training.host.TrainingHost`."""

    family = "sdxl"
    size_conditioning = True   # the training data adds per-sample "sizes" to the conditioning

    def __init__(self, config: SDXLModelConfig, unet: torch.nn.Module, vae: LatentAutoencoder,
                 text_encoder: SDXLTextEncoder, *, device: torch.device, dtype: torch.dtype,
                 model_name: Optional[str] = None, model_hash: Optional[str] = None):
        self.config = config
        self.device, self.dtype = device, dtype
        self.unet = _norms_to_float32(freeze(unet).to(device=device, dtype=dtype))
        self.vae = freeze(vae).to(device=device, dtype=torch.float32)
        self.text_encoder = freeze(text_encoder).to(device=device, dtype=torch.float32)
        self.parameterization = "eps"
        self.alphas_cumprod = sd_alphas_cumprod()
        self.attention_widths = attention_widths(self.unet)
        self.latent_channels = config.vae.latent_channels
        self.latent_downscale = config.vae.downscale
        self.model_name, self.model_hash = model_name, model_hash

    @torch.no_grad()
    def encode_latent_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, 3, H, W) in [-1, 1] -> (mean, std) of the scaled latent, float32."""
        return self.vae.encode_distribution(pixels.to(self.device, torch.float32))

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> dict[str, torch.Tensor]:
        """Captions -> {"context": (B, 77*K, 2048), "pooled": (B, 1280)} in the host dtype (webui batch rules)."""
        out = self.text_encoder(list(captions))
        return {key: value.to(self.dtype) for key, value in out.items()}

    @torch.no_grad()
    def encode_text_each(self, captions: list[str]) -> list[dict[str, torch.Tensor]]:
        """One {"context": (77*K_i, 2048), "pooled": (1280,)} per caption, each as if encoded alone."""
        return [{key: value.to(self.dtype) for key, value in row.items()}
                for row in self.text_encoder.encode_each(list(captions))]

    @property
    def clip_skip(self) -> None:
        """None: SDXL ignores Clip skip, as the webui does by default (see `sdxl_text`)."""
        return None

    def text_conditioning(self) -> dict:
        """The settings besides the text that decide `encode_text`'s result: clip_skip, emphasis, comma_backtrack."""
        return self.text_encoder.conditioning_settings()

    def text_conditioning_key(self) -> tuple:
        """`text_conditioning()` as a hashable key (text caches key on it)."""
        return tuple(sorted(self.text_conditioning().items()))

    def default_sizes(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, 6) size numbers for generation: original = target = the image size, crop (0, 0)."""
        height, width = (int(side) * self.latent_downscale for side in latents.shape[-2:])
        batch = latents.shape[0]
        return size_numbers([(height, width)] * batch, [(0, 0)] * batch, [(height, width)] * batch)

    def predict(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """UNet output (eps); gradients flow to anything attached to the UNet."""
        x = noisy_latents.to(self.device, self.dtype)
        sizes = cond.get("sizes")
        sizes = self.default_sizes(x) if sizes is None else sizes
        added = {"text_embeds": cond["pooled"].to(self.device, self.dtype),
                 "time_ids": sizes.to(self.device, torch.float32)}
        reduced = self.dtype != torch.float32
        precision = torch.autocast(self.device.type, dtype=self.dtype) if reduced else contextlib.nullcontext()
        with precision:
            out = self.unet(x, timesteps.to(self.device), encoder_hidden_states=cond["context"].to(self.device, self.dtype),
                            added_cond_kwargs=added, return_dict=False)[0]
        return out.to(noisy_latents.dtype)

    def _negative(self, negative_prompt: str) -> dict[str, torch.Tensor]:
        cond = self.encode_text([negative_prompt])
        if negative_prompt == "":
            cond = {key: torch.zeros_like(value) for key, value in cond.items()}
        return cond

    def generate(self, prompt: str, negative_prompt: str = "", steps: int = 20, cfg_scale: float = 7.0,
                 seed: int = 0, width: int = 1024, height: int = 1024, sampler: Optional[str] = None):
        """A PIL image for `prompt` (DDIM, classifier-free guidance); sides round to `size_multiple`."""
        check_sampler(sampler)
        if seed is None or int(seed) < 0:
            seed = random.randrange(2 ** 32)
        shape = (1, self.latent_channels, self._latent_side(height, "height"), self._latent_side(width, "width"))
        cond, uncond = self.encode_text([prompt]), self._negative(negative_prompt)
        # sample_ddim batches [uncond, cond] context tensors when their lengths match, else calls each alone
        both = torch.cat([uncond["pooled"], cond["pooled"]])

        def predict(x, t, context):
            # the pooled vectors follow the context: the joined pair, or one of the two alone
            pooled = cond["pooled"] if context is cond["context"] else \
                uncond["pooled"] if context is uncond["context"] else both
            return self.predict(x, t, {"context": context, "pooled": pooled})

        with torch.no_grad():
            latents = sample_ddim(predict, cond["context"], uncond["context"], self.alphas_cumprod, shape,
                                  steps=steps, cfg_scale=float(cfg_scale), seed=int(seed),
                                  parameterization=self.parameterization, device=self.device)
            pixels = self.vae.decode(latents.float())
        return to_pil(pixels[0])

    def generate_preview(self, params: PreviewParams):
        """`generate` with preview settings; an unknown sampler name falls back to DDIM."""
        try:
            sampler = check_sampler(params.sampler)
        except InvalidOptionError:
            sampler = None
        return self.generate(params.prompt, params.negative_prompt, steps=params.steps, cfg_scale=params.cfg_scale,
                             seed=params.seed, width=params.width, height=params.height, sampler=sampler)


def sdxl_host_from_state_dict(state_dict: Mapping[str, torch.Tensor], *, source: str = "checkpoint",
                              path: Optional[str] = None,
                              device: Union[str, torch.device] = "cpu", dtype: torch.dtype = torch.float32,
                              prediction: Optional[str] = None, model_name: Optional[str] = None,
                              model_hash: Optional[str] = None, text_options: Optional[dict] = None) -> SDXLHost:
    """Build an SDXL host from sgm-layout tensors (adopted, not copied, when dtypes match)."""
    if prediction not in (None, "eps"):
        raise InvalidOptionError(f"SDXL models predict eps; --prediction {prediction} is not supported for them")
    config = infer_sdxl_config(state_dict, path)
    unet_weights = sgm_to_diffusers_unet(ckpt.with_prefix(state_dict, UNET_PREFIX), config.unet)
    unet = ckpt.build_with_weights(lambda: build_sdxl_unet(config.unet), unet_weights, "UNet", source)
    vae_weights = {k: v for k, v in ckpt.with_prefix(state_dict, VAE_PREFIX).items() if k.startswith(_VAE_PARTS)}
    vae = ckpt.build_with_weights(lambda: LatentAutoencoder(config.vae), vae_weights, "VAE", source)
    text = ckpt.build_with_weights(lambda: SDXLTextEncoder(config.text, **(text_options or {})),
                                   sdxl_text_weights(state_dict, config.text), "text encoders", source)
    return SDXLHost(config, unet, vae, text, device=torch.device(device), dtype=dtype,
                    model_name=model_name, model_hash=model_hash)


def load_tiny_sdxl_host(*, device: Union[str, torch.device] = "cpu", dtype: torch.dtype = torch.float32,
                        prediction: Optional[str] = None, text_options: Optional[dict] = None) -> SDXLHost:
    """The embedded `tiny-sdxl` model (see `tiny_sdxl`), through the same loader as any SDXL file."""
    from .tiny_sdxl import tiny_sdxl_checkpoint

    weights, _ = tiny_sdxl_checkpoint()
    return sdxl_host_from_state_dict(weights, source="tiny-sdxl", device=device, dtype=dtype,
                                     prediction=prediction, model_name="tiny-sdxl", text_options=text_options)
