"""Load torch pickles (`.pt`, `.optim`, `.ckpt`) without ever running code stored in them.

torch's own readers parse both container formats (zip, and the legacy format written with
`_use_new_zipfile_serialization=False`), but every global the pickle names goes through
`_RestrictedUnpickler.find_class`, which only returns objects from a per-profile allowlist:

- "hypernetwork" (`.pt` hypernetworks and `.optim` sidecars): `collections.OrderedDict`, torch's
  tensor/parameter rebuild helpers and storage classes of any dtype (torch maps storage names to
  inert dtype markers itself), and torch dtype objects.
- "checkpoint" (Stable Diffusion `.ckpt`): additionally numpy scalar/dtype reconstruction (object
  dtypes refused), `_codecs.encode`, `set`, and pytorch_lightning's `ModelCheckpoint` callback, which is
  replaced by the inert `InertPickledObject` (pytorch_lightning is never imported).

Anything else raises `HypernetworkFileError` naming the global, e.g. "builtins.eval". Before torch
sees a zip file its record names, compression and sizes are checked; every storage is capped at
the file's size, so a forged element count cannot allocate unbounded memory. Tensors always load on
the CPU.
"""
from __future__ import annotations

import _compat_pickle
import collections
import inspect
import io
import os
import pickle
import re
import struct
import types
import zipfile
from pathlib import Path
from typing import BinaryIO, Union

import torch

from .errors import HypernetworkFileError
from .limits import check_depth
from .safe_paths import NotRegularFileError, require_regular_file

PROFILES = ("hypernetwork", "checkpoint")
MAX_FILE_BYTES = {"hypernetwork": 4 << 30, "checkpoint": 64 << 30}
_ZIP_RECORD = re.compile(
    r"^[^/]+/(data\.pkl|version|byteorder|\.format_version|\.storage_alignment|"
    r"\.data/serialization_id|\.data/version|data/\d+)$")

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]


class InertPickledObject:
    """Stands in for an allowed but foreign class (e.g. a pytorch_lightning callback): keeps its state only."""

    qualname = "unknown"
    state = None

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"InertPickledObject({self.qualname})"


class _ModelCheckpointPlaceholder(InertPickledObject):
    qualname = "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"


def _rebuild_numpy_scalar(dtype, data=None):
    import numpy
    if getattr(dtype, "hasobject", True):
        raise HypernetworkFileError("numpy scalar with an object dtype is not allowed in a checkpoint file.")
    return numpy.frombuffer(data, dtype=dtype, count=1)[0]


def _make_numpy_dtype(spec, align=False, copy=False):
    import numpy
    dtype = numpy.dtype(spec, align, copy)
    if dtype.hasobject:
        raise HypernetworkFileError(f"numpy dtype {spec!r} holds Python objects and is not allowed.")
    return dtype


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    import codecs
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise HypernetworkFileError(f"_codecs.encode with encoding {encoding!r} is not allowed.")
    return codecs.encode(obj, encoding, errors)


def _hypernetwork_globals() -> dict[tuple[str, str], object]:
    allowed: dict[tuple[str, str], object] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch", "Size"): torch.Size,
    }
    for name in dir(torch):
        if isinstance(getattr(torch, name, None), torch.dtype):
            allowed[("torch", name)] = getattr(torch, name)
    return allowed


def _checkpoint_globals() -> dict[tuple[str, str], object]:
    allowed = _hypernetwork_globals()
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "scalar")] = _rebuild_numpy_scalar
    allowed[("numpy", "dtype")] = _make_numpy_dtype
    allowed[("_codecs", "encode")] = _codecs_encode
    allowed[("builtins", "set")] = set
    allowed[("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")] = _ModelCheckpointPlaceholder
    return allowed


_ALLOWED = {"hypernetwork": _hypernetwork_globals(), "checkpoint": _checkpoint_globals()}

try:  # the C unpickler, even where a host process replaced `pickle.Unpickler` with the Python one
    from _pickle import Unpickler as _BaseUnpickler
except ImportError:  # pragma: no cover - interpreters without the C accelerator
    _BaseUnpickler = pickle._Unpickler


def _base_persistent_load():
    """The base class's `persistent_load`: a settable C descriptor, or a plain method in pure Python."""
    return inspect.getattr_static(_BaseUnpickler, "persistent_load", None)


