"""Split images much longer than the target aspect ratio into overlapping tiles (the webui's rule)."""
from __future__ import annotations

import math

from PIL import Image

from .resize import scaled


def aspect_ratio_match(size: tuple[int, int], width: int, height: int) -> float:
    """1.0 when `size` has the target's aspect ratio, towards 0 the more it is too long or too tall."""
    relative = (size[0] / size[1]) / (width / height)
    return min(relative, 1 / relative)


def should_split(size: tuple[int, int], width: int, height: int, threshold: float) -> bool:
    """The webui's test: split when the aspect mismatch is at or below `threshold`."""
    ratio = aspect_ratio_match(size, width, height)
    return ratio < 1.0 and ratio <= threshold


def tile_count(length: int, tile: int, overlap: float) -> int:
    """Tiles of `tile` pixels, overlapping by `overlap` of a tile, needed to cover `length`."""
    if length <= tile:
        return 1
    return max(2, math.ceil((length - tile * overlap) / (tile * (1 - overlap))))


def split_tiles(image: Image.Image, width: int, height: int, overlap: float) -> list[Image.Image]:
    """Scale so the short side (relative to the target) matches, then cut evenly spaced width x height tiles."""
    tall = image.width / image.height < width / height
    if tall:
        scaled_image = scaled(image, width, max(height, round(image.height * width / image.width)))
        length, tile = scaled_image.height, height
    else:
        scaled_image = scaled(image, max(width, round(image.width * height / image.height)), height)
        length, tile = scaled_image.width, width
    count = tile_count(length, tile, overlap)
    step = (length - tile) / (count - 1) if count > 1 else 0.0
    tiles = []
    for i in range(count):
        start = round(i * step) if count > 1 else (length - tile) // 2
        box = (0, start, width, start + tile) if tall else (start, 0, start + tile, height)
        tiles.append(scaled_image.crop(box))
    return tiles
