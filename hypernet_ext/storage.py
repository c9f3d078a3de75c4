"""Hypernetwork files on disk: save/load/convert, the `.optim` sidecar, hashes and cheap headers.

- `.pt` files are written so that the webui v1.10 loads them unmodified: only primitives, lists,
  tuples, dicts/OrderedDicts and tensors whose storages its safe unpickler allows; and the zip is
  re-packed without the `.format_version`/`.storage_alignment` records that torch >= 2.5 adds,
  because the webui's file-name check rejects them (data stays 64-byte aligned).
- Every write goes to a temporary file in the target folder and is moved into place with
  `os.replace`, so a crash never leaves a half-written file under the real name.
- The sidecar `<file>.optim` holds the webui keys `optimizer_name`, `hash` (first 10 hex digits of the
  SHA-256 of the hypernetwork file *it sits beside*) and `optimizer_state_dict`; our resume state
  (scheduler, RNG, data order, ...) goes under `hypernet_ext`, which the webui ignores. On reading,
  the webui's 10-hex hash and MonkeyPatch's old 8-hex `model_hash` both count as a match.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from .atomic_files import atomic_write_bytes
from .errors import HypernetError, HypernetworkFileError
from .file_format import (METADATA_KEY, config_from_dict, hypernetwork_from_dict, hypernetwork_from_safetensors,
                          hypernetwork_to_dict, hypernetwork_to_safetensors, parse_metadata)
from .hypernetwork import Hypernetwork
from .safe_paths import NotRegularFileError, require_regular_file
from .safe_unpickle import MAX_FILE_BYTES, TensorInfo, peek_torch_file, safe_torch_load

PathLike = Union[str, os.PathLike]
SUFFIXES = (".pt", ".safetensors")
OPTIM_SUFFIX = ".optim"
# Tensor dtypes whose storage classes the webui's safe unpickler accepts.
PORTABLE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.int64,
                   torch.uint8)
_DROPPED_ZIP_RECORDS = ("/.format_version", "/.storage_alignment")
_ALIGN = 64


# -- hashes ------------------------------------------------------------------------------------
def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def short_hash(path: PathLike) -> str:
    """First 10 hex digits of the file's SHA-256 (the webui's `shorthash`)."""
    return file_sha256(path)[:10]


def legacy_model_hash(path: PathLike) -> str:
    """The webui's pre-2023 8-hex `model_hash`: SHA-256 of 64 KiB at offset 1 MiB."""
    with open(path, "rb") as f:
        f.seek(0x100000)
        return hashlib.sha256(f.read(0x10000)).hexdigest()[:8]


# -- writing -----------------------------------------------------------------------------------
def portable(obj: Any, where: str = "value") -> Any:
    """A copy of `obj` that the webui's safe unpickler accepts; raises HypernetError naming the bad part."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor):
        if obj.dtype not in PORTABLE_DTYPES:
            raise HypernetError(f"{where}: tensors of dtype {obj.dtype} cannot be stored portably; "
                                f"convert to one of {', '.join(map(str, PORTABLE_DTYPES))}.")
        return obj.detach().to("cpu").clone()
    if isinstance(obj, (list, tuple)):
        items = [portable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise HypernetError(f"{where}: dict key {key!r} must be a str or number.")
            out[key] = portable(value, f"{where}[{key!r}]")
        return out
    raise HypernetError(f"{where}: {type(obj).__name__} cannot be stored in a hypernetwork file; use "
                        f"str/int/float/bool/None, lists, tuples, dicts or tensors.")


def torch_file_bytes(obj: Any) -> bytes:
    """`torch.save(obj)` re-packed into a zip the webui v1.10 safe loader accepts."""
    raw = io.BytesIO()
    torch.save(obj, raw)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if info.filename.endswith(_DROPPED_ZIP_RECORDS):
                continue
            dst.writestr(_aligned_info(info.filename, out.tell()), src.read(info))
    return out.getvalue()


def _aligned_info(name: str, offset: int) -> zipfile.ZipInfo:
    """A ZipInfo whose local-header padding puts the record's data on a 64-byte boundary, like torch."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    header = 30 + len(name.encode()) + 4  # local header + padding field header
    pad = (-(offset + header)) % _ALIGN
    info.extra = b"FB" + pad.to_bytes(2, "little") + b"Z" * pad
    return info


