"""Auto-sized crop: pick an output size near the image's aspect ratio within size and area bounds."""
from __future__ import annotations

from PIL import Image

from .resize import RESAMPLE

OBJECTIVES = ("Maximize area", "Minimize error")
SIZE_STEP = 64


def aspect_error(size: tuple[int, int], width: int, height: int) -> float:
    """0 when width x height has the image's aspect ratio, towards 1 the further off."""
    relative = (size[0] / size[1]) / (width / height)
    return 1 - min(relative, 1 / relative)


def choose_size(size: tuple[int, int], min_size: int, max_size: int, min_area: int, max_area: int,
                objective: str = "Maximize area", threshold: float = 0.1,
                step: int = SIZE_STEP) -> tuple[int, int] | None:
    """Best (width, height) on a `step` grid in [min_size, max_size], or None when none is within `threshold`."""
    best_key, best = None, None
    for w in range(min_size, max_size + 1, step):
        for h in range(min_size, max_size + 1, step):
            if not min_area <= w * h <= max_area:
                continue
            err = aspect_error(size, w, h)
            if err > threshold:
                continue
            key = (w * h, -err) if objective == "Maximize area" else (-err, w * h)
            if best_key is None or key > best_key:
                best_key, best = key, (w, h)
    return best


def crop_to_aspect(image: Image.Image, width: int, height: int) -> Image.Image:
    """The largest centred box of `image` with the aspect ratio width:height, resized to width x height."""
    target = width / height
    if image.width / image.height > target:
        box_w, box_h = max(1, round(image.height * target)), image.height
    else:
        box_w, box_h = image.width, max(1, round(image.width / target))
    left, top = (image.width - box_w) // 2, (image.height - box_h) // 2
    return image.resize((width, height), RESAMPLE, box=(left, top, left + box_w, top + box_h))
