"""The live view of the current job: step, loss, it/s, ETA, message, loss plot and latest preview."""
from __future__ import annotations

import html
import math
import threading
import time
from typing import Any, Optional

from ..jobs import JobManager
from ..progress import format_seconds
from ..training.loss_plot import render_loss_curve
from ..training.run_folder import learning_rates_by_step, losses_by_step, validation_losses
from .messages import text_html

RUNNING_ATTRIBUTE = 'data-hnx-running="true"'


def status_html(status: dict[str, Any]) -> str:
    """The status block; carries `data-hnx-running` so the panel JS keeps polling while a job runs."""
    if status.get("state") == "idle":
        return '<div class="hnx-live" data-hnx-running="false">No job has run yet.</div>'
    p = status.get("progress", {})
    running = bool(status.get("running"))
    rows = [("Job", f"{status.get('kind', '')}: {p.get('description') or status.get('description', '')}"),
            ("State", status.get("state", "")),
            ("Step", f"{p.get('step', 0)} / {p.get('total', 0)}" if p.get("total") else str(p.get("step", 0)))]
    if isinstance(p.get("loss"), (int, float)):
        rows.append(("Loss", f"{p['loss']:.5f}"))
    if isinstance(p.get("lr"), (int, float)):
        rows.append(("Learning rate", f"{p['lr']:.3g}"))
    rate = p.get("rate") or 0.0
    if rate:
        rows.append(("Speed", f"{rate:.2f} it/s" if rate >= 1 else f"{1 / rate:.2f} s/it"))
    if running and p.get("eta") is not None:
        rows.append(("ETA", format_seconds(p["eta"])))
    if p.get("elapsed") is not None:
        rows.append(("Elapsed", format_seconds(p["elapsed"])))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    message = status.get("message") or p.get("message") or ""
    kind = "error" if status.get("state") == "failed" else "note"
    note = f'<div class="hnx-message hnx-{kind}">{text_html(message)}</div>' if message else ""
    fraction = min(max(float(p.get("fraction") or 0.0), 0.0), 1.0)
    bar = (f'<div class="hnx-bar"><div class="hnx-bar-fill" style="width:{fraction * 100:.1f}%"></div></div>'
           if p.get("total") else "")
    # state, kind and job id let a page (and a test) tell this job from the previous one
    marks = " ".join(f'data-hnx-{key}="{html.escape(str(status.get(field)))}"'
                     for key, field in (("state", "state"), ("kind", "kind"), ("job", "id")))
    return (f'<div class="hnx-live" data-hnx-running="{"true" if running else "false"}" {marks}>'
            f'{bar}<table>{cells}</table>{note}</div>')


class _PlotCache:
    """The last live plot per job: a running job's plot is redrawn at most every REDRAW_SECONDS.

    Drawing with matplotlib takes a noticeable fraction of a second, and every open page polls the
    live view about once a second.
    """

    REDRAW_SECONDS = 5.0

    def __init__(self):
        self._lock = threading.Lock()
        self._entry: tuple = (None, None, 0, 0.0)  # (job id, image, points, drawn at)

    def get(self, job, points: int) -> Optional[Any]:
        with self._lock:
            job_id, image, drawn_points, drawn_at = self._entry
        fresh = time.monotonic() - drawn_at < self.REDRAW_SECONDS if job.running else drawn_points == points
        return image if job_id == job.id and image is not None and fresh else None

    def put(self, job, points: int, image: Any) -> Any:
        with self._lock:
            self._entry = (job.id, image, points, time.monotonic())
        return image


_PLOTS = _PlotCache()


def loss_plot(jobs: JobManager, kind: str = "training") -> Optional[Any]:
    """A PIL image of the current training run's losses (the whole run after a resume), or None when none.

    The job's own history is the newest; the steps before it come from the run's loss.csv, with the
    learning rate and the validation loss when the run records them.
    """
    job = jobs.current
    if job is None or job.kind != kind:
        return None
    history = dict(job.progress.history())
    cached = _PLOTS.get(job, len(history))
    if cached is not None:
        return cached
    return _PLOTS.put(job, len(history), _draw_run(job, history))


def _draw_run(job, history: dict) -> Optional[Any]:
    run = job.data.get("run_dir")
    first = min(history) if history else None
    earlier = {s: v for s, v in losses_by_step(run).items() if first is None or s < first} if run else {}
    points = sorted({**earlier, **history}.items())
    if not points:
        return None
    steps = [s for s, _ in points]
    rates = learning_rates_by_step(run) if run else {}
    return render_loss_curve(steps, [v for _, v in points], f"{job.description} loss", size=(640, 320),
                             learning_rates=[rates.get(s, math.nan) for s in steps] if rates else None,
                             validation=validation_losses(run) if run else None)


def latest_preview(jobs: JobManager) -> Optional[str]:
    """Path of the newest preview image the current job reported."""
    job = jobs.current
    if job is None:
        return None
    preview = job.progress.snapshot().get("preview")
    return str(preview) if preview else None


def live_outputs(c: dict) -> list:
    """A panel's live view components, in `live_values` order."""
    return [c["status"], c["loss_plot"], c["preview_image"]]


def wire_live_view(c: dict, jobs: JobManager, kind: str = "training") -> None:
    """Fill the live view on every page open (a reload or a second tab shows a running job at once)
    and on "Refresh status" (which the panels' script clicks while a job runs)."""
    from .page_events import on_page_load

    def refresh():
        return live_values(jobs, kind)
    on_page_load(refresh, outputs=live_outputs(c))
    c["refresh"].click(refresh, outputs=live_outputs(c), show_progress="hidden")
    c["live_refresh_fn"] = refresh


def live_values(jobs: JobManager, kind: str = "training") -> tuple[str, Any, Optional[str]]:
    """(status HTML, loss plot image, preview path) for the live view's outputs."""
    status = jobs.status()
    if status.get("state") != "idle" and status.get("kind") != kind:
        return status_html(status), None, None
    return status_html(status), loss_plot(jobs, kind), latest_preview(jobs)
