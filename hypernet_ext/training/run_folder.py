"""A training run's folder: its layout, where new runs go, its checkpoints, losses and saved settings.

    <log root>/<hypernetwork name>/<YYYYmmdd-HHMMSS>/     one run (a numbered suffix when taken)
        hypernetworks/<name>-<step>.pt (+ .optim)        checkpoints (and optimizer state)
        images/<name>-<step>.png (+ .txt)                previews and their prompts
        loss.csv, loss.png                               training loss (validation.csv: validation loss)
        settings-<stamp>.json                            the options of each start (SETTINGS_FORMAT)

Each new run gets a folder of its own, so it never changes a byte of another run; resuming
appends to the run it continues. Runs written before this layout (`<log root>/<name>/`) are
listed and resumed too.
"""
from __future__ import annotations

import csv
import datetime
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..atomic_files import atomic_write_bytes
from ..errors import HypernetError, InvalidOptionError
from ..option_spec import declared_options
from ..safe_paths import inside
from ..safe_paths import safe_component as _safe_component
from ..storage import optimizer_state_path, read_optimizer_header
from .data_options import DataOptions
from .host import PreviewParams
from .options import PreviewOptions, TrainingOptions

CHECKPOINT_FOLDER = "hypernetworks"
IMAGES_FOLDER = "images"
LOSS_CSV = "loss.csv"
LOSS_PNG = "loss.png"
VALIDATION_CSV = "validation.csv"
SETTINGS_GLOB = "settings-*.json"
SETTINGS_FORMAT = 2  # 2: adds "format" and "option_values" (every declared option, flat)
RUN_STAMP = "%Y%m%d-%H%M%S"
_STEP = re.compile(r"^(?P<name>.+)-(?P<step>\d+)$")


# -- where runs live --------------------------------------------------------------------------
def safe_component(text: str) -> str:
    """`text` as one folder name: no separators, no '..', nothing a file system treats specially."""
    return _safe_component(text, fallback="run")


def new_run_dir(log_root: Any, name: str, now: Optional[datetime.datetime] = None) -> Path:
    """A folder for a new run of `name` that does not exist yet: `<log_root>/<name>/<start time>[-N]`."""
    if not str(log_root or "").strip():
        raise InvalidOptionError("Log directory is empty; give a folder for checkpoints, previews and logs.")
    parent = inside(Path(str(log_root)).expanduser(), safe_component(name))
    stamp = (now or datetime.datetime.now()).strftime(RUN_STAMP)
    candidate, number = parent / stamp, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{stamp}-{number}"
    return candidate


def is_run(folder: Path) -> bool:
    return (Path(folder) / CHECKPOINT_FOLDER).is_dir()


def list_runs(log_root: str) -> list[str]:
    """Run folders under `log_root` (`<name>/<start time>`, and older `<name>` runs), newest first."""
    root = Path(str(log_root or "")).expanduser()
    if not root.is_dir():
        return []
    runs = []
    for child in (p for p in root.iterdir() if p.is_dir()):
        if is_run(child):
            runs.append(child)
        runs.extend(p for p in child.iterdir() if p.is_dir() and is_run(p))
    runs.sort(key=lambda p: (p / CHECKPOINT_FOLDER).stat().st_mtime, reverse=True)
    return [str(p) for p in runs]


def run_of_checkpoint(path: Any) -> Path:
    """The run folder holding a checkpoint file (InvalidOptionError when it is not in one)."""
    file = Path(str(path)).expanduser()
    if file.parent.name != CHECKPOINT_FOLDER:
        raise InvalidOptionError(f"{file} is not in a training run's '{CHECKPOINT_FOLDER}' folder, so its run "
                                 f"options are unknown; train with it as the hypernetwork instead.")
    return file.parent.parent


