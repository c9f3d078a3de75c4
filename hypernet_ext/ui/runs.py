"""Training runs on disk: list runs, their checkpoints (step, loss, optimizer state), resume options."""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import HypernetError, InvalidOptionError
from ..storage import read_optimizer_header
from ..training.data import DataOptions
from ..training.host import PreviewParams
from ..training.options import TrainingOptions

CHECKPOINT_FOLDER = "hypernetworks"
_STEP = re.compile(r"^(?P<name>.+)-(?P<step>\d+)$")


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

    @property
    def resumable(self) -> bool:
        return self.has_optimizer and self.optimizer_matches

    def label(self) -> str:
        loss = f"loss {self.loss:.4f}" if self.loss is not None else "loss ?"
        if self.resumable:
            state = f"optimizer {self.optimizer_name} ok"
        elif self.has_optimizer:
            state = "optimizer state does not match"
        else:
            state = "no optimizer state"
        return f"step {self.step} | {loss} | {state} | {self.path.name}"


def list_runs(log_root: str) -> list[str]:
    """Run folders under `log_root` (those holding a `hypernetworks/` folder), newest first."""
    root = Path(str(log_root or "")).expanduser()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / CHECKPOINT_FOLDER).is_dir()]
    runs.sort(key=lambda p: (p / CHECKPOINT_FOLDER).stat().st_mtime, reverse=True)
    return [str(p) for p in runs]


def losses_by_step(run: Path) -> dict[int, float]:
    """Losses recorded in `<run>/loss.csv` by step (empty when there is none)."""
    path = Path(run) / "loss.csv"
    if not path.is_file():
        return {}
    out: dict[int, float] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                out[int(float(row["step"]))] = float(row["loss"])
            except (KeyError, TypeError, ValueError):
                continue
    return out


def list_checkpoints(run: str) -> list[CheckpointInfo]:
    """Checkpoints of a run, by step, with their loss and whether the optimizer state is present and matches."""
    folder = Path(str(run or "")).expanduser() / CHECKPOINT_FOLDER
    if not folder.is_dir():
        raise InvalidOptionError(f"{folder} does not exist; pick a run folder that holds a '{CHECKPOINT_FOLDER}' "
                                 f"folder (the Train panel writes one under its log directory).")
    losses = losses_by_step(folder.parent)
    found = []
    for path in folder.iterdir():
        match = _STEP.match(path.stem)
        if match is None or path.suffix.lower() not in (".pt", ".safetensors"):
            continue
        found.append(_checkpoint(path, int(match["step"]), losses.get(int(match["step"]))))
    return sorted(found, key=lambda c: c.step)


def _checkpoint(path: Path, step: int, loss: Optional[float]) -> CheckpointInfo:
    try:
        state = read_optimizer_header(path)  # headers only: listing thousands of checkpoints stays cheap
    except HypernetError as exc:
        return CheckpointInfo(path, step, loss, True, False, None, str(exc))
    if state is None:
        return CheckpointInfo(path, step, loss, False, False, None)
    return CheckpointInfo(path, step, loss, True, state.matches, state.optimizer_name)


def latest_settings(run: str) -> dict:
    """The newest `settings-*.json` of a run (what the Trainer wrote when the run started)."""
    files = sorted(Path(str(run)).expanduser().glob("settings-*.json"))
    if not files:
        raise InvalidOptionError(f"{run} has no settings-*.json, so its options are unknown; start training "
                                 f"from the Train panel with the checkpoint chosen as the hypernetwork instead.")
    return json.loads(files[-1].read_text(encoding="utf-8"))


def resume_options(run: str, checkpoint: CheckpointInfo, steps: Optional[int] = None) -> TrainingOptions:
    """Options of the run's last start, continuing from `checkpoint` (exactly, when its optimizer matches)."""
    saved = dict(latest_settings(run)["options"])
    data = DataOptions(**saved.pop("data"))
    preview = saved.pop("preview", None)
    saved.update(hypernetwork=str(checkpoint.path), log_dir=str(Path(str(run)).expanduser()),
                 resume=checkpoint.resumable, data=data,
                 preview=PreviewParams(**preview) if isinstance(preview, dict) else None)
    if steps is not None:
        saved["steps"] = int(steps)
    known = set(TrainingOptions.__dataclass_fields__)
    return TrainingOptions(**{k: v for k, v in saved.items() if k in known}).validate()


def checkpoint_rows(checkpoints: list[CheckpointInfo]) -> list[list]:
    """Rows for the Resume panel's table."""
    return [[c.step, "" if c.loss is None else round(c.loss, 5), "yes" if c.has_optimizer else "no",
             "yes" if c.optimizer_matches else "no", c.optimizer_name or "", c.path.name] for c in checkpoints]
