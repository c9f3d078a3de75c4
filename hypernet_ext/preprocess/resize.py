"""Resize an image to an exact output size: crop to fill, fit with padding, or stretch."""
from __future__ import annotations

from typing import Sequence, Union

from PIL import Image

from ..images import RESIZE_MODES, parse_color
Fill = Union[str, Sequence[int]]  # a colour, or "edge" to extend the border pixels like the webui
RESAMPLE = Image.Resampling.LANCZOS


def scaled(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` resized to exactly width x height (no copy when already that size)."""
    width, height = max(1, int(width)), max(1, int(height))
    if image.size == (width, height):
        return image
    return image.resize((width, height), RESAMPLE)


def cover_scale(size: tuple[int, int], width: int, height: int) -> float:
    """Scale factor at which `size` just covers width x height."""
    return max(width / size[0], height / size[1])


def fit_scale(size: tuple[int, int], width: int, height: int) -> float:
    """Scale factor at which `size` just fits inside width x height."""
    return min(width / size[0], height / size[1])


def scale_to_cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resize keeping the aspect ratio so both sides are at least width x height (one side exact)."""
    s = cover_scale(image.size, width, height)
    w = max(width, round(image.width * s))
    h = max(height, round(image.height * s))
    return scaled(image, w, h)


def center_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """The centred width x height box of an image at least that large."""
    left = (image.width - width) // 2
    top = (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def crop_to_fill(image: Image.Image, width: int, height: int) -> Image.Image:
    return center_crop(scale_to_cover(image, width, height), width, height)


def fit_with_padding(image: Image.Image, width: int, height: int, fill: Fill = (255, 255, 255)) -> Image.Image:
    """Fit inside width x height and pad the rest with `fill` (a colour or "edge").

    RGBA images get transparent padding (alpha 0), so alpha used as loss weight ignores it.
    """
    s = fit_scale(image.size, width, height)
    w = min(width, max(1, round(image.width * s)))
    h = min(height, max(1, round(image.height * s)))
    inner = scaled(image, w, h)
    left, top = (width - w) // 2, (height - h) // 2
    if isinstance(fill, str) and fill.lower() == "edge":
        canvas = _edge_canvas(inner, width, height, left, top)
    else:
        rgb = parse_color(fill)
        color = rgb + (0,) if image.mode == "RGBA" else rgb
        canvas = Image.new(image.mode, (width, height), color)
    canvas.paste(inner, (left, top))
    return canvas


def _edge_canvas(inner: Image.Image, width: int, height: int, left: int, top: int) -> Image.Image:
    """A canvas whose padding repeats the nearest border row/column of `inner`."""
    canvas = Image.new(inner.mode, (width, height))
    w, h = inner.size
    if top > 0 or height - top - h > 0:
        first = inner.crop((0, 0, w, 1)).resize((w, max(top, 1)))
        last = inner.crop((0, h - 1, w, h)).resize((w, max(height - top - h, 1)))
        if top > 0:
            canvas.paste(first, (left, 0))
        if height - top - h > 0:
            canvas.paste(last, (left, top + h))
    if left > 0 or width - left - w > 0:
        first = inner.crop((0, 0, 1, h)).resize((max(left, 1), h))
        last = inner.crop((w - 1, 0, w, h)).resize((max(width - left - w, 1), h))
        if left > 0:
            canvas.paste(first, (0, top))
        if width - left - w > 0:
            canvas.paste(last, (left + w, top))
    return canvas


def resize_to(image: Image.Image, width: int, height: int, mode: str = "crop",
              fill: Fill = (255, 255, 255)) -> Image.Image:
    """Make `image` exactly width x height with the given resize mode."""
    if mode == "crop":
        return crop_to_fill(image, width, height)
    if mode == "fit":
        return fit_with_padding(image, width, height, fill)
    if mode == "stretch":
        return scaled(image, width, height)
    raise ValueError(f"unknown resize mode {mode!r}; use one of {', '.join(RESIZE_MODES)}")


def upscale_factor(size: tuple[int, int], width: int, height: int, mode: str) -> float:
    """How much `resize_to` would enlarge an image of `size` (1.0 or less: no enlargement)."""
    if mode == "fit":
        return fit_scale(size, width, height)
    if mode == "stretch":
        return max(width / size[0], height / size[1])
    return cover_scale(size, width, height)