def save_hypernetwork(hn: Hypernetwork, path: PathLike, *, overwrite: bool = False) -> Path:
    """Save as `.pt` (webui format) or `.safetensors` (chosen by suffix), atomically; sets hn.filename."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise HypernetError(f"{path.name}: unsupported file type {path.suffix!r}; use .pt (webui) or .safetensors.")
    if path.exists() and not overwrite:
        raise HypernetError(f"{path} already exists. Pass overwrite=True to replace it, or choose another name.")
    atomic_write_bytes(path, hypernetwork_file_bytes(hn, suffix))
    hn.filename = str(path)
    return path


def hypernetwork_file_bytes(hn: Hypernetwork, suffix: str) -> bytes:
    """The bytes `save_hypernetwork` writes for `suffix` (.pt or .safetensors)."""
    if suffix.lower() == ".pt":
        return torch_file_bytes(_portable_dict(hypernetwork_to_dict(hn)))
    from safetensors.torch import save
    tensors, metadata = hypernetwork_to_safetensors(hn)
    return save(tensors, metadata=metadata)


def _portable_dict(d: dict) -> dict:
    return {key: portable(value, f"key {key!r}") for key, value in d.items()}


# -- reading -----------------------------------------------------------------------------------
def _existing_file(path: PathLike) -> Path:
    """`path` when it is a regular file; else an error saying what is there (nothing, a folder, a FIFO, ...)."""
    path = Path(path)
    try:
        require_regular_file(path, "hypernetwork file")
    except FileNotFoundError:
        raise HypernetworkFileError(f"{path}: no such file. Check the name and the hypernetworks folder.") from None
    except NotRegularFileError as exc:
        raise HypernetworkFileError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise HypernetworkFileError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc}).") from None
    return path


@contextlib.contextmanager
def _file_errors(path: Path):
    """Any failure of a hostile file's contents becomes HypernetworkFileError prefixed by the path."""
    try:
        yield
    except HypernetworkFileError as exc:
        message = str(exc)
        raise HypernetworkFileError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    except (RecursionError, MemoryError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            ValueError, RuntimeError) as exc:
        if isinstance(exc, HypernetError):
            raise
        raise HypernetworkFileError(f"{path}: the file is corrupt or forged ({type(exc).__name__}: "
                                    f"{str(exc)[:200]}).") from None


def load_hypernetwork(path: PathLike) -> Hypernetwork:
    """Load and validate a `.pt` or `.safetensors` hypernetwork safely; the result is in eval mode."""
    path = _existing_file(path)
    with _file_errors(path):
        if path.suffix.lower() == ".safetensors":
            tensors, metadata = _read_safetensors(path)
            hn = hypernetwork_from_safetensors(tensors, metadata, path.stem)
        else:
            hn = hypernetwork_from_dict(safe_torch_load(path), path.stem)
    hn.filename = str(path)
    hn.eval()
    return hn


def _read_safetensors(path: Path, with_data: bool = True) -> tuple[dict, dict]:
    size = path.stat().st_size
    if size == 0:
        raise HypernetworkFileError("file is empty (0 bytes); it was probably not saved completely.")
    if size > MAX_FILE_BYTES["hypernetwork"]:
        raise HypernetworkFileError(f"file is {size:,} bytes, over the limit for a hypernetwork.")
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            if with_data:
                tensors = {key: f.get_tensor(key) for key in f.keys()}
            else:
                tensors = {key: TensorInfo((tuple(f.get_slice(key).get_shape()), "")) for key in f.keys()}
    except Exception as exc:  # safetensors raises its own error type for truncated/garbage headers
        raise HypernetworkFileError(f"file is truncated or not a safetensors file ({exc}).") from None
    return tensors, metadata


