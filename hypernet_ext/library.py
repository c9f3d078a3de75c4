"""Folders of hypernetwork files: scan, resolve names, notice changes, cache loaded networks.

Names are file stems (`anime-500.pt` -> `anime-500`), never the name stored inside a file, so a
snapshot and its parent can never be mixed up. Folders are searched recursively for `.pt` and
`.safetensors`, skipping dot-folders, dot-files, `None.pt` and `.optim` sidecars. The scan is
redone only when a directory's mtime or the set of directories changes (cheap to call often);
loaded networks are cached by resolved path, mtime and size, so a changed file reloads.
All public methods are thread-safe.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Union

from .errors import HypernetError, HypernetworkFileError
from .prompt_tags import HypernetTag, close_matches, unknown_names_message

if TYPE_CHECKING:  # storage imports torch-heavy modules; load() imports it lazily
    from .hypernetwork import Hypernetwork

PathLike = Union[str, os.PathLike]
SUFFIXES = (".safetensors", ".pt")  # preference order for one stem in one directory
EXCLUDED_STEMS = ("None",)
# A directory modified this close to the scan may change again within the same mtime tick, so the
# next refresh rescans until its mtime is older than this (git's "racy" rule).
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class LibraryEntry:
    """One hypernetwork file the library can resolve."""
    name: str
    path: Path
    size: int
    mtime: float
    folder: Path


class HypernetworkLibrary:
    """Hypernetwork files in `folders` (earlier folders win duplicate names), addressable by stem."""

    def __init__(self, folders: Union[PathLike, Iterable[PathLike]], max_cached: int = 8):
        if isinstance(folders, (str, os.PathLike)):
            folders = [folders]
        self.folders = [Path(f).expanduser() for f in folders]
        self.max_cached = max(1, int(max_cached))
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()
        self._index: dict[str, tuple[Path, Path]] = {}  # name -> (path, folder)
        self._dir_mtimes: Optional[dict[str, Optional[int]]] = None
        self._racy = False
        self._warnings: list[str] = []
        self._duplicates: dict[str, str] = {}
        self._cache: "OrderedDict[str, tuple[tuple, Hypernetwork]]" = OrderedDict()

    # -- scanning -------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Rescan if a folder changed (or `force`); returns True when a rescan happened."""
        with self._lock:
            if not force and self._dir_mtimes is not None and not self._changed():
                return False
            self._scan()
            return True

    def _changed(self) -> bool:
        if self._racy:
            return True
        for directory, mtime in self._dir_mtimes.items():
            if _mtime_ns(directory) != mtime:
                return True
        return False

    def _scan(self) -> None:
        dir_mtimes: dict[str, Optional[int]] = {}
        started = time.time_ns()
        candidates: dict[str, list[tuple[int, Path, Path]]] = {}
        for folder_index, folder in enumerate(self.folders):
            dir_mtimes[str(folder)] = _mtime_ns(folder)
            for path in _walk(folder, dir_mtimes):
                candidates.setdefault(path.stem, []).append((folder_index, path, folder))
        index: dict[str, tuple[Path, Path]] = {}
        duplicates: dict[str, str] = {}
        for name, found in candidates.items():
            chosen, others = _choose(found)
            index[name] = (chosen[1], chosen[2])
            if others:
                listed = ", ".join(str(p) for p in [chosen[1], *others])
                duplicates[name] = (f"Several files are named {name!r}: {listed}. Using {chosen[1]}; "
                                    f"rename the others to use them.")
        self._index = dict(sorted(index.items(), key=lambda item: (item[0].lower(), item[0])))
        self._duplicates = duplicates
        self._warnings = [duplicates[n] for n in self._index if n in duplicates]
        self._warnings += [f"Hypernetwork folder {f} does not exist; create it or fix the setting."
                           for f in self.folders if dir_mtimes.get(str(f)) is None]
        self._dir_mtimes = dir_mtimes
        self._racy = any(m is not None and m >= started - RACY_NS for m in dir_mtimes.values())
        self._drop_stale_cache()

    def _ensure_scanned(self) -> None:
        self.refresh()

    # -- queries --------------------------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        """Problems found by the last scan (duplicate names, missing folders)."""
        with self._lock:
            self._ensure_scanned()
            return list(self._warnings)

    def names(self) -> list[str]:
        """All names, sorted case-insensitively."""
        with self._lock:
            self._ensure_scanned()
            return list(self._index)

    def path(self, name: str) -> Optional[Path]:
        """The file for `name` (exact stem, else a unique case-insensitive match), or None."""
        with self._lock:
            self._ensure_scanned()
            key = self._lookup(name)
            return self._index[key][0] if key is not None else None

    def _lookup(self, name: str) -> Optional[str]:
        """The index key for `name`: exact, else the only case-insensitive match."""
        if name in self._index:
            return name
        folded = [key for key in self._index if key.lower() == str(name).lower()]
        return folded[0] if len(folded) == 1 else None

    def entries(self) -> list[LibraryEntry]:
        """Every resolvable file with its current size and mtime, sorted by name."""
        with self._lock:
            self._ensure_scanned()
            items = list(self._index.items())
        out = []
        for name, (path, folder) in items:
            try:
                stat = path.stat()
            except OSError:
                continue  # deleted since the scan; the next refresh drops it
            out.append(LibraryEntry(name, path, stat.st_size, stat.st_mtime, folder))
        return out

    # -- loading --------------------------------------------------------------------------------
    def load(self, name: str) -> "Hypernetwork":
        """The hypernetwork for `name`, loaded once per file version and shared between callers.

        Treat the result as read-only (copy it before training). Unknown names raise HypernetError
        suggesting close matches; unreadable files raise HypernetworkFileError.
        """
        with self._lock:
            self._ensure_scanned()
            key = self._lookup(name)
            if key is None:
                raise HypernetError(unknown_names_message([name], self._index)
                                    if close_matches(name, self._index)
                                    else f"Unknown hypernetwork {name!r}: no such file in "
                                         f"{', '.join(map(str, self.folders)) or 'any folder'}. "
                                         f"Put the file there and refresh, or fix the name.")
            path = self._index[key][0]
        with self._load_lock:
            return self._load_path(path)

    def _load_path(self, path: Path) -> "Hypernetwork":
        from .storage import load_hypernetwork

        key_path = str(path.resolve())
        try:
            stat = path.stat()
        except OSError as exc:
            raise HypernetworkFileError(f"{path}: cannot read the file ({exc.strerror}); refresh the list.") from None
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(key_path)
            if cached is not None and cached[0] == version:
                self._cache.move_to_end(key_path)
                return cached[1]
        try:
            hypernetwork = load_hypernetwork(path)
        except HypernetError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            raise HypernetworkFileError(f"{path}: could not be loaded ({exc}).") from None
        with self._lock:
            self._cache[key_path] = (version, hypernetwork)
            self._cache.move_to_end(key_path)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        return hypernetwork

    def resolve(self, tags: Sequence[Union[HypernetTag, tuple[str, float]]]
                ) -> tuple[list[tuple["Hypernetwork", float]], list[str]]:
        """`([(hypernetwork, weight)], warnings)` for prompt tags; unknown or broken files become warnings."""
        pairs: list[tuple[Hypernetwork, float]] = []
        warnings: list[str] = []
        unknown: list[str] = []
        for tag in tags:
            name, weight = (tag.name, tag.weight) if isinstance(tag, HypernetTag) else tag
            try:
                weight = float(weight)
            except (TypeError, ValueError):
                warnings.append(f"Hypernetwork {name!r} has weight {weight!r}, not a number; it was skipped.")
                continue
            try:
                pairs.append((self.load(name), weight))
            except HypernetworkFileError as exc:
                warnings.append(f"Could not load hypernetwork {name!r}: {exc}")
            except HypernetError:
                unknown.append(name)
            except Exception as exc:  # a file that breaks the loader must not break generation
                warnings.append(f"Could not load hypernetwork {name!r}: {type(exc).__name__}: {exc}")
            else:
                duplicate = self._duplicate_warning(name)
                if duplicate and duplicate not in warnings:
                    warnings.append(duplicate)
        if unknown:
            warnings.insert(0, unknown_names_message(unknown, self.names()))
        return pairs, warnings

    def _duplicate_warning(self, name: str) -> Optional[str]:
        with self._lock:
            key = self._lookup(name)
            return self._duplicates.get(key) if key is not None else None

    def clear_cache(self) -> None:
        """Forget every loaded hypernetwork."""
        with self._lock:
            self._cache.clear()

    def _drop_stale_cache(self) -> None:
        live = {str(path.resolve()) for path, _ in self._index.values()}
        for key in [k for k in self._cache if k not in live]:
            del self._cache[key]


