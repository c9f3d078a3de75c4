"""Training checkpoints: `<name>-<step>.pt` holding exactly that step, each with a `.optim` sidecar.

The sidecar (written by `hypernet_ext.storage.save_optimizer_state`, which records the hash of the
file beside it) holds the optimizer name and state plus, under `extra`: the step, the schedule
description, the GradScaler state, the torch RNG state and the data seed. Resuming from a
checkpoint restores all of it, so the run continues as if it had never stopped.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import HypernetworkFileError
from ..safe_paths import inside, safe_component
from ..atomic_files import atomic_write_bytes
from ..storage import hypernetwork_file_bytes, load_optimizer_state, save_optimizer_state

SIDECAR_FORMAT = 1


def checkpoint_path(folder: Path, name: str, step: int, suffix: str = ".pt") -> Path:
    """`<folder>/<name>-<step><suffix>`; `name` (often the one stored inside a file) is sanitised first."""
    if suffix not in (".pt", ".safetensors"):
        raise HypernetworkFileError(f"checkpoint suffix {suffix!r} must be .pt or .safetensors.")
    return inside(folder, f"{safe_component(name)}-{int(step)}{suffix}")


@dataclass
class ResumeState:
    """What a `.optim` sidecar restores."""

    optimizer_name: str
    optimizer_state: dict
    step: Optional[int]
    grad_scaler: Optional[dict]
    torch_rng: Optional[torch.Tensor]
    seed: Optional[int]
    schedule: Optional[dict]


def same_file(a: os.PathLike, b: os.PathLike) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def save_checkpoint(hypernetwork, path: Path, *, optimizer_name: str, optimizer: torch.optim.Optimizer,
                    scaler: Optional[Any] = None, schedule: Optional[dict] = None, seed: Optional[int] = None,
                    with_optimizer: bool = True) -> Path:
    """Write the `.optim` sidecar, then the hypernetwork (each atomically, replacing older files of ours).

    Sidecar first: a crash between the two leaves a sidecar whose checkpoint is missing or older
    (its hash then does not match, and listings say so), never a new checkpoint without its sidecar.
    """
    path = Path(path)
    data = hypernetwork_file_bytes(hypernetwork, path.suffix)
    if with_optimizer:
        extra = {
            "format": SIDECAR_FORMAT,
            "step": int(hypernetwork.step),
            "schedule": schedule,
            "grad_scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
            "torch_rng": torch.get_rng_state(),
            "seed": seed,
        }
        save_optimizer_state(path, optimizer_name, optimizer.state_dict(), extra=extra,
                             file_hash=hashlib.sha256(data).hexdigest()[:10])
    atomic_write_bytes(path, data)
    hypernetwork.filename = str(path)
    return path


def load_resume_state(path: os.PathLike, expected_step: int) -> ResumeState:
    """Read and check the sidecar of `path` for an exact resume; raise with the fix when unusable."""
    state = load_optimizer_state(path)
    if state is None:
        raise HypernetworkFileError(
            f"Cannot resume from {path}: its optimizer state ({path}.optim) is missing. Resume from a "
            f"checkpoint in the log directory's hypernetworks folder, or train without resume to continue "
            f"these weights with a fresh optimizer.")
    if not state.matches:
        raise HypernetworkFileError(
            f"Cannot resume from {path}: {path}.optim was saved for a different file (hash "
            f"{state.stored_hash}). The .pt was changed or renamed after saving; resume from an unchanged "
            f"checkpoint, or train without resume to start a fresh optimizer.")
    extra = state.extra or {}
    step = extra.get("step")
    if step is not None and int(step) != int(expected_step):
        raise HypernetworkFileError(
            f"Cannot resume from {path}: the hypernetwork is at step {expected_step} but its optimizer state "
            f"is from step {step}. Use the matching .pt/.optim pair.")
    rng = extra.get("torch_rng")
    return ResumeState(optimizer_name=state.optimizer_name, optimizer_state=state.state_dict,
                       step=None if step is None else int(step), grad_scaler=extra.get("grad_scaler"),
                       torch_rng=rng if isinstance(rng, torch.Tensor) else None,
                       seed=extra.get("seed"), schedule=extra.get("schedule"))
