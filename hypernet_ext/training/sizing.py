"""Training sizes: fixed-size resizing (crop / stretch / fit) and aspect-ratio bucket sizes.

Every mode works on an RGB image plus an optional alpha mask and transforms both the same way,
so the alpha loss weight stays aligned with the pixels.
- "crop" (default): scale to cover the target keeping the aspect ratio, then centre-crop.
- "stretch": BICUBIC resize to the target, aspect ratio not kept (what the webui does).
- "fit": scale to fit inside the target keeping the aspect ratio and pad with the background;
  the padding gets alpha 0, so with alpha weighting it does not count in the loss.
- buckets: scale to about the target area, each side rounded to a multiple of `unit`, no crop
  (the aspect ratio changes by at most half a unit per side).
"""
from __future__ import annotations

import math
from typing import Optional

from PIL import Image

from ..errors import InvalidOptionError
from ..images import RESIZE_MODES
_LANCZOS = Image.Resampling.LANCZOS
_BICUBIC = Image.Resampling.BICUBIC

Size = tuple[int, int]


def bucket_size(image_size: Size, target_area: int, unit: int) -> Size:
    """(w, h) with about `target_area` pixels and the image's aspect ratio, sides multiples of `unit`."""
    w, h = image_size
    scale = math.sqrt(target_area / float(w * h))
    return (max(unit, int(round(w * scale / unit)) * unit),
            max(unit, int(round(h * scale / unit)) * unit))


def _scaled(image: Image.Image, size: Size, resample) -> Image.Image:
    return image if image.size == size else image.resize(size, resample)


def crop_geometry(image_size: Size, size: Size) -> tuple[Size, int, int]:
    """("crop" mode) the scaled image size (w, h) and the crop's left and top in it."""
    w, h = image_size
    scale = max(size[0] / w, size[1] / h)
    scaled = (max(size[0], round(w * scale)), max(size[1], round(h * scale)))
    return scaled, (scaled[0] - size[0]) // 2, (scaled[1] - size[1]) // 2


def crop_top_left(image_size: Size, size: Size, mode: str, mirrored: bool = False) -> tuple[int, int]:
    """(top, left) of the training crop in the scaled image (SDXL's crop conditioning); (0, 0) without crop.

    `mirrored`: the crop's position in the horizontally flipped image."""
    if mode != "crop":
        return 0, 0
    scaled, left, top = crop_geometry(image_size, size)
    return top, (scaled[0] - size[0] - left) if mirrored else left


def _crop(rgb: Image.Image, alpha: Optional[Image.Image], size: Size):
    scaled, left, top = crop_geometry(rgb.size, size)
    box = (left, top, left + size[0], top + size[1])
    rgb = _scaled(rgb, scaled, _LANCZOS).crop(box)
    alpha = None if alpha is None else _scaled(alpha, scaled, _LANCZOS).crop(box)
    return rgb, alpha


def _fit(rgb: Image.Image, alpha: Optional[Image.Image], size: Size, background):
    w, h = rgb.size
    scale = min(size[0] / w, size[1] / h)
    inner = (max(1, min(size[0], round(w * scale))), max(1, min(size[1], round(h * scale))))
    offset = ((size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2)
    canvas = Image.new("RGB", size, background)
    canvas.paste(_scaled(rgb, inner, _LANCZOS), offset)
    mask = Image.new("L", size, 0)
    mask.paste(Image.new("L", inner, 255) if alpha is None else _scaled(alpha, inner, _LANCZOS), offset)
    if alpha is None and inner == size:
        mask = None
    return canvas, mask


def resize_for_training(rgb: Image.Image, alpha: Optional[Image.Image], size: Size, mode: str,
                        background=(255, 255, 255)) -> tuple[Image.Image, Optional[Image.Image]]:
    """(rgb, alpha) transformed to exactly `size` by `mode` ("crop", "stretch", "fit" or "bucket")."""
    if mode == "crop":
        return _crop(rgb, alpha, size)
    if mode == "stretch":
        return _scaled(rgb, size, _BICUBIC), None if alpha is None else _scaled(alpha, size, _BICUBIC)
    if mode == "fit":
        return _fit(rgb, alpha, size, background)
    if mode == "bucket":
        return _scaled(rgb, size, _LANCZOS), None if alpha is None else _scaled(alpha, size, _LANCZOS)
    raise InvalidOptionError(f"resize mode {mode!r} is not one of {RESIZE_MODES}; pick one of them")