# -- checkpoints and losses -------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """One `<name>-<step>.pt|.safetensors` in a run's checkpoint folder."""

    path: Path
    step: int
    loss: Optional[float]
    has_optimizer: bool
    optimizer_matches: bool
    optimizer_name: Optional[str]
    problem: Optional[str] = None
    val_loss: Optional[float] = None
    best: bool = False  # lowest validation loss of the run

    @property
    def resumable(self) -> bool:
        return self.has_optimizer and self.optimizer_matches

    def label(self) -> str:
        loss = f"loss {self.loss:.4f}" if self.loss is not None else "loss ?"
        if self.val_loss is not None:
            loss += f" | val {self.val_loss:.4f}" + (" (best)" if self.best else "")
        if self.resumable:
            state = f"optimizer {self.optimizer_name} ok"
        elif self.has_optimizer:
            state = "optimizer state does not match"
        else:
            state = "no optimizer state"
        return f"step {self.step} | {loss} | {state} | {self.path.name}"


def _column_by_step(path: Path, column: str) -> dict[int, float]:
    if not path.is_file():
        return {}
    out: dict[int, float] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                value = float(row[column])
                if math.isfinite(value):
                    out[int(float(row["step"]))] = value
            except (KeyError, TypeError, ValueError):
                continue
    return out


def losses_by_step(run: Any) -> dict[int, float]:
    """Training losses recorded in `<run>/loss.csv` by step (empty when there is none)."""
    return _column_by_step(Path(str(run)) / LOSS_CSV, "loss")


def learning_rates_by_step(run: Any) -> dict[int, float]:
    return _column_by_step(Path(str(run)) / LOSS_CSV, "learn_rate")


def validation_losses(run: Any) -> dict[int, float]:
    """Validation losses in `<run>/validation.csv` (columns step,val_loss,...) by step; empty when absent."""
    return _column_by_step(Path(str(run)) / VALIDATION_CSV, "val_loss")


def list_checkpoints(run: Any, optimizer_state: bool = True) -> list[CheckpointInfo]:
    """Checkpoints of a run by step, with loss, validation loss (best marked) and optimizer state.

    `optimizer_state=False` skips the sidecars (checking one hashes its checkpoint: seconds for a
    few hundred full-size files), for lists that only use the checkpoints (has_optimizer then says
    whether a sidecar exists; optimizer_matches stays False).
    """
    folder = Path(str(run or "")).expanduser() / CHECKPOINT_FOLDER
    if not folder.is_dir():
        raise InvalidOptionError(f"{folder} does not exist; pick a run folder that holds a '{CHECKPOINT_FOLDER}' "
                                 f"folder (training writes one in each run).")
    losses, validation = losses_by_step(folder.parent), validation_losses(folder.parent)
    found = []
    for path in folder.iterdir():
        match = _STEP.match(path.stem)
        if match is None or path.suffix.lower() not in (".pt", ".safetensors"):
            continue
        step = int(match["step"])
        if optimizer_state:
            found.append(_checkpoint(path, step, losses.get(step), validation.get(step)))
        else:
            found.append(CheckpointInfo(path, step, losses.get(step), optimizer_state_path(path).exists(), False,
                                        None, None, validation.get(step)))
    scored = [c.val_loss for c in found if c.val_loss is not None]
    if scored:
        best = min(scored)
        found = [_with_best(c, c.val_loss == best) for c in found]
    return sorted(found, key=lambda c: c.step)


def _with_best(c: CheckpointInfo, best: bool) -> CheckpointInfo:
    return CheckpointInfo(c.path, c.step, c.loss, c.has_optimizer, c.optimizer_matches, c.optimizer_name,
                          c.problem, c.val_loss, best)


def _checkpoint(path: Path, step: int, loss: Optional[float], val_loss: Optional[float]) -> CheckpointInfo:
    try:
        state = read_optimizer_header(path)  # headers only: listing thousands of checkpoints stays cheap
    except HypernetError as exc:
        return CheckpointInfo(path, step, loss, True, False, None, str(exc), val_loss)
    if state is None:
        return CheckpointInfo(path, step, loss, False, False, None, None, val_loss)
    return CheckpointInfo(path, step, loss, True, state.matches, state.optimizer_name, None, val_loss)


