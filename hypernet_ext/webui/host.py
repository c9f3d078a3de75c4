"""`WebuiHost`: the training host (see `hypernet_ext.training.host.TrainingHost`) on the webui's model.

Works on the loaded ldm `LatentDiffusion` (SD1/SD2): the VAE through `encode_first_stage` /
`get_first_stage_encoding`, text through `cond_stage_model` (the webui's hijacked embedder, so
emphasis and long prompts behave as in txt2img), the UNet through `apply_model`.
On SDXL (sgm `DiffusionEngine`) text goes through the webui's `get_learned_conditioning`
({"crossattn", "vector"}); each training sample's own size numbers (original size, crop, target)
replace the size part of the vector, embedded by the conditioner's own size embedders; the latent
distribution comes from the first stage's encoder and `quant_conv` (sgm's `encode_first_stage`
only returns a random sample, which would make runs irreproducible). The webui's
attention optimisation stays in place; hypernetworks attach with hooks on `to_k`/`to_v`.
Previews run the webui's own txt2img with extra networks disabled, so the attachment the trainer
holds is the only hypernetwork in effect.
"""
from __future__ import annotations

import contextlib
from typing import Any, Optional

import torch

from ..errors import HypernetError
from ..training.host import PreviewParams
from ..training.text_cache import check_conditioning
from .runtime import model_unet, runtime

SDXL_INPAINT_MESSAGE = ("SDXL inpainting checkpoints need extra image conditioning and cannot be used for "
                        "training; load a plain SDXL, SD1.x or SD2.x checkpoint.")
SIZE_KEYS = ("original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple")


class UnsupportedModelError(HypernetError):
    """The loaded checkpoint cannot be used for training."""


def _autocast():
    try:
        from modules import devices
    except ImportError:
        return contextlib.nullcontext()
    return devices.autocast()


class WebuiHost:
    """TrainingHost over `shared.sd_model` (or the model passed in)."""

    latent_downscale = 8

    def __init__(self, sd_model: Any = None):
        from modules import shared
        model = shared.sd_model if sd_model is None else sd_model
        check_trainable(model)
        self.sd_model = model
        self.unet = model_unet(model)
        first = next(self.unet.parameters())
        self.device = first.device if _device() is None else _device()
        self.dtype = first.dtype
        self.parameterization = str(getattr(model, "parameterization", "eps"))
        self.alphas_cumprod = model.alphas_cumprod.detach().to("cpu", torch.float32)
        self.attention_widths = runtime.model_widths(model)
        self.latent_channels = int(getattr(model, "latent_channels", 4) or 4)
        info = getattr(model, "sd_checkpoint_info", None)
        self.model_name = getattr(info, "name_for_extra", None) or getattr(info, "name", None)
        self.model_hash = getattr(model, "sd_model_hash", None) or getattr(info, "shorthash", None)
        self.is_sdxl = bool(getattr(model, "is_sdxl", False))
        self.family = "sdxl" if self.is_sdxl else None
        self.size_conditioning = self.is_sdxl  # the training data then adds per-sample "sizes"
        if self.is_sdxl:
            self._size_embedders = _size_embedders(model)

    def encode_latent_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        model = self.sd_model
        if self.is_sdxl:
            return self._sdxl_latent_distribution(pixels)
        vae_dtype = _vae_dtype(model, pixels.dtype)
        with torch.no_grad(), _autocast():
            posterior = model.encode_first_stage(pixels.to(self.device, vae_dtype))
        mean = getattr(posterior, "mean", None)
        std = getattr(posterior, "std", None)
        if mean is None or std is None:  # a deterministic first stage: the encoding is the mean
            latent = model.get_first_stage_encoding(posterior)
            return latent.float(), torch.zeros_like(latent, dtype=torch.float32)
        scaled_mean = model.get_first_stage_encoding(mean)
        scale = float(getattr(model, "scale_factor", 1.0))
        return scaled_mean.float(), (std * scale).float()

    def _sdxl_latent_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first_stage = self.sd_model.first_stage_model
        with torch.no_grad():  # sgm runs its first stage without autocast (disable_first_stage_autocast)
            moments = first_stage.quant_conv(first_stage.encoder(pixels.to(self.device, _vae_dtype(self.sd_model, pixels.dtype))))
        mean, logvar = torch.chunk(moments.float(), 2, dim=1)
        scale = float(self.sd_model.scale_factor)
        return mean * scale, torch.exp(0.5 * logvar.clamp(-30.0, 20.0)) * scale

    def encode_text(self, captions: list[str]):
        if self.is_sdxl:
            with torch.no_grad(), _autocast():
                cond = self.sd_model.get_learned_conditioning(list(captions))
            cond = {"context": cond["crossattn"], "vector": cond["vector"]}
            check_conditioning(captions, cond, _nonfinite_text_hint())
            return {key: value.to(self.device, self.dtype) for key, value in cond.items()}
        with torch.no_grad(), _autocast():
            cond = self.sd_model.cond_stage_model(list(captions))
        if isinstance(cond, dict):  # sgm-style embedders return a dict; SD1/2 return a tensor
            cond = cond["crossattn"]
        check_conditioning(captions, cond, _nonfinite_text_hint())
        return cond.to(self.device, self.dtype)

    def _sdxl_cond(self, cond) -> dict:
        """sgm's {"crossattn", "vector"}; per-sample "sizes" (B, 6) replace the vector's size embeddings."""
        vector = cond["vector"].to(self.device, self.dtype)
        sizes = cond.get("sizes")
        if sizes is not None:
            with torch.no_grad():
                parts = [embedder(sizes[:, 2 * i:2 * i + 2].to(self.device)) for i, embedder in
                         enumerate(self._size_embedders)]
            size_part = torch.cat(parts, dim=1).to(vector.dtype)
            vector = torch.cat([vector[:, :vector.shape[1] - size_part.shape[1]], size_part], dim=1)
        return {"crossattn": cond["context"].to(self.device, self.dtype), "vector": vector}

    def predict(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, cond) -> torch.Tensor:
        if self.is_sdxl:
            with _autocast():
                out = self.sd_model.apply_model(noisy_latents.to(self.device, self.dtype),
                                                timesteps.to(self.device), self._sdxl_cond(cond))
            return out.to(noisy_latents.dtype)
        with _autocast():
            out = self.sd_model.apply_model(noisy_latents.to(self.device, self.dtype),
                                            timesteps.to(self.device), cond.to(self.device, self.dtype))
        return out.to(noisy_latents.dtype)

    def generate_preview(self, params: PreviewParams):
        """Render with the webui's txt2img (extra networks disabled: only the attachment applies)."""
        from modules import processing, shared
        p = processing.StableDiffusionProcessingTxt2Img(
            sd_model=self.sd_model, do_not_save_grid=True, do_not_save_samples=True)
        p.disable_extra_networks = True
        p.prompt, p.negative_prompt = params.prompt, params.negative_prompt
        p.steps, p.cfg_scale, p.seed = int(params.steps), float(params.cfg_scale), int(params.seed)
        p.width, p.height = int(params.width), int(params.height)
        if params.sampler:
            p.sampler_name = params.sampler
        try:
            processed = processing.process_images(p)
        finally:
            close = getattr(p, "close", None)
            if callable(close):
                close()
        image = processed.images[0] if processed is not None and processed.images else None
        state = getattr(shared, "state", None)
        if image is not None and hasattr(state, "assign_current_image"):
            state.assign_current_image(image)
        return image


