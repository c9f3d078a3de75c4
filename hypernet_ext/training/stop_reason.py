"""Why a training run stopped (one enum for the trainer, the CLI's exit code and the job states)."""
from __future__ import annotations

from enum import Enum


class StopReason(str, Enum):
    """A str enum: compares equal to its value and serialises as it ("finished", ...)."""

    FINISHED = "finished"                    # reached the target step
    SCHEDULE_FINISHED = "schedule-finished"  # the learning-rate schedule ran out
    INTERRUPTED = "interrupted"              # Ctrl-C or a cancel: a checkpoint was saved first
    DIVERGED = "diverged"                    # non-finite or guarded loss: nothing bad was saved

    def __str__(self) -> str:
        return self.value

    @property
    def succeeded(self) -> bool:
        return self in (StopReason.FINISHED, StopReason.SCHEDULE_FINISHED)