def convert_hypernetwork(src: PathLike, dst: PathLike, *, overwrite: bool = False) -> Path:
    """Convert between `.pt` and `.safetensors` (format from each suffix); weights and metadata unchanged."""
    return save_hypernetwork(load_hypernetwork(src), dst, overwrite=overwrite)


def read_header(path: PathLike) -> dict:
    """Cheap description of a hypernetwork file (no modules built, tensor data not read for zip `.pt`)."""
    path = _existing_file(path)
    with _file_errors(path):
        if path.suffix.lower() == ".safetensors":
            shapes, metadata = _read_safetensors(path, with_data=False)
            d = _header_dict_from_safetensors(metadata)
            parameter_count = sum(t.numel() for t in shapes.values())
        else:
            d = peek_torch_file(path)
            if not isinstance(d, dict):
                raise HypernetworkFileError(f"not a hypernetwork: the file holds a {type(d).__name__}.")
            parameter_count = sum(t.numel() for w in d if type(w) is int and isinstance(d[w], (tuple, list))
                                  for sd in d[w] if isinstance(sd, dict) for t in sd.values()
                                  if isinstance(t, (TensorInfo, torch.Tensor)))
        return _header(path, d, parameter_count)


def _header_dict_from_safetensors(metadata: dict) -> dict:
    from .file_format import SAFETENSORS_FORMAT, STANDARD_KEYS, _json_field
    if metadata.get("format") != SAFETENSORS_FORMAT:
        raise HypernetworkFileError("not a hypernet_ext hypernetwork (no format marker in the header).")
    d: dict[Any, Any] = {key: _json_field(metadata, key) for key in STANDARD_KEYS if key in metadata}
    d.update({int(s): None for s in _json_field(metadata, "sizes")})
    d[METADATA_KEY] = metadata.get(METADATA_KEY)
    return d


def _header(path: Path, d: dict, parameter_count: int) -> dict:
    config = config_from_dict(d)
    sizes = [key for key in d if type(key) is int]
    if not sizes:
        raise HypernetworkFileError("not a hypernetwork: no attention widths.")
    stat = path.stat()
    return {
        "name": d.get("name") if isinstance(d.get("name"), str) and d.get("name") else path.stem,
        "filename": str(path), "format": path.suffix.lower().lstrip("."),
        "file_size": stat.st_size, "modified": stat.st_mtime,
        "step": d.get("step") or 0, "sizes": sizes,
        "layer_structure": list(config.layer_structure), "activation": config.activation,
        "weight_init": config.weight_init, "layer_norm": config.layer_norm,
        "dropout_structure": list(config.effective_dropout), "activate_output": config.activate_output,
        "last_layer_dropout": config.last_layer_dropout, "skip_connection": config.skip_connection,
        "optional_info": d.get("optional_info"), "sd_checkpoint": d.get("sd_checkpoint"),
        "sd_checkpoint_name": d.get("sd_checkpoint_name"), "parameter_count": int(parameter_count),
        "metadata": parse_metadata(d.get(METADATA_KEY)),
        "has_optimizer_state": optimizer_state_path(path).is_file(),
    }


# -- optimizer sidecar -------------------------------------------------------------------------
@dataclass
class OptimizerState:
    """Contents of a `.optim` sidecar; `matches` says its hash belongs to the file beside it."""

    optimizer_name: str
    state_dict: dict
    extra: dict = field(default_factory=dict)
    stored_hash: Optional[str] = None
    matches: bool = False


def optimizer_state_path(hypernetwork_path: PathLike) -> Path:
    """`<file>.optim` beside the hypernetwork file (the webui's naming, also for .safetensors)."""
    return Path(str(hypernetwork_path) + OPTIM_SUFFIX)