def check_trainable(model: Any) -> None:
    """Raise `UnsupportedModelError` with the fix when the model cannot be trained on."""
    if model is None:
        raise UnsupportedModelError("No checkpoint is loaded; select an SD1.x or SD2.x checkpoint first.")
    if getattr(model, "is_sdxl_inpaint", False):
        raise UnsupportedModelError(SDXL_INPAINT_MESSAGE)
    if getattr(model, "is_sdxl", False):
        _size_embedders(model)
    if getattr(model, "is_sd3", False):
        raise UnsupportedModelError("SD3 checkpoints have no cross-attention layers a hypernetwork can "
                                    "attach to; load an SD1.x or SD2.x checkpoint to train.")
    if model_unet(model) is None or not hasattr(model, "apply_model"):
        raise UnsupportedModelError("The loaded model is not a Stable Diffusion LatentDiffusion model; "
                                    "load an SD1.x or SD2.x checkpoint to train.")
    if getattr(model, "conditioning_key", "crossattn") not in ("crossattn", None):
        raise UnsupportedModelError("Inpainting/depth checkpoints need extra image conditioning and "
                                    "cannot be used for training; load a plain SD1.x or SD2.x checkpoint.")


def _size_embedders(model: Any) -> list:
    """The conditioner's three size embedders, which must come last (their output ends the vector)."""
    embedders = list(getattr(getattr(model, "conditioner", None), "embedders", []) or [])
    keys = [getattr(e, "input_key", None) for e in embedders[-3:]]
    if keys != list(SIZE_KEYS):
        raise UnsupportedModelError(
            f"This SDXL model's conditioner ends with {keys}, not the size embedders {list(SIZE_KEYS)} of "
            "SDXL base models (a refiner or another variant); load an SDXL base checkpoint to train.")
    return embedders[-3:]


def _nonfinite_text_hint() -> str:
    """What to do about NaN conditioning, naming the webui setting that causes it when it is on."""
    fix = "change the caption or template line that produces this prompt"
    try:
        from modules import shared
        emphasis = getattr(shared.opts, "emphasis", None)
    except (ImportError, AttributeError):
        emphasis = None
    if emphasis == "Original":
        return ("With Settings > Stable Diffusion > Emphasis mode 'Original' the webui divides the encoding "
                "by its own average, which gives NaN when that average is exactly 0 (seen with text encoders "
                f"whose final LayerNorm has a zero bias). Set Emphasis mode to 'No norm', or {fix}.")
    return f"Check the loaded checkpoint's text encoder, or {fix}."


def _device() -> Optional[torch.device]:
    try:
        from modules import devices
    except ImportError:
        return None
    device = getattr(devices, "device", None)
    return torch.device(device) if device is not None else None


def _vae_dtype(model: Any, default: torch.dtype) -> torch.dtype:
    first_stage = getattr(model, "first_stage_model", None)
    parameter = next(first_stage.parameters(), None) if first_stage is not None else None
    return parameter.dtype if parameter is not None else default
