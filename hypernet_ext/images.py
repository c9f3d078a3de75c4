"""Robust image reading shared by preprocessing and training.

`open_image` returns a fully loaded RGB (or RGBA) image whatever the file holds: EXIF orientation
applied, CMYK / palette / grey / 16-bit / 32-bit / float data converted, animations reduced to their
first frame, alpha either kept or composited on a background. Anything that cannot be read (missing,
not an image, truncated, corrupt, too many pixels) raises `ImageReadError` naming the file and why.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageColor, UnidentifiedImageError

from .errors import HypernetError
from .safe_paths import NotRegularFileError, open_regular

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp", ".gif", ".tif", ".tiff",
)
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own decompression-bomb limit (2 x MAX_IMAGE_PIXELS)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}

Color = Union[str, Sequence[int]]


class ImageReadError(HypernetError):
    """An image file could not be read; `path` and `reason` say which and why."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


def list_image_files(folder: os.PathLike | str, recursive: bool = False) -> list[Path]:
    """Image files in `folder` (by suffix, case-insensitive), sorted; dot-files and dot-folders skipped."""
    root = Path(folder)
    if not root.is_dir():
        raise HypernetError(f"image folder {str(root)!r} does not exist or is not a folder; "
                            "pick an existing folder of images")
    found: list[Path] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(Path(dirpath) / f for f in filenames if _is_image_name(f))
    else:
        found = [p for p in root.iterdir() if p.is_file() and _is_image_name(p.name)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix().lower())


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def parse_color(value: Color) -> tuple[int, int, int]:
    """An RGB triple from `(r, g, b)`, `"#rrggbb"` or a colour name; raises HypernetError otherwise."""
    try:
        if isinstance(value, str):
            rgb = ImageColor.getrgb(value)[:3]
        else:
            rgb = tuple(int(c) for c in value)
    except (ValueError, TypeError) as exc:
        raise HypernetError(f"background colour {value!r} is not a colour ({exc}); "
                            "use (r, g, b), '#rrggbb' or a name such as 'white'") from None
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise HypernetError(f"background colour {value!r} must be three values 0-255, e.g. (255, 255, 255)")
    return rgb  # type: ignore[return-value]


def open_image(path: os.PathLike | str, *, keep_alpha: bool = False,
               background: Color = (255, 255, 255), max_pixels: int = DEFAULT_MAX_PIXELS,
               draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Read `path` as a loaded RGB image (RGBA when `keep_alpha` and the image has alpha).

    `draft_size` lets JPEG decode at a reduced scale (1/2, 1/4, 1/8) as long as both sides stay at
    least that large, which bounds memory for huge photos. `max_pixels` is checked on the size that
    would be decoded, before decoding.
    """
    path = Path(path)
    bg = parse_color(background)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with open_regular(path, "image file") as handle, Image.open(handle) as im:
                return _decode(path, im, keep_alpha, bg, max_pixels, draft_size)
        except ImageReadError:
            raise
        except NotRegularFileError as exc:  # a FIFO would block the whole job forever
            raise ImageReadError(path, f"is a {str(exc).split(' is a ', 1)[-1].split(',')[0]}, not an image file") from None
        except HypernetError as exc:
            raise ImageReadError(path, str(exc)) from None
        except FileNotFoundError:
            raise ImageReadError(path, "file not found") from None
        except IsADirectoryError:
            raise ImageReadError(path, "is a folder, not an image file") from None
        except UnidentifiedImageError:
            raise ImageReadError(path, "not an image file Pillow can read (unknown or damaged format)") from None
        except Image.DecompressionBombError as exc:
            raise ImageReadError(path, f"too large: {exc}") from None
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError, IndexError, TypeError) as exc:
            raise ImageReadError(path, f"corrupt or truncated image data ({exc})") from None


def _decode(path: Path, im: Image.Image, keep_alpha: bool, bg: tuple[int, int, int],
            max_pixels: int, draft_size: tuple[int, int] | None) -> Image.Image:
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    orientation = _orientation(im)
    if draft_size is not None and im.format == "JPEG":
        want = (max(1, int(draft_size[0])), max(1, int(draft_size[1])))
        im.draft(None, want[::-1] if orientation in _SWAPS_AXES else want)
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageReadError(path, f"has an empty size {width}x{height}")
    if max_pixels and width * height > max_pixels:
        raise ImageReadError(path, f"too large: {width}x{height} = {width * height:,} pixels is over the "
                                   f"limit of {max_pixels:,}; downscale it first or raise the pixel limit")
    im.load()
    out = to_rgb_or_rgba(im, keep_alpha=keep_alpha, background=bg)
    out = _apply_orientation(out, orientation)
    if out is im:
        out = im.copy()
    return out


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1-8); 1 when absent or unreadable."""
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF is not worth losing the picture over
        return 1
    return value if 1 <= value <= 8 else 1


_SWAPS_AXES = (5, 6, 7, 8)
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def _apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """Turn `image` upright as its EXIF orientation says."""
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def to_rgb_or_rgba(im: Image.Image, *, keep_alpha: bool = False,
                   background: Color = (255, 255, 255)) -> Image.Image:
    """Convert any Pillow mode to RGB, or RGBA when `keep_alpha` and `im` has transparency."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return Image.fromarray(_scale_to_uint8(np.asarray(im), mode), "L").convert("RGB")
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("L", "1") and "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode in _ALPHA_MODES:
        im = im.convert("RGBA")
    elif mode != "RGB":
        try:
            im = im.convert("RGB")
        except ValueError:
            raise HypernetError(f"image mode {mode!r} cannot be converted to RGB; "
                                "save the image as an RGB PNG or JPEG") from None
    if im.mode == "RGBA" and not keep_alpha:
        return composite_on(im, background)
    return im


def composite_on(im: Image.Image, background: Color) -> Image.Image:
    """Blend an RGBA image over a solid background colour; returns RGB."""
    base = Image.new("RGB", im.size, parse_color(background))
    base.paste(im.convert("RGB"), mask=im.getchannel("A"))
    return base


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Map 16-bit, 32-bit integer or float grey data to 0-255."""
    data = values.astype(np.float64)
    if mode in _SIXTEEN_BIT_MODES:
        data = data / 257.0
    elif mode == "I":
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
        if lo >= 0 and hi <= 65535:
            data = data / 257.0  # 16-bit data (PNG / TIFF) held as 32-bit integers
        else:
            data = (data - lo) / max(hi - lo, 1e-12) * 255.0
    else:  # "F"
        finite = data[np.isfinite(data)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1:
            data = data * 255.0
        elif lo < 0 or hi > 255:
            data = (data - lo) / max(hi - lo, 1e-12) * 255.0
        data = np.nan_to_num(data, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(data), 0, 255).astype(np.uint8)
