"""Mirror a hypernet_ext job into the webui's `shared.state` (progress bar, Interrupt button, live preview)."""
from __future__ import annotations

from typing import Any, Optional

from ...jobs import Job


def _state() -> Optional[Any]:
    from modules import shared
    return getattr(shared, "state", None)


def _progress_module():
    try:
        from modules import progress
    except ImportError:
        return None
    return progress


class WebuiStateObserver:
    """JobObserver: job/sampling_step/textinfo into `shared.state`; `state.interrupted` cancels the job."""

    def started(self, job: Job) -> None:
        state = _state()
        if state is not None:
            state.begin(job=f"hypernet_ext_{job.kind}") if _takes_job(state) else state.begin()
            state.job_count, state.job_no = 1, 0
            state.textinfo = job.description
        task_id = job.data.get("task_id")
        tracker = _progress_module()
        if task_id and tracker is not None and hasattr(tracker, "start_task"):
            if hasattr(tracker, "add_task_to_queue"):
                tracker.add_task_to_queue(task_id)
            tracker.start_task(task_id)

    def polled(self, job: Job) -> None:
        state = _state()
        if state is None:
            return
        if getattr(state, "interrupted", False) and job.running:
            job.interrupt()
        snapshot = job.progress.snapshot()
        state.sampling_steps = int(snapshot.get("total") or 0)
        state.sampling_step = int(snapshot.get("step") or 0)
        loss = snapshot.get("loss")
        state.textinfo = snapshot.get("description", "") + (f" loss {loss:.4f}" if isinstance(loss, float) else "")

    def ended(self, job: Job) -> None:
        task_id = job.data.get("task_id")
        tracker = _progress_module()
        if task_id and tracker is not None and hasattr(tracker, "finish_task"):
            tracker.finish_task(task_id)
        state = _state()
        if state is not None:
            state.textinfo = job.message
            state.end()


def _takes_job(state: Any) -> bool:
    import inspect
    try:
        return "job" in inspect.signature(state.begin).parameters
    except (TypeError, ValueError):
        return False
