"""`StandaloneHost`: an offline SD 1.x / 2.x model implementing the training `TrainingHost` protocol.

Parameterisation rule (eps or v), first that applies: the explicit `prediction` argument; a
webui-style `<checkpoint>.yaml` beside the file; safetensors metadata (`modelspec.prediction_type`);
for SD2 checkpoints the numeric UNet test (`unet.predicts_v`); otherwise eps.
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
from typing import Mapping, Optional, Union

import torch

from ..errors import InvalidOptionError
from ..storage import short_hash
from ..training.host import PreviewParams
from . import checkpoint as ckpt
from .attention import attention_widths
from .prompt_chunks import DEFAULT_COMMA_BACKTRACK, check_comma_backtrack, check_emphasis
from .model_config import UNET_PREFIX, VAE_PREFIX, ModelConfig, infer_model_config
from .sampler import check_sampler, sample_ddim, to_pil
from .text_encoder import TextEncoder, openclip_text_weights, sd1_text_weights
from .unet import build_unet, freeze, predicts_v
from .vae import LatentAutoencoder

log = logging.getLogger(__name__)
_VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def sd_alphas_cumprod(steps: int = 1000, start: float = 0.00085, end: float = 0.012) -> torch.Tensor:
    """SD 1.x/2.x noise schedule ("scaled linear" betas), float32 on the CPU."""
    betas = torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def _norms_to_float32(module: torch.nn.Module) -> torch.nn.Module:
    """Keep normalisation layers in float32 (ldm's GroupNorm32 normalises in float32) for reduced dtypes."""
    for child in module.modules():
        if isinstance(child, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            child.float()
    return module


class ImageSizing:
    """Image sides a host draws (shared by the SD1/SD2 and SDXL hosts; needs `latent_downscale`, `config.unet`)."""

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this: VAE downscale times the UNet's own downsampling."""
        return self.latent_downscale * 2 ** (len(self.config.unet.channel_mult) - 1)

    def _latent_side(self, pixels: int, name: str) -> int:
        step = self.size_multiple
        if pixels < step:
            raise InvalidOptionError(f"{name} {pixels} is too small; use at least {step} pixels")
        return round(pixels / step) * step // self.latent_downscale


class StandaloneHost(ImageSizing):
    """Frozen UNet, VAE and text encoder on one device; see `hypernet_ext.training.host.TrainingHost`."""

    def __init__(self, config: ModelConfig, unet: torch.nn.Module, vae: LatentAutoencoder,
                 text_encoder: TextEncoder, parameterization: str, *, device: torch.device,
                 dtype: torch.dtype, model_name: Optional[str] = None, model_hash: Optional[str] = None):
        self.config = config
        self.device, self.dtype = device, dtype
        self.unet = _norms_to_float32(freeze(unet).to(device=device, dtype=dtype))
        self.vae = freeze(vae).to(device=device, dtype=torch.float32)
        self.text_encoder = freeze(text_encoder).to(device=device, dtype=torch.float32)
        self.parameterization = parameterization
        self.alphas_cumprod = sd_alphas_cumprod()
        self.attention_widths = attention_widths(self.unet)
        self.latent_channels = config.vae.latent_channels
        self.latent_downscale = config.vae.downscale
        self.model_name, self.model_hash = model_name, model_hash
        self.offload_device = torch.device("cpu")

    # -- low VRAM: encoders off the GPU while training reads cached latents/conditioning ------------
    def offload_encoders(self, text_encoder: bool = True) -> None:
        """Move the VAE (and the text encoder unless `text_encoder=False`) to `offload_device`."""
        self.vae.to(self.offload_device)
        if text_encoder:
            self.text_encoder.to(self.offload_device)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # give the freed blocks back so other processes see them too

    def restore_encoders(self) -> None:
        """VAE and text encoder back on the host device."""
        self.vae.to(self.device)
        self.text_encoder.to(self.device)

    @property
    def encoder_devices(self) -> tuple[torch.device, torch.device]:
        """(VAE device, text encoder device)."""
        return next(self.vae.parameters()).device, next(self.text_encoder.parameters()).device

    @torch.no_grad()
    def encode_latent_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, 3, H, W) in [-1, 1] -> (mean, std) of the scaled latent, float32."""
        return self.vae.encode_distribution(pixels.to(self.device, torch.float32))

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Captions -> (B, 77*K, text width) conditioning in the host dtype, the webui's batch encoding.

        Emphasis, BREAK, long prompts (K chunks of 77 for the longest caption; shorter ones padded
        with empty chunks) and CLIP skip follow the webui; see `prompt_chunks`."""
        return self.text_encoder(list(captions)).to(self.dtype)

    @torch.no_grad()
    def encode_text_each(self, captions: list[str]) -> list[torch.Tensor]:
        """One (77*K_i, width) tensor per caption, each as if encoded alone (what caches keyed by caption need)."""
        return [row.to(self.dtype) for row in self.text_encoder.encode_each(list(captions))]

    @property
    def clip_skip(self):
        return self.text_encoder.clip_skip

    def text_conditioning(self) -> dict:
        """The settings besides the text that decide `encode_text`'s result: clip_skip, emphasis, comma_backtrack."""
        return self.text_encoder.conditioning_settings()

    def text_conditioning_key(self) -> tuple:
        """`text_conditioning()` as a hashable key (text caches key on it)."""
        return tuple(sorted(self.text_conditioning().items()))

    def predict(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """UNet output (eps or v); gradients flow to anything attached to the UNet."""
        x = noisy_latents.to(self.device, self.dtype)
        context = cond.to(self.device, self.dtype)
        # A reduced-precision host autocasts itself; an fp32 host leaves any caller's autocast (the
        # trainer's bf16/fp16 mixed precision) in force instead of switching it off.
        reduced = self.dtype != torch.float32
        precision = torch.autocast(self.device.type, dtype=self.dtype) if reduced else contextlib.nullcontext()
        with precision:
            out = self.unet(x, timesteps.to(self.device), context=context)
        return out.to(noisy_latents.dtype)

    def generate(self, prompt: str, negative_prompt: str = "", steps: int = 20, cfg_scale: float = 7.0,
                 seed: int = 0, width: int = 512, height: int = 512, sampler: Optional[str] = None):
        """A PIL image for `prompt` (DDIM, classifier-free guidance); sides round to `size_multiple`."""
        check_sampler(sampler)
        if seed is None or int(seed) < 0:
            seed = random.randrange(2 ** 32)
        shape = (1, self.latent_channels, self._latent_side(height, "height"), self._latent_side(width, "width"))
        cond, uncond = self.encode_text([prompt]), self.encode_text([negative_prompt])
        with torch.no_grad():
            latents = sample_ddim(self.predict, cond, uncond, self.alphas_cumprod, shape, steps=steps,
                                  cfg_scale=float(cfg_scale), seed=int(seed),
                                  parameterization=self.parameterization, device=self.device)
            pixels = self.vae.decode(latents.float())
        return to_pil(pixels[0])

    def generate_preview(self, params: PreviewParams):
        """`generate` with preview settings; an unknown sampler name falls back to DDIM with a warning."""
        sampler = params.sampler
        try:
            check_sampler(sampler)
        except InvalidOptionError:
            log.warning("preview sampler %r is not available in the standalone host; using DDIM", sampler)
            sampler = None
        return self.generate(params.prompt, params.negative_prompt, steps=params.steps,
                             cfg_scale=params.cfg_scale, seed=params.seed, width=params.width,
                             height=params.height, sampler=sampler)


def _text_weights(state_dict: Mapping[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    mapped = openclip_text_weights(state_dict, config.text) if config.family == "sd2" else sd1_text_weights(state_dict)
    return {"transformer." + k: v for k, v in mapped.items()}


def resolve_parameterization(prediction: Optional[str], path: Optional[str], metadata: Mapping[str, str],
                             config: ModelConfig, unet: torch.nn.Module) -> str:
    """Apply the module docstring's rule."""
    if prediction is not None:
        if prediction not in ("eps", "v"):
            raise InvalidOptionError(f"prediction must be 'eps', 'v' or None (detect), not {prediction!r}")
        return prediction
    found = ckpt.sidecar_parameterization(path) or ckpt.metadata_parameterization(metadata)
    if found:
        return found
    if config.family == "sd2":
        return "v" if predicts_v(unet.float(), config.unet.context_dim) else "eps"
    return "eps"


def host_from_state_dict(state_dict: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None,
                         *, source: str = "checkpoint", path: Optional[str] = None,
                         device: Union[str, torch.device] = "cpu", dtype: torch.dtype = torch.float32,
                         prediction: Optional[str] = None, model_name: Optional[str] = None,
                         model_hash: Optional[str] = None, text_options: Optional[dict] = None) -> StandaloneHost:
    """Build a host from checkpoint-named tensors (the weights are adopted, not copied, when dtypes match)."""
    config = infer_model_config(state_dict)
    unet = ckpt.build_with_weights(lambda: build_unet(config.unet), ckpt.with_prefix(state_dict, UNET_PREFIX),
                                   "UNet", source)
    vae_weights = {k: v for k, v in ckpt.with_prefix(state_dict, VAE_PREFIX).items() if k.startswith(_VAE_PARTS)}
    vae = ckpt.build_with_weights(lambda: LatentAutoencoder(config.vae), vae_weights, "VAE", source)
    text = ckpt.build_with_weights(lambda: TextEncoder(config.text, **(text_options or {})),
                                   _text_weights(state_dict, config), "text encoder", source)
    parameterization = resolve_parameterization(prediction, path, metadata or {}, config, unet)
    return StandaloneHost(config, unet, vae, text, parameterization, device=torch.device(device), dtype=dtype,
                          model_name=model_name, model_hash=model_hash)


def load_host(model: str = "tiny", *, device: Union[str, torch.device] = "cpu",
              dtype: torch.dtype = torch.float32, prediction: Optional[str] = None,
              clip_skip: Optional[int] = None, emphasis: str = "Original",
              comma_backtrack: int = DEFAULT_COMMA_BACKTRACK) -> StandaloneHost:
    """A `StandaloneHost` for an embedded model ("tiny": random toy weights; "tiny-shapes": trained to
    draw captioned coloured shapes; "tiny-sdxl": a random SDXL-architecture toy) or an SD 1.x/2.x/SDXL checkpoint path.

    clip_skip: None = the model's own (SD1: 1, the last text layer; SD2 and SDXL: the penultimate
    layer, which the webui uses whatever its Clip skip setting, for SDXL unless its off-by-default
    "Clip skip SDXL" setting is on). emphasis and comma_backtrack are the
    webui's "Emphasis mode" and "Prompt word wrap length limit" settings."""
    text_options = {"clip_skip": clip_skip, "emphasis": check_emphasis(emphasis),
                    "comma_backtrack": check_comma_backtrack(comma_backtrack)}
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise InvalidOptionError(f"dtype {dtype} is not float32, float16 or bfloat16")
    if str(model) == "tiny-sdxl":  # SDXL dispatch hook (sdxl_host.py)
        from .sdxl_host import load_tiny_sdxl_host

        return load_tiny_sdxl_host(device=device, dtype=dtype, prediction=prediction, text_options=text_options)
    if str(model) == "tiny":
        from .tiny import tiny_checkpoint

        weights, metadata = tiny_checkpoint("sd1")
        return host_from_state_dict(weights, metadata, source="tiny", device=device, dtype=dtype,
                                    prediction=prediction, model_name="tiny", text_options=text_options)
    if str(model) == "tiny-shapes":
        from .tiny_shapes import shapes_checkpoint

        weights, metadata = shapes_checkpoint()
        return host_from_state_dict(weights, metadata, source="tiny-shapes", device=device, dtype=dtype,
                                    prediction=prediction, model_name="tiny-shapes", text_options=text_options)
    path = os.fspath(model)
    weights, metadata = ckpt.read_checkpoint(path)
    from .sdxl_checkpoint import is_sdxl_state_dict  # SDXL dispatch hook (sdxl_host.py)

    if is_sdxl_state_dict(weights):
        from .sdxl_host import sdxl_host_from_state_dict

        return sdxl_host_from_state_dict(weights, source=path, path=path, device=device, dtype=dtype, prediction=prediction,
                                         model_name=os.path.splitext(os.path.basename(path))[0],
                                         model_hash=short_hash(path), text_options=text_options)
    return host_from_state_dict(weights, metadata, source=path, path=path, device=device, dtype=dtype,
                                prediction=prediction, model_name=os.path.splitext(os.path.basename(path))[0],
                                model_hash=short_hash(path), text_options=text_options)
