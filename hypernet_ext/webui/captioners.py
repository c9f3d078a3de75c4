"""The webui's BLIP and DeepDanbooru as preprocessing captioners (registered in hypernet_ext's registry).

Models load on the first caption of a run and go back to RAM when the run ends (`close`), the way
the webui's former Preprocess tab handled them. BLIP downloads its weights on first use, as in the webui.
"""
from __future__ import annotations

from PIL import Image

from ..preprocess.captioners import REGISTRY, CaptionerRegistry


class _WebuiModelCaptioner:
    """Starts its webui model on the first caption of a run and stops it in `close` (end of the run)."""

    name = ""

    def __init__(self) -> None:
        self._started = False

    def caption(self, image: Image.Image) -> str:
        if not self._started:
            self._start()
            self._started = True
        return str(self._caption(image.convert("RGB"))).strip()

    def close(self) -> None:
        if self._started:
            self._stop()
            self._started = False


class BlipCaptioner(_WebuiModelCaptioner):
    """A caption sentence from the webui's BLIP interrogator."""

    name = "BLIP"

    def _start(self) -> None:
        from modules import shared
        shared.interrogator.load()

    def _caption(self, image: Image.Image) -> str:
        from modules import shared
        return shared.interrogator.generate_caption(image)

    def _stop(self) -> None:
        from modules import shared
        shared.interrogator.unload()


class DeepDanbooruCaptioner(_WebuiModelCaptioner):
    """Comma-separated tags from the webui's DeepDanbooru (its threshold and tag settings apply)."""

    name = "DeepDanbooru"

    def _start(self) -> None:
        from modules import deepbooru
        deepbooru.model.start()

    def _caption(self, image: Image.Image) -> str:
        from modules import deepbooru
        return deepbooru.model.tag_multi(image)

    def _stop(self) -> None:
        from modules import deepbooru
        deepbooru.model.stop()


def register_webui_captioners(registry: CaptionerRegistry = REGISTRY) -> None:
    """Offer BLIP and DeepDanbooru in the Preprocess panel and API (zero-argument factories: lazy)."""
    registry.register("BLIP", lambda: BlipCaptioner(), "the webui's BLIP caption (downloads its model once)")
    registry.register("DeepDanbooru", lambda: DeepDanbooruCaptioner(), "the webui's DeepDanbooru tags")
