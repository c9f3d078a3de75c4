"""Using what was trained: every checkpoint of every training run, and copying one into a hypernetworks folder.

Training writes checkpoints into its run folder (`training/run_folder.py` owns that layout), where
prompt tags cannot reach them: tags name files in the hypernetworks folders. `use_checkpoint` copies
(never moves) a chosen checkpoint there under a name the user picks, so `<hypernet:NAME:1>` loads
exactly the trained file. The copy is byte-identical (only the `.pt`/`.safetensors` file: applying needs
nothing else; the `.optim` sidecar stays with the run, which keeps resuming), written atomically with
the user's umask, and an existing hypernetwork of that name is replaced only when asked.

Front ends say how the user asks for a replacement (`overwrite_hint`: "pass --overwrite", "tick
'Overwrite'", "send \"overwrite\": true"), so the refusal names the fix in their words.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .atomic_files import atomic_write
from .errors import HypernetError, InvalidOptionError
from .library import SUFFIXES as LIBRARY_SUFFIXES, HypernetworkLibrary
from .safe_paths import check_text_path, inside, open_regular, safe_component
from .storage import read_header
from .training.run_folder import CheckpointInfo, is_run, list_checkpoints, list_runs

CHECKPOINT_SUFFIXES = (".pt", ".safetensors")


class NameTakenError(HypernetError):
    """The hypernetworks folder already holds a file under the chosen name (REST answers 409)."""


@dataclass(frozen=True)
class RunCheckpoint:
    """One checkpoint of one run; `run_name` is the run's folder under the log root (`<name>/<start time>`)."""

    run: Path
    run_name: str
    checkpoint: CheckpointInfo

    @property
    def path(self) -> Path:
        return self.checkpoint.path

    @property
    def step(self) -> int:
        return self.checkpoint.step

    def label(self) -> str:
        """What a list shows: the file first (narrow lists cut the end), then step, loss and the run."""
        loss = f", loss {self.checkpoint.loss:.4f}" if self.checkpoint.loss is not None else ""
        best = ", best validation loss" if self.checkpoint.best else ""
        return f"{self.path.name} (step {self.step}{loss}{best}) in {self.run_name}"

    def suggested_name(self) -> str:
        """The name offered for the copy: the checkpoint's own file name, `<name>-<step>`."""
        return self.path.stem


def run_checkpoints(log_root: Any, named_from: Any = None) -> list[RunCheckpoint]:
    """Every checkpoint of every run under `log_root`: newest run first, each run's steps in order.

    Runs are named by their path under `named_from` (default: `log_root`). A run whose folder cannot be
    read is left out (one broken run must not hide the others). The webui's own trainer writes runs
    this function lists too: `<log>/<YYYY-MM-DD>/<name>/hypernetworks/<name>-<step>.pt`.
    """
    root = Path(str(log_root or "")).expanduser()
    base = Path(str(named_from)).expanduser() if named_from else root
    found = []
    for run in list_runs(str(root)):
        try:
            checkpoints = list_checkpoints(run, optimizer_state=False)  # for using them, not resuming
        except (HypernetError, OSError):
            continue
        name = Path(run).relative_to(base).as_posix()
        found.extend(RunCheckpoint(Path(run), name, c) for c in checkpoints)
    return found


def find_run_checkpoint(source: Any, step: Optional[int] = None, log_root: Any = None) -> RunCheckpoint:
    """The checkpoint `source` names: a checkpoint file, or a run (its folder, or `<name>/<start time>` under
    `log_root`; `<name>` alone: its newest run) with `step` (default: the run's newest checkpoint)."""
    text = check_text_path(source, "checkpoint")
    path = Path(text).expanduser()
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return _checkpoint_file(path)
    run = path
    if not path.is_absolute() and not is_run(path) and log_root:
        run = inside(Path(str(log_root)).expanduser(), text)
    if not is_run(run) and run.is_dir():  # a hypernetwork's folder of runs (`<log>/<name>`): its newest run
        newest = [r for r in list_runs(str(run)) if Path(r).parent == run]
        run = Path(newest[0]) if newest else run
    if not is_run(run):
        raise InvalidOptionError(f"{text} is neither a checkpoint file (.pt/.safetensors) nor a training run folder "
                                 f"(one holding a 'hypernetworks' folder); give a checkpoint's path from the list "
                                 f"of runs (`runs` on the command line, GET /runs in the REST API).")
    checkpoints = list_checkpoints(run, optimizer_state=False)
    if not checkpoints:
        raise InvalidOptionError(f"Run {run} has no checkpoints yet; let training save one (save_every) or "
                                 f"interrupt the running job, which saves one.")
    chosen = checkpoints[-1] if step is None else next((c for c in checkpoints if c.step == step), None)
    if chosen is None:
        raise InvalidOptionError(f"Run {run} has no checkpoint at step {step}; its checkpoints are at steps "
                                 f"{', '.join(str(c.step) for c in checkpoints)}.")
    return RunCheckpoint(Path(run), _run_name(Path(run), log_root), chosen)


