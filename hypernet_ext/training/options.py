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
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import InvalidOptionError
from ..option_spec import option
from .host import PreviewParams
from .low_vram import UNET_WEIGHT_DTYPES
from .optim import CLIP_MODES, DEFAULT_OPTIMIZER, optimizer_names, resolve_optimizer
from .schedule import ClipSchedule, CosineWarmupRestarts, StepSchedule

PRECISIONS = ("fp32", "bf16", "fp16")
LR_SCHEDULERS = ("schedule", "cosine")
DEFAULT_LEARNING_RATE = "1e-5"


@dataclass
class TrainingOptions:
    """Everything a training run needs besides the model host. Call `validate()` before use.

    The fields made with `option(...)` are the training options every front end shows (generated
    from these declarations); `hypernetwork`, `log_dir`, `data`, `preview` and `resume` are the
    run's inputs, set by the front end's own controls.
    """

    hypernetwork: str
    log_dir: str
    data: Any  # hypernet_ext.training.data.DataOptions
    steps: int = option(10000, help="train until the hypernetwork is at this step", label="Train until step",
                        group="run", minimum=1, metavar="N")
    learning_rate: str = option(DEFAULT_LEARNING_RATE, help="learning rate, or a webui schedule such as "
                                "'5e-5:100, 5e-6:1500, 5e-7' (rate:until-step pairs)", flag="--lr",
                                label="Learning rate (schedule allowed)", group="run", metavar="SCHEDULE")
    grad_accum: int = option(1, help="batches whose gradients are summed before each optimizer step",
                             label="Gradient accumulation steps", group="run", minimum=1, metavar="K")
    save_every: int = option(500, help="save a checkpoint every N steps (0: only at the end)",
                             label="Save a checkpoint every N steps", group="run", minimum=0, metavar="N")
    preview_every: int = option(500, help="render a preview image every N steps (0: never)",
                                label="Render a preview every N steps", group="run", minimum=0, metavar="N")
    optimizer: str = option(DEFAULT_OPTIMIZER, help="AdamW, Adam, SGD, any torch.optim name, Lion, DAdaptAdam(W), "
                            "Prodigy", label="Optimizer", group="optimization", suggest=optimizer_names)
    optimizer_args: dict = option(help="extra optimizer keyword arguments, KEY=VALUE separated by ';' "
                                  "(e.g. weight_decay=0.01; betas=(0.9, 0.99)); on the CLI one per flag",
                                  flag="--optimizer-arg", label="Optimizer arguments", group="optimization",
                                  metavar="KEY=VALUE", default_factory=dict)
    precision: str = option("fp32", help="numeric precision of the hypernetwork's forward pass",
                            label="Precision", group="optimization", choices=PRECISIONS)
    gradient_checkpointing: bool = option(False, help="save memory at the cost of about one extra forward pass",
                                          label="Gradient checkpointing", group="optimization")
    grad_clip: str = option("none", help="gradient clipping: none, by value or by norm",
                            label="Gradient clipping", group="optimization", choices=CLIP_MODES)
    grad_clip_value: str = option("0.1", help="clipping limit; a schedule like the learning rate's is allowed",
                                  label="Clipping value (schedule allowed)", group="optimization", metavar="V")
    lr_scheduler: str = option("schedule", help="'schedule': the learning rate text as written; 'cosine': "
                               "cosine annealing with warm restarts peaking at the first learning rate",
                               label="Learning rate scheduler", group="optimization", choices=LR_SCHEDULERS)
    cosine_cycle_steps: int = option(64, help="steps of the first cosine cycle", label="Cosine cycle steps",
                                     group="optimization", minimum=1, metavar="N")
    cosine_cycle_mult: float = option(1.0, help="each cosine cycle is this many times longer than the last",
                                      label="Cosine cycle multiplier", group="optimization", metavar="X")
    cosine_warmup: int = option(5, help="warm-up steps at the start of each cosine cycle",
                                label="Cosine warmup steps", group="optimization", minimum=0, metavar="N")
    cosine_min_lr: float = option(6e-7, help="lowest learning rate of a cosine cycle",
                                  label="Cosine minimum learning rate", group="optimization", metavar="LR")
    cosine_gamma: float = option(1.0, help="peak decay per cosine cycle", label="Cosine peak decay",
                                 group="optimization", metavar="X")
    save_optimizer_state: bool = option(True, help="write a .optim file beside each checkpoint so training can "
                                        "resume exactly", label="Save optimizer state for resuming",
                                        group="outputs")
    save_final_to_source: bool = option(False, help="when training ends normally, also write the result over "
                                        "the source file (the webui always did)", flag="--save-to-source",
                                        label="Write the result over the source file", group="outputs")
    tensorboard: bool = option(False, help="also log loss and learning rate for TensorBoard",
                               label="TensorBoard logging", group="outputs")
    csv_every: int = option(1, help="write loss.csv every N steps (0: never)", label="Write loss.csv every N steps",
                            group="outputs", minimum=0, metavar="N")
    loss_guard_threshold: Optional[float] = option(None, help="stop when the loss stays above this value (0.3 "
                                                   "suits SD models; 0 or empty: off); NaN/inf always stops",
                                                   flag="--loss-guard", label="Stop when loss stays above (0 = off)",
                                                   group="outputs", minimum=0, metavar="LOSS")
    loss_guard_steps: int = option(20, help="consecutive steps above the loss guard before stopping",
                                   label="Loss guard steps", group="outputs", minimum=1, metavar="N")
    preview: Any = None  # hypernet_ext.training.host.PreviewParams | None (None: first caption of the dataset)
    resume: bool = False
    # -- validation loss and early stop (training/validation.py) --
    validation_split: float = option(0.0, help="hold out this fraction of the training images (chosen by the seed) "
                                     "to measure a validation loss", label="Validation split", group="validation",
                                     minimum=0.0, maximum=0.95, metavar="F")
    validation_dir: str = option("", help="a separate folder of captioned images for the validation loss",
                                 label="Validation folder", group="validation", metavar="DIR")
    validation_every: int = option(0, help="measure the validation loss every N steps (0: at every saved checkpoint)",
                                   label="Validate every N steps", group="validation", minimum=0, metavar="N")
    early_stop: int = option(0, help="stop when the validation loss has not improved for K evaluations, keeping "
                             "the best checkpoint (0: off)", label="Early stop after K evaluations",
                             group="validation", minimum=0, metavar="K")
    # -- low VRAM (see training/low_vram.py) --
    offload_encoders: bool = option(
        False, label="Offload VAE and text encoder after caching", group="memory",
        help="move the VAE and text encoder off the GPU once latents and captions are cached (back for "
             "previews); the text encoder stays when tag shuffle/dropout change prompts every step")
    unet_weights: str = option(
        "fp32", label="Frozen UNet weights", group="memory", choices=tuple(UNET_WEIGHT_DTYPES),
        help="dtype of the frozen UNet's weights (standalone trainer): fp16/bf16 halve its memory and run "
             "under autocast; the hypernetwork itself always trains in fp32")

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
        from .validation import check_validation_options
        check_validation_options(self)
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
        for name, allowed in (("precision", PRECISIONS), ("lr_scheduler", LR_SCHEDULERS), ("grad_clip", CLIP_MODES),
                              ("unet_weights", tuple(UNET_WEIGHT_DTYPES))):
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


