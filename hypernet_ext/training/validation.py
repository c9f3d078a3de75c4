"""Validation loss: a deterministic measure of how well a checkpoint fits images it did not train on.

The held-out images come from `--validation-split F` (that fraction of the training folder, picked
by the training seed and removed from training) or `--validation-dir DIR` (a separate captioned
folder). Their latents (the VAE mean, never flipped) and text conditioning are computed once. One
evaluation runs, per image, one batched UNet forward at `VALIDATION_TIMESTEPS` evenly spread
timesteps with noise keyed by (image, timestep); prompts use a fixed template line per image and
the caption's tags in their written order. Nothing here depends on the training seed (except which
images are held out), on the global RNG or on dropout (the hypernetwork is evaluated in eval mode),
so the value is a pure function of the weights: two identical runs give identical values, and it
moves only when the network does.

`<run>/validation.csv` gets a row per evaluation: `step,val_loss,best_step,best_val_loss,checkpoint`.
With `early_stop=K` training stops after K evaluations without improvement; every new best is saved
as a checkpoint, so the run's result is the best checkpoint.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..atomic_files import atomic_write_bytes
from ..errors import InvalidOptionError
from ..images import list_image_files
from .data import DataOptions, TrainingData
from .host import add_noise, training_target
from .keyed_rng import keyed_torch_generator
from .loss import autocast_context, per_sample_loss

VALIDATION_CSV = "validation.csv"
CSV_COLUMNS = ("step", "val_loss", "best_step", "best_val_loss", "checkpoint")
VALIDATION_TIMESTEPS = 8
VALIDATION_SEED = 0        # noise, timesteps and template lines are the same for every run
_VALIDATION_NOISE = 201    # purpose code, distinct from training's (loss.NOISE, keyed_rng.*)
_SPLIT = 202


# -- options -----------------------------------------------------------------------------------
def check_validation_options(options) -> None:
    """InvalidOptionError naming the bad validation option of `TrainingOptions` and the fix."""
    split, folder = options.validation_split, options.validation_dir
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0.0 <= float(split) < 1.0:
        raise InvalidOptionError(f"Validation split (validation_split) must be a fraction from 0 up to (not "
                                 f"including) 1, e.g. 0.1; got {split!r}.")
    if split and folder:
        raise InvalidOptionError("Give either a validation split (validation_split) or a validation folder "
                                 "(validation_dir), not both.")
    if folder and not Path(folder).expanduser().is_dir():
        raise InvalidOptionError(f"Validation folder (validation_dir) {folder!r} does not exist or is not a "
                                 "folder; give a folder of captioned images not used for training.")
    for name in ("validation_every", "early_stop"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidOptionError(f"{name} must be a whole number >= 0 (0: "
                                     f"{'every saved checkpoint' if name == 'validation_every' else 'off'}), "
                                     f"got {value!r}.")
    if options.early_stop and not validation_enabled(options):
        raise InvalidOptionError("Early stop (early_stop) needs a validation loss: set a validation split "
                                 "(validation_split) or a validation folder (validation_dir).")


def validation_enabled(options) -> bool:
    return bool(getattr(options, "validation_split", 0) or getattr(options, "validation_dir", ""))


# -- which images ------------------------------------------------------------------------------
def held_out_sources(data: DataOptions, fraction: float) -> set[str]:
    """Relative paths of the images held out of `data.data_dir`: a `fraction`, chosen by `data.seed`.

    Each image's rank comes from a hash of (seed, relative path), so adding an image to the folder
    does not reshuffle which of the others are held out. At least one image stays on each side.
    """
    root = Path(data.data_dir).expanduser()
    sources = [p.relative_to(root).as_posix() for p in list_image_files(root, recursive=data.recursive)]
    if len(sources) < 2:
        raise InvalidOptionError(f"Validation split needs at least 2 images in {str(root)!r} (found "
                                 f"{len(sources)}); add images or give a separate validation folder "
                                 "(validation_dir).")
    count = min(len(sources) - 1, max(1, round(fraction * len(sources))))
    ranked = sorted(sources, key=lambda s: (zlib.crc32(f"{int(data.seed)}:{_SPLIT}:{s}".encode()), s))
    return set(ranked[:count])


class SubsetData(TrainingData):
    """`TrainingData` over only some files of its folder: `keep(relative path) -> bool`."""

    def __init__(self, host, options: DataOptions, keep, progress=None, **kwargs):
        self._keep = keep
        super().__init__(host, options, progress, **kwargs)

    def _list_files(self) -> list[Path]:
        files = super()._list_files()
        return [p for p in files if self._keep(p.relative_to(self._root).as_posix())]

    def fixed_samples(self) -> list[tuple[str, torch.Tensor, str]]:
        """(source, latent (C, h, w), prompt) per image: first orientation, prompt keyed by the image number."""
        return [(item.source, item.latents[0], self.prompts.text(item.caption, number))
                for number, item in enumerate(self._items)]


def build_training_data(host, options, progress=None) -> TrainingData:
    """The training set: every image of the folder, minus the held-out ones with a validation split."""
    if not getattr(options, "validation_split", 0):
        return TrainingData(host, options.data, progress)
    held = held_out_sources(options.data, float(options.validation_split))
    return SubsetData(host, options.data, lambda source: source not in held, progress)


# -- the measure -------------------------------------------------------------------------------
@dataclass
class _Sample:
    source: str
    latents: torch.Tensor      # (N, C, h, w): the image's latent repeated per timestep
    noise: torch.Tensor        # (N, C, h, w)
    timesteps: torch.Tensor    # (N,)
    cond: torch.Tensor         # (N, T, D)


def evenly_spread_timesteps(num_timesteps: int, count: int = VALIDATION_TIMESTEPS) -> torch.Tensor:
    """`count` timesteps at the centres of equal slices of [0, num_timesteps)."""
    count = max(1, min(int(count), int(num_timesteps)))
    return torch.tensor([int((i + 0.5) * num_timesteps / count) for i in range(count)], dtype=torch.long)


class ValidationSet:
    """Held-out images as cached latents, noise and conditioning; `loss()` evaluates the attached UNet."""

    def __init__(self, host, data: DataOptions, *, folder: Optional[str] = None, keep=None,
                 timesteps: int = VALIDATION_TIMESTEPS, progress=None):
        fixed = dataclasses.replace(data, data_dir=str(folder or data.data_dir), flip=False,
                                    latent_sampling="deterministic", shuffle_tags=False, tag_dropout=0.0,
                                    batch_size=1, seed=VALIDATION_SEED)
        subset = SubsetData(host, fixed, keep or (lambda source: True), progress)
        self.host = host
        self.report = subset.report
        steps = evenly_spread_timesteps(int(host.alphas_cumprod.shape[0]), timesteps)
        self.samples = []
        for number, (source, latent, prompt) in enumerate(subset.fixed_samples()):
            noise = torch.stack([torch.randn(tuple(latent.shape), dtype=torch.float32,
                                             generator=keyed_torch_generator(VALIDATION_SEED, _VALIDATION_NOISE,
                                                                             number, i))
                                 for i in range(len(steps))])
            with torch.no_grad():
                cond = host.encode_text([prompt]).detach()
            self.samples.append(_Sample(source, latent.unsqueeze(0).expand(len(steps), *latent.shape).contiguous(),
                                        noise, steps.clone(), cond.expand(len(steps), *cond.shape[1:]).contiguous()))

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def sources(self) -> list[str]:
        return [s.source for s in self.samples]

    @torch.no_grad()
    def loss(self, precision: str = "fp32") -> float:
        """Mean diffusion loss over every (image, timestep), computed in float64 from per-sample losses."""
        host, total, count = self.host, 0.0, 0
        for s in self.samples:
            latents = s.latents.to(host.device)
            noise, steps = s.noise.to(host.device), s.timesteps.to(host.device)
            noisy = add_noise(host, latents, noise, steps)
            target = training_target(host, latents, noise, steps)
            with autocast_context(precision, host.device):
                prediction = host.predict(noisy, steps, s.cond.to(host.device))
            losses = per_sample_loss(prediction, target).double().cpu()
            total += float(losses.sum())
            count += losses.numel()
        return total / max(1, count)


def evaluate_hypernetwork(host, hypernetwork, validation: ValidationSet, strength: float = 1.0,
                          precision: str = "fp32") -> float:
    """The validation loss of `hypernetwork` attached alone to `host.unet` (None: the bare model)."""
    from ..attach import attach_hypernetworks
    pairs = [] if hypernetwork is None else [(hypernetwork, strength)]
    was_training = getattr(hypernetwork, "training", False)
    if hypernetwork is not None:
        hypernetwork.eval()
    try:
        with attach_hypernetworks(host.unet, pairs):
            return validation.loss(precision)
    finally:
        if hypernetwork is not None and was_training:
            hypernetwork.train()


# -- the run's log and early stop ---------------------------------------------------------------
@dataclass
class Evaluation:
    step: int
    val_loss: float
    checkpoint: str = ""


class ValidationLog:
    """`validation.csv` rows, the best so far and the early-stop count. Rows after `start_step` are dropped."""

    def __init__(self, log_dir: Path, start_step: int = 0, early_stop: int = 0):
        self.path = Path(log_dir) / VALIDATION_CSV
        self.early_stop = int(early_stop)
        self.rows: list[Evaluation] = [r for r in read_validation_csv(self.path) if r.step <= start_step]
        self.best: Optional[Evaluation] = None
        self.since_best = 0
        for row in self.rows:
            self._track(row)

    def _track(self, row: Evaluation) -> bool:
        if math.isfinite(row.val_loss) and (self.best is None or row.val_loss < self.best.val_loss):
            self.best, self.since_best = row, 0
            return True
        self.since_best += 1
        return False

    def add(self, step: int, val_loss: float, checkpoint: str = "") -> bool:
        """Record an evaluation; True when it is a new best."""
        row = Evaluation(int(step), float(val_loss), str(checkpoint or ""))
        self.rows = [r for r in self.rows if r.step != row.step] + [row]
        improved = self._track(row)
        self.write()
        return improved

    def set_checkpoint(self, step: int, checkpoint: str) -> None:
        for row in self.rows:
            if row.step == step:
                row.checkpoint = str(checkpoint)
        self.write()

    def should_stop(self) -> bool:
        return bool(self.early_stop) and self.best is not None and self.since_best >= self.early_stop

    def write(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        best: Optional[Evaluation] = None
        for row in self.rows:
            if math.isfinite(row.val_loss) and (best is None or row.val_loss < best.val_loss):
                best = row
            writer.writerow([row.step, repr(row.val_loss), best.step if best else "",
                             repr(best.val_loss) if best else "", row.checkpoint])
        atomic_write_bytes(self.path, buffer.getvalue().encode("utf-8"))


def read_validation_csv(path) -> list[Evaluation]:
    """Rows of a `validation.csv` (unreadable rows skipped; a missing file gives [])."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                rows.append(Evaluation(int(row["step"]), float(row["val_loss"]), row.get("checkpoint") or ""))
            except (KeyError, TypeError, ValueError):
                continue
    return rows