class _Budget:
    """What one load may allocate: storages (distinct) up to the file's bytes, tensor views up to twice that.

    A legitimate file stores every tensor's bytes once, so neither bound is ever reached by it;
    a forged one (element counts beyond the file, zero strides, many views of one storage,
    overlapping zip records) is refused before torch allocates anything.
    """

    def __init__(self, file_bytes: int):
        self.file_bytes = int(file_bytes)
        self.storage_bytes = 0
        self.view_bytes = 0
        self.storages: set = set()

    def add_storage(self, key, nbytes: int) -> None:
        if key in self.storages:
            return
        self.storages.add(key)
        self.storage_bytes += nbytes
        if self.storage_bytes > self.file_bytes:
            raise HypernetworkFileError(
                f"the tensors declare {self.storage_bytes:,} bytes of data, more than the file's "
                f"{self.file_bytes:,} bytes (the file is truncated or forged).")

    def add_view(self, nbytes: int) -> None:
        self.view_bytes += nbytes
        if self.view_bytes > 2 * self.file_bytes + (1 << 20):
            raise HypernetworkFileError(
                f"the tensors would take {self.view_bytes:,} bytes in memory from a {self.file_bytes:,}-byte "
                f"file (the same data viewed many times); the file is forged.")


MAX_TENSOR_DIMS = 16


def _check_view(storage, storage_offset, size, stride, budget: _Budget) -> None:
    """Refuse a tensor view that repeats or reaches past its storage (zero/negative strides, forged sizes)."""
    def ints(value, what):
        if not isinstance(value, (tuple, list, torch.Size)) or len(value) > MAX_TENSOR_DIMS or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise HypernetworkFileError(f"corrupt tensor: {what} {value!r:.100}.")
        return tuple(value)
    size, stride = ints(size, "size"), ints(stride, "stride")
    if len(size) != len(stride) or isinstance(storage_offset, bool) or not isinstance(storage_offset, int) \
            or storage_offset < 0 or any(v < 0 for v in size):
        raise HypernetworkFileError(f"corrupt tensor: size {list(size)}, stride {list(stride)}, offset "
                                    f"{storage_offset!r:.40}.")
    numel = 1
    for dim in size:
        numel *= dim
    try:
        available = int(storage._size()) if hasattr(storage, "_size") else int(storage.size())
        element_size = int(storage.dtype.itemsize)
    except Exception:  # not a storage: torch itself will refuse it
        return
    if numel == 0:
        return
    if any(st < 1 for dim, st in zip(size, stride) if dim > 1):
        raise HypernetworkFileError(f"tensor with stride {list(stride)} for size {list(size)}: zero or negative "
                                    f"strides repeat the same bytes; torch never saves such a tensor, the file is forged.")
    extent = storage_offset + sum((dim - 1) * st for dim, st in zip(size, stride)) + 1
    if numel > available or extent > available:
        raise HypernetworkFileError(f"tensor of size {list(size)} needs {max(numel, extent):,} elements but its "
                                    f"storage holds {available:,}; the file is forged or corrupt.")
    budget.add_view(numel * element_size)


def _restricted_pickle_module(profile: str, max_storage_bytes: int) -> types.ModuleType:
    """A stand-in for the `pickle` module that torch.load drives; only allowlisted globals resolve."""
    budget = _Budget(max_storage_bytes)

    def checked_rebuild(storage, storage_offset, size, stride, *args, **kwargs):
        _check_view(storage, storage_offset, size, stride, budget)
        return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, *args, **kwargs)

    allowed = {**_ALLOWED[profile], ("torch._utils", "_rebuild_tensor_v2"): checked_rebuild}

    base_loader = _base_persistent_load()

    class _RestrictedUnpickler(_BaseUnpickler):
        def find_class(self, module, name):
            module, name = _python3_name(module, name)
            found = allowed.get((module, name))
            if found is None:
                raise HypernetworkFileError(
                    f"refusing to load: the file references the global '{module}.{name}', which a "
                    f"{profile} file never needs (it could run code). The file may be malicious; "
                    f"do not load it with plain torch.load.")
            return found

        @property
        def persistent_load(self):
            checked = self.__dict__.get("_checked_persistent_load")
            return checked if checked is not None else base_loader.__get__(self, type(self))

        @persistent_load.setter
        def persistent_load(self, loader):
            def checked(saved_id):
                nbytes = _check_storage_id(saved_id, max_storage_bytes)
                budget.add_storage(saved_id[2] if len(saved_id) > 2 else id(saved_id), nbytes)
                return loader(saved_id)
            self.__dict__["_checked_persistent_load"] = checked  # read by the Python unpickler
            if hasattr(base_loader, "__set__"):
                base_loader.__set__(self, checked)  # the C unpickler keeps its own reference

    module = types.ModuleType("hypernet_ext_restricted_pickle")
    module.Unpickler = _RestrictedUnpickler
    module.load = lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load()
    module.UnpicklingError = pickle.UnpicklingError
    return module


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Map Python 2 names (protocol 2 pickles say `__builtin__`) to Python 3 names, like pickle does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _check_storage_id(saved_id, max_storage_bytes: int) -> int:
    if not isinstance(saved_id, tuple) or len(saved_id) < 5 or saved_id[0] != "storage":
        raise HypernetworkFileError("corrupt tensor reference in the pickle (expected a storage record).")
    storage_type, numel = saved_id[1], saved_id[4]
    if isinstance(numel, bool) or not isinstance(numel, int) or numel < 0:
        raise HypernetworkFileError(f"corrupt tensor reference: element count {numel!r}.")
    dtype = getattr(storage_type, "dtype", torch.uint8)
    element_size = torch.empty((), dtype=dtype).element_size() if isinstance(dtype, torch.dtype) else 1
    if numel * element_size > max_storage_bytes:
        raise HypernetworkFileError(
            f"corrupt tensor reference: a storage of {numel * element_size:,} bytes cannot fit in a "
            f"{max_storage_bytes:,}-byte file (the file is truncated or forged).")
    return numel * element_size


