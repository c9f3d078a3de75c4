"""Low-VRAM training: the VAE and text encoders leave the GPU once their outputs are cached.

Training reads cached latents, and cached conditioning when every prompt is fixed for the run (no
tag shuffle or dropout; see `text_cache`), so neither encoder is used between previews. A host
that can move them implements `offload_encoders(text_encoder: bool)` and `restore_encoders()`;
other hosts (the webui, which has its own --medvram/--lowvram) keep their encoders where they are
and the trainer notes that the option had no effect.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch

UNET_WEIGHT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class EncoderOffload:
    """Context manager: encoders off the GPU inside, on it for `restored()` blocks (previews) and after."""

    def __init__(self, host, enabled: bool, text_cached: bool):
        self.host = host
        self.enabled = bool(enabled)
        self.text_cached = bool(text_cached)
        self.active = False
        self.note: Optional[str] = None

    def __enter__(self) -> "EncoderOffload":
        if not self.enabled:
            return self
        if not callable(getattr(self.host, "offload_encoders", None)):
            self.note = ("offload_encoders had no effect: this model host keeps its VAE and text encoder "
                         "in place (in the webui, use its --medvram/--lowvram options).")
            return self
        if not self.text_cached:
            self.note = ("offload_encoders moved only the VAE: prompts change every step (tag shuffle or "
                         "dropout), so the text encoder stays on the GPU to encode them.")
        self.host.offload_encoders(text_encoder=self.text_cached)
        self.active = True
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            self.host.restore_encoders()
            self.active = False

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """Encoders back on the GPU for the block (a preview needs both), then off again."""
        if not self.active:
            yield
            return
        self.host.restore_encoders()
        try:
            yield
        finally:
            self.host.offload_encoders(text_encoder=self.text_cached)
