"""The webui's BLIP and DeepDanbooru as preprocessing captioners (registered in hypernet_ext's registry).

Models load on the first caption of a run and go back to RAM when the run ends (`close`), the way
the webui's former Preprocess tab handled them. BLIP downloads its weights on first use, as in the webui.
"""
from __future__ import annotations

from PIL import Image

from ..preprocess.captioners import REGISTRY, CaptionerRegistry


class BlipCaptioner:
    """A caption sentence from the webui's BLIP interrogator."""

    name = "BLIP"

    def __init__(self) -> None:
        self._loaded = False

    def caption(self, image: Image.Image) -> str:
        from modules import shared
        if not self._loaded:
            shared.interrogator.load()
            self._loaded = True
        return str(shared.interrogator.generate_caption(image.convert("RGB"))).strip()

    def close(self) -> None:
        if self._loaded:
            from modules import shared
            shared.interrogator.unload()
            self._loaded = False


class DeepDanbooruCaptioner:
    """Comma-separated tags from the webui's DeepDanbooru (its threshold and tag settings apply)."""

    name = "DeepDanbooru"

    def __init__(self) -> None:
        self._started = False

    def caption(self, image: Image.Image) -> str:
        from modules import deepbooru
        if not self._started:
            deepbooru.model.start()
            self._started = True
        return str(deepbooru.model.tag_multi(image.convert("RGB"))).strip()

    def close(self) -> None:
        if self._started:
            from modules import deepbooru
            deepbooru.model.stop()
            self._started = False


def register_webui_captioners(registry: CaptionerRegistry = REGISTRY) -> None:
    """Offer BLIP and DeepDanbooru in the Preprocess panel and API (zero-argument factories: lazy)."""
    registry.register("BLIP", lambda: BlipCaptioner(), "the webui's BLIP caption (downloads its model once)")
    registry.register("DeepDanbooru", lambda: DeepDanbooruCaptioner(), "the webui's DeepDanbooru tags")