def _read_source(source: Source) -> tuple[Union[str, BinaryIO], int, bytes, str]:
    """(what torch.load gets, size in bytes, first bytes, display name)."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        return io.BytesIO(data), len(data), data[:8], "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            require_regular_file(path, "torch file")
        except FileNotFoundError:
            raise HypernetworkFileError(f"{path}: no such file. Check the path.") from None
        except (NotRegularFileError, OSError, ValueError) as exc:
            raise HypernetworkFileError(str(exc) if isinstance(exc, NotRegularFileError)
                                        else f"{path}: cannot read it ({exc}).") from None
        with open(path, "rb") as f:
            head = f.read(8)
        return str(path), path.stat().st_size, head, str(path)
    start = source.tell()
    head = source.read(8)
    source.seek(0, os.SEEK_END)
    size = source.seek(0, os.SEEK_END) - start
    source.seek(start)
    return source, size, head, getattr(source, "name", "<file object>")


def _check_zip(target, name: str, size: int) -> None:
    if not isinstance(target, str):
        pos = target.tell()
    try:
        with zipfile.ZipFile(target) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise HypernetworkFileError(
            f"{name}: file is truncated or corrupt (its zip directory cannot be read: {exc}).") from None
    finally:
        if not isinstance(target, str):
            target.seek(pos)
    prefixes = {info.filename.split("/", 1)[0] for info in infos}
    if len(prefixes) != 1 or not any(i.filename.endswith("/data.pkl") for i in infos):
        raise HypernetworkFileError(f"{name}: not a torch file (zip without exactly one data.pkl).")
    for info in infos:
        if not _ZIP_RECORD.match(info.filename):
            raise HypernetworkFileError(
                f"{name}: unexpected entry {info.filename!r} inside the file; torch files contain "
                f"only data.pkl, version records and data/<n> tensors.")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
            raise HypernetworkFileError(f"{name}: entry {info.filename!r} is compressed or oversized; "
                                        f"torch never writes that.")
    _check_zip_extents(target, name, size, infos)


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _check_zip_extents(target, name: str, size: int, infos: list) -> None:
    """Every record's header and data lie inside the file and no two overlap (a zip "bomb" of shared bytes)."""
    handle = open(target, "rb") if isinstance(target, str) else target
    pos = None if isinstance(target, str) else target.tell()
    try:
        extents = []
        for info in infos:
            handle.seek(info.header_offset)
            raw = handle.read(_LOCAL_HEADER.size)
            if len(raw) != _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
                raise HypernetworkFileError(f"{name}: entry {info.filename!r} has no local header; the file is "
                                            f"truncated or corrupt.")
            fields = _LOCAL_HEADER.unpack(raw)
            start = info.header_offset
            end = start + _LOCAL_HEADER.size + fields[-2] + fields[-1] + info.compress_size
            if end > size:
                raise HypernetworkFileError(f"{name}: entry {info.filename!r} reaches past the end of the file; "
                                            f"the file is truncated or corrupt.")
            extents.append((start, end, info.filename))
    finally:
        if isinstance(target, str):
            handle.close()
        else:
            target.seek(pos)
    extents.sort()
    for (_, end, first), (start, _, second) in zip(extents, extents[1:]):
        if start < end:
            raise HypernetworkFileError(f"{name}: entries {first!r} and {second!r} share bytes; torch never writes "
                                        f"overlapping records, the file is forged.")