def _checkpoint_file(path: Path) -> RunCheckpoint:
    if not path.is_file():
        raise InvalidOptionError(f"Checkpoint {path} does not exist; pick one from the list of runs (`runs` on "
                                 f"the command line, GET /runs in the REST API).")
    run = path.parent.parent
    if is_run(run):
        for checkpoint in list_checkpoints(run, optimizer_state=False):
            if checkpoint.path.resolve() == path.resolve():
                return RunCheckpoint(run, _run_name(run, None), checkpoint)
    # any other hypernetwork file may be copied too; it simply has no run facts (step, loss)
    info = CheckpointInfo(path, 0, None, False, False, None)
    return RunCheckpoint(path.parent, path.parent.name, info)


def _run_name(run: Path, log_root: Any) -> str:
    if log_root:
        try:
            return run.resolve().relative_to(Path(str(log_root)).expanduser().resolve()).as_posix()
        except ValueError:
            pass
    return f"{run.parent.name}/{run.name}"


def copy_name(name: Any, source: Path) -> str:
    """The file stem for the copy: `name` as one safe file-name component, without a hypernetwork suffix."""
    text = str(name or "").strip()
    for suffix in (*CHECKPOINT_SUFFIXES, ".hns"):
        if text.lower().endswith(suffix):
            text = text[:-len(suffix)].strip()
    if not text:
        raise InvalidOptionError(f"Enter a name for the copy (the tag name in <hypernet:NAME:1>), e.g. "
                                 f"{source.stem!r}.")
    return safe_component(text)


def taken_files(folder: Path, stem: str) -> list[Path]:
    """Files in `folder` a tag `<hypernet:stem>` would load instead of, or beside, a new copy."""
    return [folder / f"{stem}{suffix}" for suffix in LIBRARY_SUFFIXES
            if os.path.lexists(folder / f"{stem}{suffix}")]


@dataclass(frozen=True)
class UsedCheckpoint:
    """What `use_checkpoint` did: the tag name, the copy, its source, the files it replaced (in the
    folder) and the ones of the same name it now takes precedence over (in other library folders)."""

    name: str
    path: Path
    source: Path
    replaced: tuple[Path, ...] = ()
    shadowed: tuple[Path, ...] = ()

    def describe(self) -> str:
        text = (f"Copied {self.source} to {self.path}; use it with <hypernet:{self.name}:1>. "
                f"The run's file is unchanged.")
        if self.replaced:
            text += " It replaces " + ", ".join(str(p) for p in self.replaced) + "."
        if self.shadowed:
            text += (" The tag now loads the copy, not " + ", ".join(str(p) for p in self.shadowed)
                     + " (rename that file to keep using it).")
        return text


def use_checkpoint(source: Any, name: Any, folder: Any, overwrite: bool = False,
                   overwrite_hint: str = "pass overwrite=True", library: Optional[HypernetworkLibrary] = None
                   ) -> UsedCheckpoint:
    """Copy checkpoint file `source` into hypernetworks `folder` as `<name><its suffix>`.

    The name is sanitised into one file-name component (never a path). A file already under that
    name in `folder` (any hypernetwork suffix: a `.safetensors` would win over the copied `.pt`), or
    in `library` elsewhere, is refused unless `overwrite`; with it, the copy replaces the ones in
    `folder` and files elsewhere stay (the copy, in the first folder, is what the tag loads). Raises
    NameTakenError, or InvalidOptionError / HypernetworkFileError naming the problem.
    """
    source_path = Path(check_text_path(source, "checkpoint")).expanduser()
    if source_path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise InvalidOptionError(f"{source_path.name} is not a checkpoint file; choose a .pt or .safetensors "
                                 f"file of a training run.")
    read_header(source_path)  # a clear error for a missing, special or corrupt file, before anything is written
    stem = copy_name(name, source_path)
    folder_path = Path(check_text_path(folder, "hypernetworks folder")).expanduser()
    target = inside(folder_path, stem + source_path.suffix.lower())
    if _same_file(source_path, target):
        raise InvalidOptionError(f"{source_path} is already in the hypernetworks folder as {stem!r}; use "
                                 f"<hypernet:{stem}:1>, or choose another name for a copy.")
    replaced = taken_files(folder_path, stem)
    elsewhere = library.path(stem) if library is not None else None
    shadowed = [Path(elsewhere)] if elsewhere is not None and not any(
        _same_file(elsewhere, p) for p in replaced) else []
    if (replaced or shadowed) and not overwrite:
        listed = ", ".join(str(p) for p in replaced + shadowed)
        raise NameTakenError(f"A hypernetwork named {stem!r} already exists ({listed}). Choose another name, "
                             f"or {overwrite_hint} to replace it.")
    _copy(source_path, target)
    for other in replaced:  # the same name in another format: the library would prefer it over the copy
        if other != target:
            os.unlink(other)
    return UsedCheckpoint(stem, target, source_path, tuple(replaced), tuple(shadowed))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _copy(source: Path, target: Path) -> None:
    """Byte-for-byte copy through a temporary file in the target folder (atomic, the user's umask)."""
    with open_regular(source, "checkpoint file") as reader:
        atomic_write(target, lambda writer: shutil.copyfileobj(reader, writer, 1 << 20))
