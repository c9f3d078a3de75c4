"""Encode a generated image for the file type the user asked for, with its infotext embedded.

PNG keeps the infotext in a `parameters` text chunk; JPEG and WebP in the EXIF UserComment
(`UNICODE\\0` prefix, UTF-16 big-endian text), which is where the webui's PNG Info looks.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Union

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .errors import InvalidOptionError

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286


def output_format(path: Union[str, Path], flag: str = "--out") -> str:
    """The Pillow format for a file name, or a clear refusal naming the flag and the choices."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidOptionError(f"{flag} {str(path)!r}: cannot tell the image type from {suffix or 'no suffix'!r}; "
                                 f"end the name with one of {', '.join(FORMATS)}.")
    return FORMATS[suffix]


def encode_image(image: Image.Image, fmt: str, infotext: str) -> bytes:
    """The image file's bytes in `fmt` (PNG, JPEG or WEBP) with `infotext` embedded."""
    buffer = io.BytesIO()
    if fmt == "PNG":
        info = PngInfo()
        info.add_text("parameters", infotext)
        image.save(buffer, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[_EXIF_IFD] = {_USER_COMMENT: b"UNICODE\0" + infotext.encode("utf-16-be")}
        image.convert("RGB").save(buffer, format=fmt, quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def read_infotext(data: bytes) -> str:
    """The infotext embedded by `encode_image` (empty when none): PNG text chunk or EXIF UserComment."""
    with Image.open(io.BytesIO(data)) as image:
        if "parameters" in image.info:
            return str(image.info["parameters"])
        comment = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT, b"")
    if isinstance(comment, bytes) and comment.startswith(b"UNICODE\0"):
        return comment[8:].decode("utf-16-be")
    return comment.decode("ascii", "replace") if isinstance(comment, bytes) else str(comment or "")
