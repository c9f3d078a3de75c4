"""The embedded `tiny-shapes` model: a small SD-1 model trained here to draw captioned coloured shapes.

It uses the same classes as any SD1 checkpoint (ldm UNet and VAE, transformers CLIP text encoder at
the real width 768, the real CLIP tokenizer), so hypernetworks for SD1 attach to it unchanged. It was
trained from scratch by `tools/train_tiny_shapes.py` on images from `shapes_data`; that script's
metrics lie beside the weights (`weights/tiny-shapes.json`).

The shipped file keeps the single-file checkpoint key names (`model.diffusion_model.*`,
`first_stage_model.*`, `cond_stage_model.transformer.*`) for every tensor except one: the 49408 x 768
token embedding, of which training only touches the rows of the caption vocabulary. The file holds
those rows (`tiny_shapes.token_ids`, `tiny_shapes.token_rows`) and `shapes_checkpoint()` rebuilds the
full matrix, zeros elsewhere (a word the model never saw carries no meaning), so the result is an
ordinary SD1 state dict: `export_checkpoint` writes it as one for other programs (e.g. the webui).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional, Union

import torch

from ..errors import HypernetworkFileError
from .model_config import SD1_TEXT_PREFIX, ModelConfig, TextEncoderConfig, UNetConfig, VAEConfig

TINY_SHAPES = ModelConfig(
    family="sd1",
    unet=UNetConfig(model_channels=64, channel_mult=(1, 2, 2), num_res_blocks=1, attention_levels=(0, 1, 2),
                    context_dim=768, num_heads=8),
    vae=VAEConfig(base_channels=32, channel_mult=(1, 1, 2, 2), num_res_blocks=1, latent_channels=4),
    text=TextEncoderConfig(width=768, layers=1, mlp_width=768))
IMAGE_SIZE = 64
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_PATH = WEIGHTS_DIR / "tiny-shapes.safetensors"
METRICS_PATH = WEIGHTS_DIR / "tiny-shapes.json"
TOKEN_EMBEDDING_KEY = SD1_TEXT_PREFIX + "text_model.embeddings.token_embedding.weight"
TOKEN_IDS_KEY = "tiny_shapes.token_ids"
TOKEN_ROWS_KEY = "tiny_shapes.token_rows"
# Generation settings the model was tuned for (sampling steps and guidance; see the metrics file).
SAMPLING = {"steps": 20, "cfg_scale": 5.0, "width": IMAGE_SIZE, "height": IMAGE_SIZE}


def caption_token_ids() -> torch.Tensor:
    """Sorted CLIP token ids of every caption word plus start/end (padding): the embedding rows trained."""
    from .shapes_data import caption_vocabulary
    from .tokenizer import shared_tokenizer

    tokenizer = shared_tokenizer("clip")
    ids = {tokenizer.start_id, tokenizer.end_id}
    for word in caption_vocabulary():
        ids.update(tokenizer.encode(word))
    return torch.tensor(sorted(ids), dtype=torch.long)


def pack_token_embedding(state_dict: Mapping[str, torch.Tensor], token_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """The state dict with the full token embedding replaced by its `token_ids` rows (for shipping)."""
    packed = {k: v for k, v in state_dict.items() if k != TOKEN_EMBEDDING_KEY}
    ids = token_ids.to(torch.int64).sort().values
    packed[TOKEN_IDS_KEY] = ids
    packed[TOKEN_ROWS_KEY] = state_dict[TOKEN_EMBEDDING_KEY][ids].contiguous()
    return packed


def unpack_token_embedding(packed: Mapping[str, torch.Tensor], vocab_size: int = 49408) -> dict[str, torch.Tensor]:
    """Inverse of `pack_token_embedding`: the full matrix, zeros for the rows not shipped."""
    if TOKEN_IDS_KEY not in packed or TOKEN_ROWS_KEY not in packed:
        raise HypernetworkFileError(f"the tiny-shapes weights lack {TOKEN_IDS_KEY}/{TOKEN_ROWS_KEY}; the file is "
                                    "damaged or not written by tools/train_tiny_shapes.py")
    ids, rows = packed[TOKEN_IDS_KEY].to(torch.int64), packed[TOKEN_ROWS_KEY]
    full = torch.zeros((vocab_size, rows.shape[1]), dtype=rows.dtype)
    full[ids] = rows
    state_dict = {k: v for k, v in packed.items() if k not in (TOKEN_IDS_KEY, TOKEN_ROWS_KEY)}
    state_dict[TOKEN_EMBEDDING_KEY] = full
    return state_dict


def shapes_checkpoint(path: Union[str, os.PathLike, None] = None,
                      dtype: torch.dtype = torch.float32) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(SD1 state dict, metadata) of the shipped tiny-shapes model (or another file the trainer wrote)."""
    from safetensors.torch import load_file
    from safetensors import safe_open

    path = Path(path or WEIGHTS_PATH)
    if not path.is_file():
        raise HypernetworkFileError(
            f"{path} is missing: the tiny-shapes weights ship with the repository; restore the file from git, "
            "or train them again with `python tools/train_tiny_shapes.py`")
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    packed = load_file(str(path))
    state_dict = unpack_token_embedding(packed)
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state_dict.items()}, metadata