def save_optimizer_state(hypernetwork_path: PathLike, optimizer_name: str, optimizer_state_dict: dict,
                         extra: Optional[dict] = None, file_hash: Optional[str] = None) -> Path:
    """Write the `.optim` sidecar atomically, hashed against the hypernetwork file as it is now.

    `file_hash` (the short hash of bytes about to be written there) lets a checkpoint writer put the
    sidecar in place *before* the hypernetwork file, so a crash never leaves a checkpoint without it.
    """
    hypernetwork_path = Path(hypernetwork_path)
    if file_hash is None and not hypernetwork_path.is_file():
        raise HypernetError(f"{hypernetwork_path} does not exist; save the hypernetwork before its optimizer state.")
    if not isinstance(optimizer_name, str) or not optimizer_name:
        raise HypernetError(f"optimizer_name must be a non-empty string, got {optimizer_name!r}.")
    payload = {
        "optimizer_name": optimizer_name,
        "hash": file_hash or short_hash(hypernetwork_path),
        "optimizer_state_dict": portable(optimizer_state_dict, "optimizer_state_dict"),
        METADATA_KEY: portable(dict(extra or {}), "extra"),
    }
    return atomic_write_bytes(optimizer_state_path(hypernetwork_path), torch_file_bytes(payload))


def read_optimizer_header(hypernetwork_path: PathLike) -> Optional[OptimizerState]:
    """The sidecar's optimizer name and hash (and whether it matches) without reading its tensors.

    For listings: state_dict and extra are left empty. None when there is no sidecar.
    """
    sidecar = optimizer_state_path(hypernetwork_path)
    if not sidecar.exists():
        return None
    _existing_file(sidecar)
    with _file_errors(sidecar):
        d = peek_torch_file(sidecar)
    if not isinstance(d, dict):
        raise HypernetworkFileError(f"{sidecar}: not an optimizer sidecar (holds a {type(d).__name__}).")
    name, stored_hash = d.get("optimizer_name", "AdamW"), d.get("hash")
    if not isinstance(name, str) or not (stored_hash is None or isinstance(stored_hash, str)):
        raise HypernetworkFileError(f"{sidecar}: optimizer_name and hash must be strings.")
    return OptimizerState(name, {}, {}, stored_hash, _hash_matches(Path(hypernetwork_path), stored_hash))


def load_optimizer_state(hypernetwork_path: PathLike) -> Optional[OptimizerState]:
    """Read `<file>.optim` safely; None when there is none. A damaged sidecar raises HypernetworkFileError."""
    sidecar = optimizer_state_path(hypernetwork_path)
    if not sidecar.exists():
        return None
    _existing_file(sidecar)
    d = safe_torch_load(sidecar)
    if not isinstance(d, dict):
        raise HypernetworkFileError(f"{sidecar}: not an optimizer sidecar (holds a {type(d).__name__}).")
    name = d.get("optimizer_name", "AdamW")
    stored_hash = d.get("hash")
    state = d.get("optimizer_state_dict")
    extra = d.get(METADATA_KEY, {})
    if not isinstance(name, str) or not (stored_hash is None or isinstance(stored_hash, str)):
        raise HypernetworkFileError(f"{sidecar}: optimizer_name and hash must be strings.")
    if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
            and isinstance(state.get("param_groups"), list)):
        raise HypernetworkFileError(
            f"{sidecar}: optimizer_state_dict is missing or not a torch optimizer state "
            f"(needs 'state' and 'param_groups'). Delete the sidecar to train with a fresh optimizer.")
    if not isinstance(extra, dict):
        raise HypernetworkFileError(f"{sidecar}: the '{METADATA_KEY}' entry must be a dict.")
    return OptimizerState(name, state, extra, stored_hash, _hash_matches(Path(hypernetwork_path), stored_hash))


def _hash_matches(path: Path, stored_hash: Optional[str]) -> bool:
    if not stored_hash or not path.is_file():
        return False
    return stored_hash in (short_hash(path), legacy_model_hash(path))