def _mtime_ns(path: PathLike) -> Optional[int]:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _walk(folder: Path, dir_mtimes: dict[str, Optional[int]]) -> list[Path]:
    """Hypernetwork files under `folder`; records each visited directory's mtime.

    Symlinked sub-folders are followed only while they stay inside `folder` (a link to /usr would
    list unrelated files and make every scan slow).
    """
    found: list[Path] = []
    seen: set[str] = set()
    top = os.path.realpath(folder)
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen or (real != top and not real.startswith(top.rstrip(os.sep) + os.sep)):
            dirs[:] = []  # a symlink loop, or a link leading out of the library folder
            continue
        seen.add(real)
        dir_mtimes[root] = _mtime_ns(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(files):
            path = Path(root) / file
            if _is_hypernetwork_file(path):
                found.append(path)
    return found


def _is_hypernetwork_file(path: Path) -> bool:
    return (not path.name.startswith(".") and path.suffix.lower() in SUFFIXES
            and path.stem not in EXCLUDED_STEMS and path.is_file())


def _choose(found: list[tuple[int, Path, Path]]) -> tuple[tuple[int, Path, Path], list[Path]]:
    """Pick one file per name: earlier folder, shallower path, then path order; in one directory
    `.safetensors` beats `.pt` silently. Returns the choice and the other (non-sibling) paths."""
    def rank(item):
        folder_index, path, folder = item
        relative = path.relative_to(folder)
        return (folder_index, len(relative.parts), str(relative.parent).lower(), str(relative.parent),
                SUFFIXES.index(path.suffix.lower()), path.name)

    ordered = sorted(found, key=rank)
    chosen = ordered[0]
    others = [p for _, p, _ in ordered[1:] if p.parent != chosen[1].parent]
    return chosen, others