def safe_torch_load(source: Source, *, profile: str = "hypernetwork") -> object:
    """Unpickle a torch file onto the CPU, allowing only the types such files contain.

    `source` is a path, bytes or a seekable binary file. Raises HypernetworkFileError for
    hostile, empty, truncated or garbage input.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
    target, size, head, name = _read_source(source)
    if size == 0:
        raise HypernetworkFileError(f"{name}: file is empty (0 bytes); it was probably not saved completely.")
    if size > MAX_FILE_BYTES[profile]:
        raise HypernetworkFileError(
            f"{name}: file is {size:,} bytes, over the {MAX_FILE_BYTES[profile]:,}-byte limit for a {profile} file.")
    if head.startswith(b"PK"):
        _check_zip(target, name, size)
    elif not head.startswith(b"\x80"):
        raise HypernetworkFileError(f"{name}: not a torch file (it is neither a torch zip archive nor a pickle).")
    module = _restricted_pickle_module(profile, size)
    try:
        return check_depth(torch.load(target, map_location="cpu", pickle_module=module, weights_only=False))
    except HypernetworkFileError as exc:
        raise HypernetworkFileError(f"{name}: {exc}") from None
    except (EOFError, pickle.UnpicklingError, RuntimeError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, AssertionError, OverflowError, MemoryError, RecursionError, zipfile.BadZipFile,
            OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        truncated = isinstance(exc, EOFError) or any(w in detail.lower() for w in ("truncat", "eof", "ran out"))
        hint = "file is truncated" if truncated else "file is corrupt"
        raise HypernetworkFileError(f"{name}: {hint} or not a torch file ({detail}).") from None


class TensorInfo(tuple):
    """What `peek_torch_file` puts where a tensor was: `(shape, dtype_name)` without reading its data."""

    @property
    def shape(self) -> tuple:
        return self[0]

    def numel(self) -> int:
        count = 1
        for dim in self[0]:
            count *= int(dim)
        return count


def _tensor_info(storage, offset, size, *args, **kwargs):
    return TensorInfo((tuple(size), storage))


def peek_torch_file(path: Union[str, os.PathLike], *, profile: str = "hypernetwork") -> object:
    """Unpickle a zip-format torch file's object tree without reading tensor data (tensors -> TensorInfo).

    Legacy (non-zip) files have no separate pickle record, so they are fully loaded with
    `safe_torch_load` instead. Same safety rules and errors as `safe_torch_load`.
    """
    target, size, head, name = _read_source(path)
    if size == 0 or not head.startswith(b"PK"):
        return safe_torch_load(path, profile=profile)
    _check_zip(target, name, size)
    allowed = dict(_ALLOWED[profile])
    allowed[("torch._utils", "_rebuild_tensor_v2")] = _tensor_info
    allowed[("torch._utils", "_rebuild_parameter")] = lambda data, *args, **kwargs: data

    class _PeekUnpickler(_BaseUnpickler):
        def find_class(self, module, global_name):
            module, global_name = _python3_name(module, global_name)
            if "Storage" in global_name and module == "torch":
                return global_name.replace("Storage", "").lower() or "uint8"
            found = allowed.get((module, global_name))
            if found is None:
                raise HypernetworkFileError(
                    f"{name}: refusing to load: the file references the global '{module}.{global_name}', "
                    f"which a {profile} file never needs (it could run code).")
            return found

        def persistent_load(self, saved_id):
            return saved_id[1] if isinstance(saved_id, tuple) and len(saved_id) > 1 else "unknown"

    with zipfile.ZipFile(target) as archive:
        pkl = next(i for i in archive.infolist() if i.filename.endswith("/data.pkl"))
        data = archive.read(pkl)
    try:
        return check_depth(_PeekUnpickler(io.BytesIO(data), encoding="utf-8").load())
    except HypernetworkFileError as exc:
        message = str(exc)
        raise HypernetworkFileError(message if message.startswith(name) else f"{name}: {message}") from None
    except Exception as exc:  # any parse failure of hostile bytes is a corrupt file
        raise HypernetworkFileError(f"{name}: file is corrupt ({type(exc).__name__}: {exc}).") from None
