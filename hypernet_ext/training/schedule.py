"""Step schedules: the webui's `rate:step, rate:step, rate` syntax and cosine warm restarts.

Both are pure functions of the optimizer step, so a resumed run needs no scheduler state: the
value at step `s` is the same whether the run started at 0 or at `s`.

Webui syntax (reference 5.2): pieces are split on `,`; `rate:step` applies while the step is
below `step` (capped at `max_steps`); `rate:-1` or a bare `rate` applies until `max_steps` and
ends the list. When the list is exhausted before `max_steps`, training stops there
(`"0.001:100"` with 1000 steps stops after 100). Pieces that end at or before the current step
are dropped on resume. Unlike the webui, steps that do not increase, negative steps other than
-1 and non-positive rates are refused with a message instead of being silently misused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Protocol

from ..errors import InvalidOptionError

SYNTAX_HELP = ("Use the webui schedule syntax: comma-separated 'value:until_step' pieces, optionally "
               "ending with a bare value, e.g. '5e-5:100, 5e-6:1500, 5e-7:10000, 5e-8'.")


@dataclass(frozen=True)
class SchedulePiece:
    """`value` applies to steps below `end_step`."""
    value: float
    end_step: int


def parse_schedule(text: str, max_steps: int, cur_step: int = 0, what: str = "Learning rate"
                   ) -> list[SchedulePiece]:
    """Parse a webui schedule string into pieces, dropping those that end at or before `cur_step`."""
    pieces: list[SchedulePiece] = []
    previous_end = None
    for raw in str(text if text is not None else "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = [p.strip() for p in raw.split(":")]
        value = _parse_value(parts[0], raw, text, what)
        if len(parts) != 2:
            pieces.append(SchedulePiece(value, max_steps))
            break
        end = _parse_step(parts[1], raw, text, what)
        if end == -1:
            pieces.append(SchedulePiece(value, max_steps))
            break
        if previous_end is not None and end <= previous_end:
            raise InvalidOptionError(
                f"{what} schedule {text!r}: step {end} in '{raw}' is not after the previous step "
                f"{previous_end}; each piece must end at a later step. {SYNTAX_HELP}")
        previous_end = end
        if end > cur_step:
            pieces.append(SchedulePiece(value, min(end, max_steps)))
            if end > max_steps:
                break
    if not pieces and previous_end is None:
        raise InvalidOptionError(f"{what} schedule {text!r} is empty. {SYNTAX_HELP}")
    return pieces


def _parse_value(part: str, raw: str, text: str, what: str) -> float:
    try:
        value = float(part)
    except ValueError:
        raise InvalidOptionError(
            f"{what} schedule {text!r}: '{raw}' does not start with a number. {SYNTAX_HELP}") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidOptionError(
            f"{what} schedule {text!r}: value {part} must be a positive finite number. {SYNTAX_HELP}")
    return value


def _parse_step(part: str, raw: str, text: str, what: str) -> int:
    try:
        step = int(part)
    except ValueError:
        raise InvalidOptionError(
            f"{what} schedule {text!r}: the step in '{raw}' must be a whole number (or -1 for "
            f"'until the end'). {SYNTAX_HELP}") from None
    if step < 0 and step != -1:
        raise InvalidOptionError(
            f"{what} schedule {text!r}: step {step} in '{raw}' is negative; use -1 for 'until the end'.")
    return step


class StepValue(Protocol):
    def value_at(self, step: int) -> Optional[float]: ...


class StepSchedule:
    """A parsed webui schedule: `value_at(step)` is the value for that step, None once exhausted."""

    def __init__(self, text: str, max_steps: int, cur_step: int = 0, what: str = "Learning rate"):
        self.text = text
        self.max_steps = int(max_steps)
        self.what = what
        self.pieces = parse_schedule(text, self.max_steps, cur_step, what)
        if not self.pieces:
            last = parse_schedule(text, self.max_steps, 0, what)[-1].end_step
            raise InvalidOptionError(
                f"{what} schedule {text!r} ends at step {last}, but training is already at step "
                f"{cur_step}. Extend the schedule (e.g. append ', {last_value(text, what)}' to keep "
                f"the last value until the end) or start from an earlier checkpoint.")

    def value_at(self, step: int) -> Optional[float]:
        for piece in self.pieces:
            if step < piece.end_step:
                return piece.value
        return None

    @property
    def end_step(self) -> int:
        """The step at which the schedule is exhausted (training stops there)."""
        return self.pieces[-1].end_step

    def last_value(self) -> float:
        return self.pieces[-1].value

    def describe(self) -> dict:
        return {"kind": "schedule", "text": self.text, "max_steps": self.max_steps,
                "pieces": [[p.value, p.end_step] for p in self.pieces]}


def last_value(text: str, what: str = "Learning rate") -> float:
    return parse_schedule(text, 2 ** 62, 0, what)[-1].value


class CosineWarmupRestarts:
    """Cosine annealing with linear warmup and warm restarts (MonkeyPatch semantics, reference 5.5).

    Cycle `n` lasts `first_cycle_steps * cycle_mult**n` steps and peaks at `max_lr * gamma**n`.
    Within a cycle, step `s < warmup` gives `min + (peak-min) * s / warmup`; later steps follow
    `min + (peak-min) * (1 + cos(pi * (s-warmup) / (cycle-warmup))) / 2`. It never runs out.
    """

    def __init__(self, max_lr: float, first_cycle_steps: int, cycle_mult: float = 1.0,
                 warmup_steps: int = 0, min_lr: float = 0.0, gamma: float = 1.0):
        self.max_lr, self.first_cycle_steps, self.cycle_mult = float(max_lr), int(first_cycle_steps), float(cycle_mult)
        self.warmup_steps, self.min_lr, self.gamma = int(warmup_steps), float(min_lr), float(gamma)
        self.validate()

    def validate(self) -> None:
        if self.first_cycle_steps < 1:
            raise InvalidOptionError(f"Cosine cycle length must be at least 1 step, got {self.first_cycle_steps}.")
        if not (0 <= self.warmup_steps < self.first_cycle_steps):
            raise InvalidOptionError(
                f"Cosine warmup ({self.warmup_steps} steps) must be >= 0 and shorter than the first cycle "
                f"({self.first_cycle_steps} steps); lower the warmup or lengthen the cycle.")
        if not (math.isfinite(self.cycle_mult) and self.cycle_mult >= 1):
            raise InvalidOptionError(f"Cosine cycle multiplier must be >= 1, got {self.cycle_mult}.")
        if not (0 <= self.min_lr < self.max_lr):
            raise InvalidOptionError(
                f"Cosine minimum learning rate {self.min_lr:g} must be >= 0 and below the maximum "
                f"(the first learning rate, {self.max_lr:g}).")
        if not (0 <= self.gamma <= 1):
            raise InvalidOptionError(f"Cosine gamma (decay per cycle) must be in [0, 1], got {self.gamma}.")

    def cycle_at(self, step: int) -> tuple[int, int, int]:
        """(cycle index, step within the cycle, cycle length) for a step."""
        start, length, cycle = 0, float(self.first_cycle_steps), 0
        while step >= start + int(length):
            start += int(length)
            length *= self.cycle_mult
            cycle += 1
        return cycle, step - start, int(length)

    def value_at(self, step: int) -> float:
        cycle, s, length = self.cycle_at(step)
        peak = self.max_lr * self.gamma ** cycle
        if s < self.warmup_steps:
            return self.min_lr + (peak - self.min_lr) * s / self.warmup_steps
        span = max(length - self.warmup_steps, 1)
        return self.min_lr + (peak - self.min_lr) * (1 + math.cos(math.pi * (s - self.warmup_steps) / span)) / 2

    def is_end_of_cycle(self, step: int) -> bool:
        """True when `step` is the last step of its cycle."""
        _, s, length = self.cycle_at(step)
        return s + 1 == length

    def describe(self) -> dict:
        return {"kind": "cosine", "max_lr": self.max_lr, "first_cycle_steps": self.first_cycle_steps,
                "cycle_mult": self.cycle_mult, "warmup_steps": self.warmup_steps,
                "min_lr": self.min_lr, "gamma": self.gamma}


class ClipSchedule:
    """Gradient-clip value per step: the webui schedule syntax; keeps its last value once exhausted."""

    def __init__(self, text: str, max_steps: int):
        self.schedule = StepSchedule(text, max_steps, 0, what="Gradient clipping value")

    def value_at(self, step: int) -> float:
        value = self.schedule.value_at(step)
        return self.schedule.last_value() if value is None else value
