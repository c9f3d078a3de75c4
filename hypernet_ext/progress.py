"""Progress of long jobs (preprocessing, training): a thread-safe object a UI polls, a terminal bar.

The worker calls `start`, `advance`/`update`, and `finish`; it checks `cancelled` (or calls
`raise_if_cancelled`) between units of work, and `write`s messages (above the bar, never through
it). A UI thread calls `snapshot()` and `cancel()`. The terminal bar is tqdm's.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Optional, TextIO

from tqdm import tqdm


class Cancelled(Exception):
    """Raised by `raise_if_cancelled` once `cancel()` was called."""


class Progress:
    """Step counter with rate/ETA, free-form fields (loss, last preview, ...) and cancellation."""

    def __init__(self, total: int = 0, description: str = "", stream: Optional[TextIO] = None,
                 min_interval: float = 0.2):
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._stream = stream
        self._min_interval = min_interval
        self._bar: Optional[tqdm] = None
        self.start(total, description)

    # -- worker side ---------------------------------------------------------------------------
    def start(self, total: int, description: str = "", step: int = 0) -> None:
        self._close_bar()
        with self._lock:
            self.total = int(total)
            self.description = description
            self.step = int(step)
            self._first_step = int(step)
            self.started_at = time.monotonic()
            self.ended_at: Optional[float] = None  # elapsed time and speed stop counting here
            self.finished = False
            self.error: Optional[str] = None
            self.message = ""
            self.fields: dict[str, Any] = {}
        if total:
            self._draw(force=True)

    def update(self, step: Optional[int] = None, message: Optional[str] = None, **fields: Any) -> None:
        """Set the absolute step and/or fields such as `loss=0.1` or `preview='a.png'`."""
        with self._lock:
            if step is not None:
                self.step = int(step)
            if message is not None:
                self.message = message
            self.fields.update(fields)
        self._draw()

    def advance(self, n: int = 1, **fields: Any) -> None:
        self.update(step=self.step + n, **fields)

    def finish(self, message: str = "", error: Optional[str] = None) -> None:
        with self._lock:
            self.finished = True
            if self.ended_at is None:
                self.ended_at = time.monotonic()
            self.message = message or self.message
            self.error = error
        if self._bar is not None:
            self._draw(force=True)
            self._close_bar()

    def write(self, text: str) -> None:
        """A message on the terminal: above the bar while one is drawn, so neither garbles the other."""
        if self._stream is None:
            return
        if self._bar is not None:
            tqdm.write(text, file=self._stream)
        else:
            print(text, file=self._stream, flush=True)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    # -- UI side -------------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def reset_cancel(self) -> None:
        self._cancel.clear()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of the current state."""
        with self._lock:
            elapsed = (self.ended_at if self.ended_at is not None else time.monotonic()) - self.started_at
            done = self.step - self._first_step
            rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
            remaining = max(self.total - self.step, 0)
            eta = remaining / rate if rate > 0 else None
            return {
                "description": self.description, "step": self.step, "total": self.total,
                "fraction": (self.step / self.total) if self.total else 0.0,
                "elapsed": elapsed, "rate": rate, "eta": eta, "finished": self.finished,
                "cancelled": self._cancel.is_set(), "error": self.error, "message": self.message,
                **{k: v for k, v in self.fields.items()},
            }

    # -- terminal ------------------------------------------------------------------------------
    def _draw(self, force: bool = False) -> None:
        if self._stream is None or not self.total:
            return
        with self._lock:
            step, total, description = self.step, self.total, self.description
            loss, message = self.fields.get("loss"), self.message
        if self._bar is None:
            self._bar = tqdm(total=total, initial=step, desc=description, file=self._stream, dynamic_ncols=True,
                             mininterval=self._min_interval, leave=True)
        bar = self._bar
        bar.n = step
        postfix = f"loss={loss:.4f}" if isinstance(loss, float) else ""
        bar.set_postfix_str(" ".join(p for p in (postfix, message) if p), refresh=False)
        if force or time.monotonic() - bar.last_print_t >= self._min_interval:
            bar.refresh()

    def _close_bar(self) -> None:
        bar, self._bar = getattr(self, "_bar", None), None
        if bar is not None:
            bar.close()


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def terminal_progress(total: int = 0, description: str = "") -> Progress:
    """A Progress that draws a bar on stderr."""
    return Progress(total, description, stream=sys.stderr)
