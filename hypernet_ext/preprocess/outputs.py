"""Output names and atomic writes for preprocessed images and their captions.

Names are `<index:05>-<subindex>-<stem>.png`: `index` is the source's position in the sorted listing,
`subindex` counts that source's outputs (tiles, crops), and flipped copies add `-flip` (mirrored
left-right) or `-vflip` (upside down). Captions sit next to each image as `<same stem>.txt`. Focal-point debug images go to a
`focal-debug/` sub-folder so they never end up in a training set.
"""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from ..atomic_files import atomic_write
from ..errors import HypernetError
from ..safe_paths import read_regular_text, safe_component

DEBUG_FOLDER = "focal-debug"
_UNSAFE = re.compile(r"[^\w.\-]+")
MAX_STEM_BYTES = 120


class OutputWriteError(HypernetError):
    """An output file could not be written (disk full, permissions, ...)."""


def safe_stem(source: Path, root: Path) -> str:
    """The source's path below `root` without suffix, as one file-name-safe string."""
    relative = source.relative_to(root).with_suffix("")
    stem = "_".join(relative.parts)
    # bounded, so that "<index>-<sub>-<stem>-vflip.png" and its temporary name fit a 255-byte file name
    return safe_component(_UNSAFE.sub("_", stem).strip("._"), fallback="image", max_bytes=MAX_STEM_BYTES)


def output_name(index: int, subindex: int, stem: str, variant: str = "") -> str:
    return f"{index:05d}-{subindex}-{stem}{'-' + variant if variant else ''}.png"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda f: f.write(data))


def save_image(image: Image.Image, path: Path) -> None:
    """Save as PNG via a temporary file in the same folder and os.replace."""
    _atomic(path, lambda f: image.save(f, format="PNG"))


def save_caption(text: str, path: Path) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _atomic(path: Path, write) -> None:
    try:
        atomic_write(path, write)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}; "
                               "check the destination folder is writable and has free space") from None


def read_existing_caption(source: Path) -> str:
    """The text of `<source stem>.txt` next to the source, or "" when there is none."""
    caption = source.with_suffix(".txt")
    if caption.is_dir():
        return ""
    try:
        return read_regular_text(caption, "caption file", encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise HypernetError(f"cannot read caption {caption.name}: {exc.strerror or exc}") from None
