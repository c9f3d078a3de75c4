"""One background job at a time (training or preprocessing) with its Progress.

`JobManager.start(kind, fn)` runs `fn(progress)` in a daemon thread and returns the `Job`;
`status()` gives a JSON-able dict (for panels and HTTP routes alike), `interrupt()` asks the
running job to stop at its next check, `wait()` blocks until it ends. Exceptions raised by `fn`
are captured as readable messages, never re-raised in the caller. Observers (e.g. the webui's
`shared.state` adapter) are told when a job starts, every `poll_interval` seconds while it runs,
and when it ends.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import time
import traceback
from typing import Any, Callable, ContextManager, Optional, Protocol

from .errors import HypernetError
from .progress import Cancelled, Progress
from .training.stop_reason import StopReason

JOB_KINDS = ("training", "preprocessing")
STATES = ("running", "finished", "interrupted", "failed")


class JobBusyError(HypernetError):
    """A job is already running; only one runs at a time."""


class LossHistoryProgress(Progress):
    """A Progress that also keeps every `(step, loss)` reported, for a live loss plot."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._history_lock = threading.Lock()
        self.loss_history: list[tuple[int, float]] = []
        super().__init__(*args, **kwargs)

    def update(self, step: Optional[int] = None, message: Optional[str] = None, **fields: Any) -> None:
        loss = fields.get("loss")
        if isinstance(loss, (int, float)) and not isinstance(loss, bool):
            with self._history_lock:
                at = self.step if step is None else int(step)
                self.loss_history = [(s, l) for s, l in self.loss_history if s < at] + [(at, float(loss))]
        super().update(step=step, message=message, **fields)

    def history(self) -> list[tuple[int, float]]:
        with self._history_lock:
            return list(self.loss_history)


class Job:
    """A started job: its kind, Progress, state and outcome."""

    def __init__(self, job_id: int, kind: str, description: str, progress: LossHistoryProgress):
        self.id = job_id
        self.kind = kind
        self.description = description
        self.progress = progress
        self.state = "running"
        self.result: Any = None
        self.message = ""
        self.error: Optional[str] = None
        self.details: Optional[str] = None
        self.started_at = time.time()
        self.finished_at: Optional[float] = None
        self.done = threading.Event()
        self.data: dict[str, Any] = {}  # free slot for observers and panels (e.g. a webui task id)

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def interrupt(self) -> None:
        self.progress.cancel()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: id, kind, state, message, error, timings and the progress snapshot."""
        snapshot = self.progress.snapshot()
        snapshot.pop("preview_image", None)
        return {"id": self.id, "kind": self.kind, "description": self.description, "state": self.state,
                "running": self.running, "message": self.message, "error": self.error,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "progress": {k: v for k, v in snapshot.items() if _jsonable(v)}}


class JobObserver(Protocol):
    """Hooks a host (e.g. the webui) uses to mirror a job into its own progress display."""

    def started(self, job: Job) -> None: ...

    def polled(self, job: Job) -> None: ...

    def ended(self, job: Job) -> None: ...


JobFunction = Callable[[LossHistoryProgress], Any]


class JobManager:
    """Runs at most one job at a time; thread-safe; usable from gradio callbacks and HTTP routes."""

    def __init__(self, observers: Optional[list[JobObserver]] = None, poll_interval: float = 0.25,
                 job_lock: Optional[Callable[[], ContextManager]] = None):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._current: Optional[Job] = None
        self.observers: list[JobObserver] = list(observers or [])
        self.poll_interval = float(poll_interval)
        self.job_lock = job_lock or contextlib.nullcontext  # held while a job runs (e.g. the webui's queue lock)

    # -- control --------------------------------------------------------------------------------
    def start(self, kind: str, fn: JobFunction, description: str = "", total: int = 0) -> Job:
        """Start `fn(progress)` in the background; raise JobBusyError while another job runs."""
        if kind not in JOB_KINDS:
            raise HypernetError(f"Unknown job kind {kind!r}; use one of: {', '.join(JOB_KINDS)}.")
        with self._lock:
            current = self._current
            if current is not None and current.running:
                raise JobBusyError(f"A {current.kind} job is still running ({current.description or 'job'} "
                                   f"#{current.id}); wait for it to finish or interrupt it first.")
            job = Job(next(self._ids), kind, description or kind, LossHistoryProgress(total, description or kind))
            self._current = job
        self._notify("started", job)
        threading.Thread(target=self._run, args=(job, fn), name=f"hypernet-ext-{kind}-{job.id}",
                         daemon=True).start()
        threading.Thread(target=self._poll, args=(job,), name=f"hypernet-ext-poll-{job.id}", daemon=True).start()
        return job

    def interrupt(self) -> bool:
        """Ask the running job to stop; False when nothing runs."""
        job = self.current
        if job is None or not job.running:
            return False
        job.interrupt()
        return True

    def wait(self, timeout: Optional[float] = None) -> Optional[Job]:
        """Block until the current job ends (or `timeout` passes); returns it."""
        job = self.current
        if job is not None:
            job.done.wait(timeout)
        return job

    # -- queries --------------------------------------------------------------------------------
    @property
    def current(self) -> Optional[Job]:
        """The running job, else the last one (None before the first)."""
        with self._lock:
            return self._current

    @property
    def busy(self) -> bool:
        job = self.current
        return job is not None and job.running

    def status(self) -> dict[str, Any]:
        """`{"state": "idle"}` before any job, else the current/last job's `to_dict()`."""
        job = self.current
        return {"state": "idle", "running": False} if job is None else job.to_dict()

    # -- internals ------------------------------------------------------------------------------
    def _run(self, job: Job, fn: JobFunction) -> None:
        try:
            with self.job_lock():
                job.result = fn(job.progress)
            job.message = _result_message(job.result)
            job.state = _outcome(job.result)
            if job.state == "failed":
                job.error = job.message
        except (Cancelled, KeyboardInterrupt):
            job.state, job.message = "interrupted", "Interrupted before anything was finished."
        except HypernetError as exc:
            job.state, job.error, job.message = "failed", str(exc), str(exc)
        except Exception as exc:  # shown to the user, with details kept for the log
            job.state = "failed"
            job.error = job.message = f"{type(exc).__name__}: {exc}"
            job.details = traceback.format_exc()
        finally:
            job.finished_at = time.time()
            if not job.progress.finished:
                job.progress.finish(job.message, error=job.error)
            self._notify("ended", job)  # before `done`, so waiters see the observers' final state
            job.done.set()

    def _poll(self, job: Job) -> None:
        while not job.done.wait(self.poll_interval):
            self._notify("polled", job)

    def _notify(self, event: str, job: Job) -> None:
        for observer in list(self.observers):
            try:
                getattr(observer, event)(job)
            except Exception:  # an observer must never break a job
                traceback.print_exc()


def _result_message(result: Any) -> str:
    if result is None:
        return "Done."
    for attribute in ("message", "summary"):
        value = getattr(result, attribute, None)
        if callable(value):
            value = value()
        if isinstance(value, str) and value:
            return value
    return str(result)


def _outcome(result: Any) -> str:
    """finished / interrupted / failed for a TrainingResult (`stopped`) or PreprocessReport (`cancelled`)."""
    stopped = getattr(result, "stopped", None)
    if stopped == StopReason.INTERRUPTED or getattr(result, "cancelled", False) is True:
        return "interrupted"
    return "failed" if stopped == StopReason.DIVERGED else "finished"


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))