def validation_loss_for(checkpoint: Path) -> Optional[float]:
    """The validation loss recorded for a checkpoint file in its run's validation.csv, if any.

    Checkpoints live in `<run>/hypernetworks/<name>-<step>.pt`; the row is matched by its
    checkpoint column, else by the file's step."""
    checkpoint = Path(checkpoint)
    for run in (checkpoint.parent.parent, checkpoint.parent):
        rows = read_validation_csv(run / VALIDATION_CSV)
        for row in rows:
            if row.checkpoint and Path(row.checkpoint).name == checkpoint.name:
                return row.val_loss
        step = _step_of(checkpoint)
        for row in rows:
            if step is not None and row.step == step:
                return row.val_loss
    return None


def _step_of(path: Path) -> Optional[int]:
    tail = path.stem.rsplit("-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


# -- the trainer's side --------------------------------------------------------------------------
class TrainingValidation:
    """What the trainer calls: build the set once, evaluate when due, keep the log and early stop."""

    def __init__(self, host, options, start_step: int, progress=None):
        self.options = options
        data = options.data
        if options.validation_dir:
            self.set = ValidationSet(host, data, folder=options.validation_dir, progress=progress)
        else:
            held = held_out_sources(data, float(options.validation_split))
            self.set = ValidationSet(host, data, keep=lambda source: source in held, progress=progress)
        self.log = ValidationLog(Path(options.log_dir), start_step, options.early_stop)

    def due(self, step: int, saved_checkpoint: bool, last_step: bool) -> bool:
        every = int(self.options.validation_every)
        if every:
            return step % every == 0 or last_step
        return saved_checkpoint or last_step

    def evaluate(self, hypernetwork, step: int, checkpoint: str = "") -> tuple[float, bool]:
        """(val_loss, is it a new best) for the weights at `step`, recorded in validation.csv.

        The trainer has `hypernetwork` attached already; it is evaluated in eval mode (no dropout)
        and the global RNG is left as it was, so training continues exactly as without validation."""
        was_training = hypernetwork.training
        hypernetwork.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                value = self.set.loss(self.options.precision)
        finally:
            hypernetwork.train(was_training)
        return value, self.log.add(step, value, checkpoint)

    def best_checkpoint(self) -> Optional[Path]:
        best = self.log.best
        return Path(best.checkpoint) if best is not None and best.checkpoint else None
