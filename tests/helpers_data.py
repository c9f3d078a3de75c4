"""A tiny real host for data-pipeline tests and image-folder builders.

The host uses real model code with small configs: ldm's VAE `Encoder` (3 down-samplings by
default, so latents are 1/8 of the pixel size; fewer make small bucket tests cheap) and a transformers `CLIPTextModel`; the tokenizer maps words
to ids by a stable hash. Only what the data pipeline needs from a `TrainingHost` is implemented.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ldm.modules.diffusionmodules.model import Encoder
from transformers import CLIPTextConfig, CLIPTextModel

SCALE_FACTOR = 0.18215
TOKENS = 77


class TinyDataHost:
    """Encodes pixels to a (mean, std) latent distribution and captions to (B, 77, 32) conditioning."""

    latent_channels = 4

    def __init__(self, seed: int = 0, text_width: int = 32, downsamplings: int = 3):
        torch.manual_seed(seed)
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.latent_downscale = 2 ** downsamplings  # SD's VAE: 3 down-samplings, 8x smaller latents
        self.vae = Encoder(ch=32, out_ch=3, ch_mult=(1,) * (downsamplings + 1), num_res_blocks=1, attn_resolutions=[],
                           in_channels=3, resolution=64, z_channels=4, double_z=True).eval()
        self.quant_conv = torch.nn.Conv2d(8, 8, 1).eval()
        config = CLIPTextConfig(vocab_size=1000, hidden_size=text_width, intermediate_size=2 * text_width,
                                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=TOKENS,
                                bos_token_id=1, eos_token_id=2, pad_token_id=2)
        self.text_model = CLIPTextModel(config).eval()
        self.encode_text_calls: list[list[str]] = []
        self.encode_pixels_calls = 0

    def encode_latent_distribution(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.encode_pixels_calls += 1
        with torch.no_grad():
            moments = self.quant_conv(self.vae(pixels.to(torch.float32)))
        mean, logvar = moments.chunk(2, dim=1)
        std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
        return mean * SCALE_FACTOR, std * SCALE_FACTOR

    def tokenize(self, text: str) -> list[int]:
        words = re.findall(r"\w+|[^\w\s]", text.lower())[: TOKENS - 2]
        ids = [1] + [3 + zlib.crc32(w.encode()) % 997 for w in words] + [2]
        return ids + [2] * (TOKENS - len(ids))

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        self.encode_text_calls.append(list(captions))
        ids = torch.tensor([self.tokenize(c) for c in captions], dtype=torch.long)
        with torch.no_grad():
            return self.text_model(input_ids=ids).last_hidden_state


def noise_image(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A random-noise image (distinct content per seed)."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(rng.integers(0, 256, (height, width, channels), dtype=np.uint8), mode)


def write_image(folder: Path, name: str, width: int = 64, height: int = 64, seed: int = 0,
                caption: str | None = None, mode: str = "RGB") -> Path:
    """Save a noise image (and its caption .txt if given) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    noise_image(width, height, seed, mode).save(path)
    if caption is not None:
        path.with_suffix(".txt").write_text(caption, encoding="utf-8")
    return path


def make_dataset(folder: Path, count: int = 4, width: int = 64, height: int = 64) -> Path:
    """`count` captioned noise images named img<i>.png."""
    for i in range(count):
        write_image(folder, f"img{i}.png", width, height, seed=i, caption=f"tag{i}a, tag{i}b, tag{i}c, tag{i}d")
    return folder
