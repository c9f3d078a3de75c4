"""Pluggable captioners: a tiny protocol, a registry the webui glue adds to, and a file-name captioner.

Everywhere: the file-name captioner and the WD14 tagger (`wd14`, a local ONNX model; see `wd14.py`).
Inside the webui, the glue also registers BLIP and DeepDanbooru (`registry.register("blip", factory)`).
Factories are called lazily, on first use, so a heavy model loads only when a run asks for it; a
factory registered with `takes_options=True` gets the run's options and makes a fresh captioner per
run; a captioner with a `close()` method is closed at the end of the run.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Protocol, Union, runtime_checkable

from PIL import Image

from ..errors import HypernetError

SOURCE_PATH_KEY = "source_path"   # the pipeline puts the source file path in image.info under this key
CAPTION_ACTIONS = ("ignore", "copy", "prepend", "append")


@runtime_checkable
class Captioner(Protocol):
    """Anything with a `name` and `caption(image) -> str`."""

    name: str

    def caption(self, image: Image.Image) -> str: ...


CaptionerFactory = Callable[[], Captioner]


class CaptionerUnavailableError(HypernetError):
    """A captioner was asked for by name but is not registered here."""


class CaptionerRegistry:
    """Captioners by name; entries are instances or zero-argument factories."""

    def __init__(self) -> None:
        self._entries: dict[str, Union[Captioner, CaptionerFactory]] = {}
        self._descriptions: dict[str, str] = {}
        self._takes_options: set[str] = set()

    def register(self, name: str, captioner: Union[Captioner, CaptionerFactory], description: str = "",
                 takes_options: bool = False) -> None:
        """Add or replace `name` (case-insensitive); `takes_options`: the factory is called with the run's options."""
        self._entries[name.lower()] = captioner
        self._descriptions[name.lower()] = description
        self._takes_options.discard(name.lower())
        if takes_options:
            self._takes_options.add(name.lower())

    def unregister(self, name: str) -> None:
        self._entries.pop(name.lower(), None)
        self._descriptions.pop(name.lower(), None)
        self._takes_options.discard(name.lower())

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        return self._descriptions.get(name.lower(), "")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def check(self, names: list[str]) -> None:
        """Raise CaptionerUnavailableError naming every unknown captioner and what is available."""
        missing = [n for n in names if n not in self]
        if missing:
            available = ", ".join(self.names()) or "none"
            raise CaptionerUnavailableError(
                f"captioner {', '.join(repr(m) for m in missing)} is not available here "
                f"(available: {available}); BLIP and DeepDanbooru exist only when running inside the webui, "
                "standalone use 'filename', 'wd14' or no captioner")

    def get(self, name: str, options: object = None) -> Captioner:
        """The captioner for `name`, created from its factory on first use (per run when it takes options)."""
        self.check([name])
        entry = self._entries[name.lower()]
        if name.lower() in self._takes_options:
            return entry(options)
        if not isinstance(entry, Captioner):
            entry = entry()
            self._entries[name.lower()] = entry
        return entry


_NUMBERED_PREFIX = re.compile(r"^[\d\s_-]+(?=\D)")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def caption_from_filename(path: str | Path) -> str:
    """Words of a file name: 'my_cat-sleeping (2).png' -> 'my cat sleeping 2'; leading counters dropped."""
    stem = Path(path).stem
    stem = _NUMBERED_PREFIX.sub("", stem)
    return " ".join(_WORD.findall(stem))


class FilenameCaptioner:
    """Captions an image with the words of its source file name."""

    name = "filename"

    def caption(self, image: Image.Image) -> str:
        source = image.info.get(SOURCE_PATH_KEY) or getattr(image, "filename", "")
        return caption_from_filename(source) if source else ""


def default_registry() -> CaptionerRegistry:
    """A fresh registry holding the standalone captioners."""
    registry = CaptionerRegistry()
    registry.register("filename", FilenameCaptioner(), "words of the source file name")
    registry.register("wd14", _wd14_tagger, "booru tags from a local WD14 tagger model (onnxruntime)",
                      takes_options=True)
    return registry


def _wd14_tagger(options) -> Captioner:
    from .wd14 import tagger_from_options
    return tagger_from_options(options)


REGISTRY = default_registry()
"""The process-wide registry; the webui glue registers its BLIP and DeepDanbooru captioners here."""


def combine_captions(existing: str, new: str, action: str, separator: str = ", ") -> str:
    """Apply the webui's existing-caption action.

    ignore: the new caption only; copy: the existing caption only; prepend: existing caption first,
    then the new one; append: new caption first, then the existing one.
    """
    existing, new = existing.strip(), new.strip()
    if action == "ignore":
        return new
    if action == "copy":
        return existing
    if action == "prepend":
        parts = [existing, new]
    elif action == "append":
        parts = [new, existing]
    else:
        raise HypernetError(f"unknown caption action {action!r}; use one of {', '.join(CAPTION_ACTIONS)}")
    return separator.join(p for p in parts if p)
