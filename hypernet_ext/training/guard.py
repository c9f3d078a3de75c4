"""Detecting "hypernetwork death": non-finite losses or weights, and losses stuck above a threshold."""
from __future__ import annotations

import math
from typing import Iterable, Optional

import torch


class LossGuard:
    """Flags a run as diverged on a NaN/inf loss, or after `steps` consecutive losses above `threshold`.

    `streak_start` is the first step of the current above-threshold streak; checkpoints saved from
    that step on are not "good".
    """

    def __init__(self, threshold: Optional[float] = None, steps: int = 20):
        self.threshold = threshold
        self.steps = int(steps)
        self.streak = 0
        self.streak_start: Optional[int] = None

    def check(self, step: int, loss: float) -> Optional[str]:
        """Record the loss of `step`; return a reason when training must stop, else None."""
        if not math.isfinite(loss):
            return f"the loss became {loss} at step {step}"
        if self.threshold is None or loss <= self.threshold:
            self.streak, self.streak_start = 0, None
            return None
        if self.streak == 0:
            self.streak_start = step
        self.streak += 1
        if self.streak >= self.steps:
            return (f"the loss stayed above {self.threshold:g} for {self.streak} steps "
                    f"(steps {self.streak_start}-{step})")
        return None

    @property
    def in_streak(self) -> bool:
        return self.streak > 0


def all_finite(parameters: Iterable[torch.Tensor]) -> bool:
    """True when every value of every tensor is finite."""
    return all(bool(torch.isfinite(p).all()) for p in parameters)


def divergence_advice(precision: str) -> str:
    advice = ("Lower the learning rate (e.g. divide it by 10, or use a schedule such as "
              "'5e-5:100, 5e-6:1500, 5e-7:10000, 5e-8'), add gradient clipping (--clip norm:1), "
              "or resume from an earlier checkpoint.")
    if precision == "fp16":
        advice += " fp16 overflows easily: try --precision bf16 or fp32."
    return advice
