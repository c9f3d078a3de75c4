"""What a training run writes besides checkpoints: loss CSV, loss-curve PNG, settings JSON,
preview images with their prompt, and optional TensorBoard scalars. Files are written atomically.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Optional

from ..errors import InvalidOptionError
from ..atomic_files import atomic_write_bytes
from ..safe_paths import inside, safe_component
from .loss_plot import render_loss_curve

CSV_COLUMNS = ("step", "epoch", "epoch_step", "loss", "learn_rate")


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


class LossLog:
    """Per-step losses kept in memory, mirrored to `loss.csv` and drawn to `loss.png`.

    The CSV holds one row per `csv_every` steps (0 disables it); on resume the rows of steps
    after the resume point are dropped so the log matches the weights.
    """

    def __init__(self, log_dir: Path, csv_every: int = 1, start_step: int = 0, title: str = "loss"):
        self.csv_path = Path(log_dir) / "loss.csv"
        self.png_path = Path(log_dir) / "loss.png"
        self.csv_every = int(csv_every)
        self.title = title
        self.rows: list[dict[str, Any]] = self._read_existing(start_step)
        self._unwritten = 0

    def _read_existing(self, start_step: int) -> list[dict[str, Any]]:
        if not self.csv_path.is_file():
            return []
        rows = []
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    if int(row["step"]) <= start_step:
                        rows.append({k: _number(row.get(k)) for k in CSV_COLUMNS})
                except (KeyError, TypeError, ValueError):
                    continue
        return rows

    def add(self, step: int, epoch: int, epoch_step: int, loss: float, learn_rate: float) -> None:
        """Record the loss of the optimizer step that brought the hypernetwork to `step`."""
        if self.csv_every and step % self.csv_every == 0:
            self.rows.append({"step": step, "epoch": epoch, "epoch_step": epoch_step,
                              "loss": float(loss), "learn_rate": float(learn_rate)})
            self._unwritten += 1

    def flush(self, plot: bool = True) -> None:
        if not self.csv_every:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({**row, "loss": f"{row['loss']:.7f}", "learn_rate": f"{row['learn_rate']:.8g}"})
        atomic_write_text(self.csv_path, buffer.getvalue())
        if plot:
            image = render_loss_curve([r["step"] for r in self.rows], [r["loss"] for r in self.rows], self.title)
            buffer_png = io.BytesIO()
            image.save(buffer_png, format="PNG")
            atomic_write_bytes(self.png_path, buffer_png.getvalue())
        self._unwritten = 0


def _number(text: Optional[str]) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in str(text) and "e" not in str(text).lower() else value


def write_settings(log_dir: Path, settings: dict, stamp: str) -> Path:
    """`settings-<stamp>.json`: every option of the run plus model and dataset facts."""
    text = json.dumps(settings, indent=2, sort_keys=True, default=_json_default)
    return atomic_write_text(Path(log_dir) / f"settings-{stamp}.json", text + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


def save_preview(image, images_dir: Path, name: str, step: int, prompt: str, negative_prompt: str = "") -> Path:
    """`<name>-<step>.png` plus `<name>-<step>.txt` holding the prompt used (`name` sanitised, kept in the folder)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    png = atomic_write_bytes(inside(images_dir, f"{safe_component(name)}-{int(step)}.png"), buffer.getvalue())
    text = prompt + (f"\nNegative prompt: {negative_prompt}" if negative_prompt else "") + "\n"
    atomic_write_text(png.with_suffix(".txt"), text)
    return png


class TensorBoardLog:
    """Scalars under `<log_dir>/tensorboard`; needs the `tensorboard` package."""

    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InvalidOptionError(
                "TensorBoard logging needs the 'tensorboard' package, which is not installed. Install it "
                "with `pip install tensorboard`, or turn TensorBoard logging off.") from None
        self.writer = SummaryWriter(log_dir=str(Path(log_dir) / "tensorboard"))

    def scalars(self, step: int, **values: float) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