def export_checkpoint(destination: Union[str, os.PathLike], *, overwrite: bool = False) -> str:
    """Write tiny-shapes as an ordinary SD1 single-file checkpoint (fp16, full token embedding)."""
    from .tiny import write_checkpoint

    state_dict, metadata = shapes_checkpoint(dtype=torch.float16)
    state_dict = {k: v if v.is_floating_point() else v for k, v in state_dict.items()}
    return write_checkpoint(destination, state_dict, metadata, overwrite=overwrite)


def generate_batch(host, prompts: list[str], seed: int, steps: int = SAMPLING["steps"],
                   cfg_scale: float = SAMPLING["cfg_scale"]) -> torch.Tensor:
    """(B, 3, 64, 64) images in [-1, 1] for `prompts` in one batch (DDIM, guidance against "")."""
    from .sampler import sample_ddim

    cond, uncond = host.encode_text(prompts), host.encode_text([""] * len(prompts))
    side = IMAGE_SIZE // host.latent_downscale
    with torch.no_grad():
        latents = sample_ddim(host.predict, cond, uncond, host.alphas_cumprod,
                              (len(prompts), host.latent_channels, side, side), steps=steps, cfg_scale=cfg_scale,
                              seed=seed, parameterization=host.parameterization, device=host.device)
        return host.vae.decode(latents.float())


def background_for(colour: str) -> str:
    """The background colour the accuracy test asks for with shape colour `colour` (never the same)."""
    from .shapes_data import SHAPE_COLOURS

    colours = list(SHAPE_COLOURS)
    return colours[(colours.index(colour) + 3) % len(colours)]


def prompt_accuracy(host, pairs: list[tuple[str, str]], seed: int) -> dict:
    """Draw "a <colour> <shape>" and "... on a <background> background" for each (colour, shape).

    Returns hit counts: the shape region's dominant colour is the prompt's (`colour_hits`), the border's
    colour is the asked background (`background_hits`), plus both image batches.
    """
    from .shapes_data import background_colour, shape_colour, to_uint8

    prompts = [f"a {colour} {shape}" for colour, shape in pairs]
    backs = [background_for(colour) for colour, _ in pairs]
    images = generate_batch(host, prompts, 1000 + seed)
    bg_images = generate_batch(host, [f"{p} on a {b} background" for p, b in zip(prompts, backs)], 2000 + seed)
    return {
        "colour_hits": sum(shape_colour(to_uint8(image)) == colour for image, (colour, _) in zip(images, pairs)),
        "background_hits": sum(background_colour(to_uint8(image)) == b for image, b in zip(bg_images, backs)),
        "count": len(pairs), "images": images, "background_images": bg_images,
    }


def recorded_metrics(path: Union[str, os.PathLike, None] = None) -> Optional[dict]:
    """The metrics the training script recorded beside the weights, if present."""
    path = Path(path or METRICS_PATH)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
