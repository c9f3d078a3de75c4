"""Atomic file writes: a temporary file in the same folder, flushed, then `os.replace`d into place.

A crash or a full disk never leaves a half-written file under the real name, and the temporary
file is removed on any failure. Files get the permissions a plain `open()` would give them under
the user's umask (mkstemp alone would make them 0600). Temporary files are named
`.<name>.<8 random characters>.tmp`; ones a killed process left behind (older than
`STALE_SECONDS`) are removed the first time this process writes into that folder.
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO, Callable, Union

PathLike = Union[str, os.PathLike]
STALE_SECONDS = 3600
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_cleaned: set[str] = set()
_cleaned_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back at once
    os.umask(mask)
    return mask


def clean_stale_temp_files(folder: PathLike, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove our own leftover temporary files (see the module docstring) from `folder`; returns them."""
    removed = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _clean_once(folder: Path) -> None:
    key = str(folder)
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    clean_stale_temp_files(folder)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Create `path` (and its folder) with `write(binary_file)`, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_once(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return atomic_write(path, lambda f: f.write(data))
