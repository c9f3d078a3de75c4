"""Training options: one dataclass, validated with messages that name the field and the fix.

Defaults and decisions:
- `learning_rate="1e-5"`: the webui's hypernetwork default; any webui schedule string works.
- `steps` is the hypernetwork's target step count (like the webui's "Max steps"): a file already
  at step 300 trained with `steps=1000` runs 700 more steps.
- Seed and batch size live in `data` (`DataOptions.seed`, `.batch_size`) only; `TrainingOptions.seed`
  and `.batch_size` read them, so the two can never disagree.
- `save_final_to_source=False`: the result lands in `log_dir` as `<name>-<step>.pt` and the source
  file is left as it was. Set it True to also write the result over the source file (what the
  webui always did), which happens only when training ends normally, never after divergence.
- `loss_guard_threshold=None`: only NaN/inf losses stop training by default. For Stable Diffusion
  models, 0.3 (the community rule of thumb "loss above 0.3 means the network broke") is a good
  value; it stops after `loss_guard_steps` consecutive steps above it.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import InvalidOptionError
from .optim import CLIP_MODES, DEFAULT_OPTIMIZER, resolve_optimizer
from .schedule import ClipSchedule, CosineWarmupRestarts, StepSchedule

PRECISIONS = ("fp32", "bf16", "fp16")
LR_SCHEDULERS = ("schedule", "cosine")
DEFAULT_LEARNING_RATE = "1e-5"


@dataclass
class TrainingOptions:
    """Everything a training run needs besides the model host. Call `validate()` before use."""

    hypernetwork: str
    log_dir: str
    steps: int
    data: Any  # hypernet_ext.training.data.DataOptions
    learning_rate: str = DEFAULT_LEARNING_RATE
    lr_scheduler: str = "schedule"
    cosine_cycle_steps: int = 64
    cosine_cycle_mult: float = 1.0
    cosine_warmup: int = 5
    cosine_min_lr: float = 6e-7
    cosine_gamma: float = 1.0
    grad_clip: str = "none"
    grad_clip_value: str = "0.1"
    optimizer: str = DEFAULT_OPTIMIZER
    optimizer_args: dict = field(default_factory=dict)
    grad_accum: int = 1
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    save_every: int = 500
    preview_every: int = 500
    preview: Any = None  # hypernet_ext.training.host.PreviewParams | None (None: first caption of the batch)
    resume: bool = False
    save_final_to_source: bool = False
    loss_guard_threshold: Optional[float] = None
    loss_guard_steps: int = 20
    csv_every: int = 1
    tensorboard: bool = False
    save_optimizer_state: bool = True

    @property
    def seed(self) -> int:
        return int(self.data.seed)

    @property
    def batch_size(self) -> int:
        return int(self.data.batch_size)

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> "TrainingOptions":
        """Check every field; raise InvalidOptionError naming the problem and the fix. Returns self."""
        from ..limits import check_training_options
        self._validate_paths()
        _positive_int("steps", self.steps, "Training steps")
        _positive_int("grad_accum", self.grad_accum, "Gradient accumulation steps")
        for name in ("save_every", "preview_every", "csv_every"):
            _non_negative_int(name, getattr(self, name))
        _positive_int("loss_guard_steps", self.loss_guard_steps, "Loss guard steps")
        self._validate_choices()
        self.lr_schedule(0)
        self.clip_schedule()
        resolve_optimizer(self.optimizer)
        if not isinstance(self.optimizer_args, dict):
            raise InvalidOptionError(f"optimizer_args must be a dict of keyword arguments, got {self.optimizer_args!r}.")
        if "lr" in self.optimizer_args:
            raise InvalidOptionError("Set the learning rate with learning_rate, not optimizer_args['lr'].")
        g = self.loss_guard_threshold
        if g is not None and not (isinstance(g, (int, float)) and math.isfinite(g) and g > 0):
            raise InvalidOptionError(f"loss_guard_threshold must be a positive number or None, got {g!r}.")
        if self.data is None or not hasattr(self.data, "validate"):
            raise InvalidOptionError("TrainingOptions.data must be a DataOptions describing the dataset.")
        self.data.validate()
        check_training_options(self)  # absurd counts (grad_accum 1e9) would make a job uninterruptible
        return self

    def _validate_paths(self) -> None:
        if not self.hypernetwork or not Path(self.hypernetwork).is_file():
            raise InvalidOptionError(
                f"Hypernetwork file {self.hypernetwork!r} does not exist. Create one first "
                f"(`python -m hypernet_ext create NAME --dir DIR`) or pass the path of an existing .pt/.safetensors.")
        if not self.log_dir:
            raise InvalidOptionError("Log directory is empty; give a folder for checkpoints, previews and logs.")
        if Path(self.log_dir).exists() and not Path(self.log_dir).is_dir():
            raise InvalidOptionError(f"Log directory {self.log_dir!r} exists and is not a folder; pick another path.")
        if self.resume and not os.path.isfile(str(self.hypernetwork) + ".optim"):
            raise InvalidOptionError(
                f"Cannot resume: {self.hypernetwork}.optim (the optimizer state saved beside the checkpoint) "
                f"is missing. Resume from a checkpoint in the log directory, or train without resume to "
                f"continue these weights with a fresh optimizer.")

    def _validate_choices(self) -> None:
        for name, allowed in (("precision", PRECISIONS), ("lr_scheduler", LR_SCHEDULERS), ("grad_clip", CLIP_MODES)):
            if getattr(self, name) not in allowed:
                raise InvalidOptionError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}.")

    # -- derived -------------------------------------------------------------------------------
    def lr_schedule(self, cur_step: int):
        """The learning-rate schedule (StepSchedule or CosineWarmupRestarts) for a run starting at cur_step."""
        schedule = StepSchedule(self.learning_rate, int(self.steps), cur_step, what="Learning rate")
        if self.lr_scheduler == "schedule":
            return schedule
        return CosineWarmupRestarts(max_lr=schedule.pieces[0].value, first_cycle_steps=self.cosine_cycle_steps,
                                    cycle_mult=self.cosine_cycle_mult, warmup_steps=self.cosine_warmup,
                                    min_lr=self.cosine_min_lr, gamma=self.cosine_gamma)

    def clip_schedule(self) -> Optional[ClipSchedule]:
        if self.grad_clip == "none":
            return None
        return ClipSchedule(self.grad_clip_value, int(self.steps))

    def to_dict(self) -> dict:
        """JSON-able copy (nested dataclasses as dicts)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = asdict(value) if is_dataclass(value) else value
        return out


def _positive_int(name: str, value: Any, label: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"{label} ({name}) must be a whole number >= 1, got {value!r}.")


def _non_negative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidOptionError(f"{name} must be a whole number >= 0 (0 disables it), got {value!r}.")
