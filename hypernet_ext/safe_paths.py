"""Output paths built only from sanitised components, and checked to stay inside their folder.

Names that end up in file names (the `name` stored inside a hypernetwork file, a request's name, a
source image's stem) are data from whoever made the file. Every place that builds an output path
goes through this module:

- `safe_component(text)` -> one file-name component: no separators, no NUL or control characters,
  not `.`/`..`, no leading dots (hidden files), at most `MAX_COMPONENT_BYTES` UTF-8 bytes (so a
  suffix such as `-123456.safetensors.optim` still fits the usual 255-byte limit).
- `inside(base, *parts)` -> `base/part/...`, raising `UnsafePathError` when a part is absolute,
  holds `..` or a separator it should not, or when the folder it lands in resolves (through
  symlinks) outside `base`. The last component itself may be a symlink: our writers replace a
  file with `os.replace`, which replaces the link, never what it points to.
- `check_inside(path, bases)` -> the resolved path when it is inside one of `bases`, else
  `UnsafePathError` (used to restrict request paths to allowed folders).
"""
from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Iterable, Union

from .errors import HypernetError

PathLike = Union[str, os.PathLike]
MAX_COMPONENT_BYTES = 160
MAX_PATH_CHARS = 4096
# Separators on any platform, characters Windows refuses, and control characters (NUL included).
_UNSAFE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


class UnsafePathError(HypernetError):
    """A path would leave the folder it must stay in, or a name cannot be used as a file name."""


def safe_component(text: object, fallback: str = "hypernetwork", max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """`text` as one harmless file-name component (never empty, never a path)."""
    clean = unicodedata.normalize("NFC", str(text if text is not None else ""))
    clean = _UNSAFE_CHARS.sub("_", clean)
    clean = "".join(ch for ch in clean if unicodedata.category(ch)[0] != "C" or ch == " ")
    clean = clean.strip().lstrip(".").strip()
    clean = _truncate_utf8(clean, max_bytes).rstrip(". ")
    if not clean or set(clean) <= {"_", "."}:
        clean = fallback
    if clean.split(".")[0].upper() in _WINDOWS_RESERVED:
        clean = "_" + clean
    return clean


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def check_text_path(text: object, label: str = "path") -> str:
    """A path given as text, refused (UnsafePathError naming `label`) when empty, too long or holding NUL."""
    value = os.fspath(text) if isinstance(text, os.PathLike) else text
    if not isinstance(value, str) or not value.strip():
        raise UnsafePathError(f"{label} is empty; give a folder or file path.")
    if "\x00" in value:
        raise UnsafePathError(f"{label} contains a NUL character, which no path can hold; remove it.")
    if len(value) > MAX_PATH_CHARS:
        raise UnsafePathError(f"{label} is {len(value):,} characters long; paths are limited to {MAX_PATH_CHARS:,}.")
    return value


def inside(base: PathLike, *parts: PathLike) -> Path:
    """`base / parts...`, refusing any part that escapes `base` (see the module docstring)."""
    base_path = Path(check_text_path(base, "folder")).expanduser()
    for part in parts:
        text = check_text_path(part, "file name")
        piece = Path(text)
        if piece.is_absolute() or piece.drive or ".." in piece.parts or any(
                p in ("", ".") for p in text.replace("\\", "/").split("/")):
            raise UnsafePathError(f"{text!r} is not a plain relative name inside {base_path}; refusing to write "
                                  f"outside that folder.")
    target = base_path.joinpath(*parts)
    real_base = _resolve(base_path)
    real_parent = _resolve(target.parent)
    if real_parent != real_base and real_base not in real_parent.parents:
        raise UnsafePathError(f"{target} resolves to {real_parent / target.name}, outside {real_base}; a "
                              f"symlink leads out of the folder. Remove the link or choose another folder.")
    return target


def check_inside(path: PathLike, bases: Iterable[PathLike], label: str = "path") -> Path:
    """The resolved `path` when it lies in (or is) one of `bases`; else UnsafePathError listing them."""
    text = check_text_path(path, label)
    real = _resolve(Path(text).expanduser())
    allowed = [_resolve(Path(check_text_path(b, "allowed folder")).expanduser()) for b in bases if b]
    for base in allowed:
        if real == base or base in real.parents:
            return real
    listed = ", ".join(str(b) for b in allowed) or "(none configured)"
    raise UnsafePathError(f"{label} {text!r} is outside the folders this server may use: {listed}. Use a folder "
                          f"inside one of them, or add the folder in the settings.")


def _resolve(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError) as exc:
        raise UnsafePathError(f"cannot resolve {path}: {exc}") from None


class NotRegularFileError(HypernetError):
    """A path names a folder, FIFO, device or socket where a regular file is needed."""


def file_kind(mode: int) -> str:
    """'file', 'folder', 'FIFO (named pipe)', 'device', 'socket' or 'special file' for an st_mode."""
    for test, kind in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO (named pipe)"),
                       (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


def require_regular_file(path: PathLike, what: str = "file") -> os.stat_result:
    """stat(path) when it is a regular file; FileNotFoundError, or NotRegularFileError saying what it is."""
    result = os.stat(path)
    kind = file_kind(result.st_mode)
    if kind != "file":
        raise NotRegularFileError(f"{path} is a {kind}, not a {what}; reading it could block or fail. Give a "
                                  f"regular file.")
    return result


def open_regular(path: PathLike, what: str = "file"):
    """Open `path` for binary reading only if it is a regular file, without ever blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind != "file":
            raise NotRegularFileError(f"{path} is a {kind}, not a {what}; give a regular file.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


MAX_TEXT_FILE_BYTES = 1 << 20


def read_regular_text(path: PathLike, what: str = "text file", max_bytes: int = MAX_TEXT_FILE_BYTES,
                      encoding: str = "utf-8-sig", errors: str = "strict") -> str:
    """A small text file's contents; NotRegularFileError for a FIFO/folder/device, OSError when too big."""
    with open_regular(path, what) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(27, f"{what} is larger than {max_bytes:,} bytes", str(path))  # EFBIG
    return data.decode(encoding, errors)