def checkpoint_rows(checkpoints: list[CheckpointInfo]) -> list[list]:
    """Rows for the Resume panel's table (CHECKPOINT_COLUMNS)."""
    return [[c.step, "" if c.loss is None else round(c.loss, 5), _validation_cell(c),
             "yes" if c.has_optimizer else "no", "yes" if c.optimizer_matches else "no", c.optimizer_name or "",
             c.path.name] for c in checkpoints]


def _validation_cell(c: CheckpointInfo) -> Any:
    if c.val_loss is None:
        return ""
    return f"{c.val_loss:.5f} (best)" if c.best else round(c.val_loss, 5)


CHECKPOINT_COLUMNS = ["Step", "Loss", "Validation loss", "Optimizer state", "Matches file", "Optimizer", "File"]


# -- saved settings ---------------------------------------------------------------------------
def option_values(options: TrainingOptions) -> dict:
    """Every declared training, data and preview option of `options`, flat and JSON-able."""
    values = {s.name: getattr(options, s.name) for s in declared_options(TrainingOptions)}
    values.update({s.name: getattr(options.data, s.name) for s in declared_options(DataOptions)})
    preview = options.preview
    if isinstance(preview, PreviewParams):
        values.update(preview_prompt=preview.prompt, preview_negative=preview.negative_prompt,
                      preview_steps=preview.steps, preview_cfg=preview.cfg_scale, preview_seed=preview.seed)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def write_settings(run: Any, settings: dict, stamp: str) -> Path:
    """`settings-<stamp>.json` (format SETTINGS_FORMAT): the options of one start plus model and dataset facts."""
    text = json.dumps({"format": SETTINGS_FORMAT, **settings}, indent=2, sort_keys=True, default=_json_default)
    return atomic_write_bytes(Path(str(run)) / f"settings-{stamp}.json", (text + "\n").encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


def latest_settings(run: Any) -> dict:
    """The newest `settings-*.json` of a run (what training wrote when the run last started)."""
    files = sorted(Path(str(run)).expanduser().glob(SETTINGS_GLOB))
    if not files:
        raise InvalidOptionError(f"{run} has no settings-*.json, so its options are unknown; start training "
                                 f"with the checkpoint chosen as the hypernetwork instead.")
    return json.loads(files[-1].read_text(encoding="utf-8"))


def saved_option_values(settings: dict) -> dict:
    """Flat option values of a settings file, of any format (format 1 kept them nested in "options")."""
    if isinstance(settings.get("option_values"), dict):
        return dict(settings["option_values"])
    saved = dict(settings.get("options") or {})
    values = {k: v for k, v in saved.items() if k not in ("data", "preview")}
    values.update(saved.get("data") or {})
    return values


def resume_options(run: Any, checkpoint: CheckpointInfo, overrides: Optional[dict] = None) -> TrainingOptions:
    """The run's saved options, continuing from `checkpoint` (exactly, when its optimizer matches).

    `overrides` (option values by name) replace saved ones, e.g. a new step target.
    """
    run = Path(str(run)).expanduser()
    settings = latest_settings(run)
    saved_data = (settings.get("options") or {}).get("data") or {}
    values = {**saved_option_values(settings), **(overrides or {})}

    def pick(cls) -> dict:
        return {s.name: values[s.name] for s in declared_options(cls) if s.name in values}
    data = DataOptions(saved_data.get("data_dir", values.get("data_dir", "")), saved_data.get("name", ""),
                       **pick(DataOptions))
    saved_preview = (settings.get("options") or {}).get("preview")
    preview_given = any(k.startswith("preview_") for k in (overrides or {}))
    if isinstance(saved_preview, dict) and not preview_given:
        preview = PreviewParams(**saved_preview)
    else:
        preview = PreviewOptions(**pick(PreviewOptions)).params(data.width, data.height, data.seed)
    return TrainingOptions(hypernetwork=str(checkpoint.path), log_dir=str(run), data=data, preview=preview,
                           resume=checkpoint.resumable, **pick(TrainingOptions)).validate()
