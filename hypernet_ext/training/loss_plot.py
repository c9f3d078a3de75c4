"""The loss plot of a run (loss.png and the panels' live view), drawn with matplotlib.

Labelled axes; the raw loss (faint), its moving average, the learning rate on a second axis, and the
validation loss when there is one. Callers pass the whole run's history, so after a resume the
plot shows every step, not just the resumed part.
"""
from __future__ import annotations

import io
import math
from typing import Optional, Sequence

import matplotlib
from matplotlib.figure import Figure
from PIL import Image

matplotlib.use("Agg", force=False)  # no display: draw into memory only

RAW_COLOUR, AVERAGE_COLOUR, LR_COLOUR, VALIDATION_COLOUR = "#a8b4d8", "#c83c28", "#3a8a3a", "#6a3cc8"
DPI = 100


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values (the first points average what exists so far)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def average_window(count: int) -> int:
    """About 2% of the points, at least 5: the moving average is drawn only when it averages something."""
    return max(5, count // 50)


def render_loss_curve(steps: Sequence[int], losses: Sequence[float], title: str = "loss",
                      size: tuple[int, int] = (800, 400), learning_rates: Optional[Sequence[float]] = None,
                      validation: Optional[dict[int, float]] = None) -> Image.Image:
    """The plot as a PIL image of `size` pixels; non-finite losses are left out (and said so)."""
    points = [(s, l) for s, l in zip(steps, losses) if math.isfinite(l)]
    figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if not points:
        axes.text(0.5, 0.5, "no finite loss values yet", ha="center", va="center", transform=axes.transAxes)
    else:
        xs, ys = zip(*points)
        axes.plot(xs, ys, color=RAW_COLOUR, linewidth=0.8, label="loss")
        window = average_window(len(ys))
        if len(ys) > window:
            axes.plot(xs, moving_average(ys, window), color=AVERAGE_COLOUR, linewidth=1.6,
                      label=f"moving average ({window} steps)")
    if validation:
        vs = sorted((s, v) for s, v in validation.items() if math.isfinite(v))
        if vs:
            axes.plot(*zip(*vs), color=VALIDATION_COLOUR, marker="o", linewidth=1.2, label="validation loss")
    handles, labels = axes.get_legend_handles_labels()
    if learning_rates is not None and any(math.isfinite(r) for r in learning_rates):
        rate_axes = axes.twinx()
        rate_axes.plot(list(steps), list(learning_rates), color=LR_COLOUR, linewidth=1.0, linestyle="--",
                       label="learning rate")
        rate_axes.set_ylabel("learning rate")
        more_handles, more_labels = rate_axes.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        axes.legend(handles, labels, loc="upper right", fontsize="small")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image if image.size == tuple(size) else image.resize(size)