@dataclass
class PreviewOptions:
    """The preview images rendered during training (every `TrainingOptions.preview_every` steps).

    An empty prompt previews with the first caption of the dataset (the same at every step). The seed
    defaults to the training seed so previews of different steps are comparable.
    """

    preview_prompt: str = option("", help="prompt of the preview images (empty: the dataset's first caption, the same "
                                 "at every step)",
                                 label="Preview prompt (empty = first caption)", group="preview", metavar="TEXT")
    preview_negative: str = option("", help="negative prompt of the preview images",
                                   label="Preview negative prompt", group="preview", metavar="TEXT")
    preview_steps: int = option(20, help="sampling steps of a preview image", label="Preview sampling steps",
                                group="preview", minimum=1, metavar="N")
    preview_cfg: float = option(7.0, help="CFG scale of the preview images", label="Preview CFG scale",
                                group="preview", minimum=0, metavar="X")
    preview_seed: int = option(-1, help="seed of the preview images (-1: the training seed, the same at every "
                               "step)", label="Preview seed (-1 = training seed)", group="preview", metavar="S")

    def params(self, width: int, height: int, training_seed: int):
        """PreviewParams for the host, or None to preview with the dataset's first caption."""
        if not self.preview_prompt.strip():
            return None
        seed = training_seed if int(self.preview_seed) == -1 else int(self.preview_seed)
        return PreviewParams(self.preview_prompt, self.preview_negative, steps=int(self.preview_steps),
                             cfg_scale=float(self.preview_cfg), seed=seed, width=width, height=height)
