"""Generators of awkward image files for the image-reading and preprocessing tests."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_raw(path: Path, pixels: np.ndarray, color_type: int, bit_depth: int = 16) -> Path:
    """Write a PNG by hand (Pillow cannot write 16-bit RGB): pixels H x W x C of uint16 or uint8."""
    h, w = pixels.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    rows = pixels.reshape(h, -1).astype(dtype)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) \
        + png_chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def write_png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG claiming a huge size with almost no data (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b""))
    return path


def quadrants(width: int = 64, height: int = 48) -> Image.Image:
    """RGB image: top-left red, top-right green, bottom-left blue, bottom-right white."""
    a = np.zeros((height, width, 3), np.uint8)
    hw, hh = width // 2, height // 2
    a[:hh, :hw] = (255, 0, 0)
    a[:hh, hw:] = (0, 255, 0)
    a[hh:, :hw] = (0, 0, 255)
    a[hh:, hw:] = (255, 255, 255)
    return Image.fromarray(a, "RGB")


def horizontal_gradient(width: int, height: int) -> Image.Image:
    """RGB image whose red channel is the x coordinate scaled to 0..255 (tells where a crop came from)."""
    x = np.linspace(0, 255, width).round().astype(np.uint8)
    a = np.zeros((height, width, 3), np.uint8)
    a[..., 0] = x[None, :]
    return Image.fromarray(a, "RGB")


def save_with_orientation(image: Image.Image, path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif)
    return path


def save_animated_gif(path: Path, colors: list[tuple[int, int, int]], size: tuple[int, int] = (16, 16)) -> Path:
    frames = [Image.new("RGB", size, c) for c in colors]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    return path


def palette_with_transparency(path: Path) -> Path:
    """8x8 palette PNG: left half index 0 (red, opaque), right half index 1 (transparent)."""
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)
    im.paste(1, (4, 0, 8, 8))
    im.save(path, transparency=1)
    return path


def truncated_copy(image: Image.Image, path: Path, fmt: str, keep: float = 0.5) -> Path:
    image.save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def pixel(image: Image.Image, x: int, y: int) -> tuple:
    return tuple(int(v) for v in np.asarray(image)[y, x])
