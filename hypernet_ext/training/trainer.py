"""The training loop: a frozen host UNet, one hypernetwork, checkpoints, previews, logs and guards.

`Trainer(host, options, progress).run()` trains the hypernetwork in `options.hypernetwork` up to
`options.steps` and returns a `TrainingResult`. The step `s -> s+1` uses the learning rate of step
`s`, data batches `s*K .. s*K+K-1` (K = grad_accum), noise keyed by (seed, sample index) and
dropout keyed by (seed, micro step); with the optimizer state of a `.optim` sidecar a resumed run
is bitwise identical to an uninterrupted one (CPU, fp32).

Stops (`StopReason`): finished (reached steps), schedule-finished (the learning-rate list ran out),
interrupted (Ctrl-C or `progress.cancel()`: a checkpoint is saved first), diverged (non-finite
loss or weights, or the loss guard: nothing is saved; the last good checkpoint is reported).
Steps in messages count completed optimizer steps, as `loss.csv` does (its first row is step 1).
A prompt the text encoder turns into NaN/inf is bad input, not divergence: the weights trained so
far are saved and `NonFiniteConditioningError` is raised naming the prompt.
The source file is only written when `save_final_to_source` is on and training ended normally.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from ..errors import HypernetError, InvalidOptionError
from ..hypernetwork import Hypernetwork
from ..names import run_name
from ..progress import Cancelled, Progress
from ..storage import load_hypernetwork
from ..widths import host_family, width_warning
from ..attach import attach_hypernetworks
from .checkpoints import checkpoint_path, load_resume_state, same_file, save_checkpoint
from .grad_checkpoint import GradientCheckpointing
from .guard import LossGuard, all_finite, divergence_advice
from .low_vram import EncoderOffload
from .host import PreviewParams
from .loss import autocast_context, diffusion_loss, seed_dropout
from .optim import (build_optimizer, check_optimizer_state, clip_and_step, effective_learning_rate,
                    load_optimizer_state_dict, set_learning_rate)
from .options import TrainingOptions
from .outputs import LossLog, TensorBoardLog, save_preview
from .run_folder import CHECKPOINT_FOLDER, IMAGES_FOLDER, write_settings
from .stop_reason import StopReason
from .run_setup import freeze_host, training_metadata, training_settings
from .text_cache import NonFiniteConditioningError

FLUSH_EVERY = 100
# How the result message says why a run ended; the reason that follows says the rest
# ("finished at step 3: the learning-rate schedule ends at step 3"), not the enum's value.
STOP_WORDS = {StopReason.SCHEDULE_FINISHED: "finished", StopReason.EARLY_STOPPED: "stopped early"}


@dataclass
class TrainingResult:
    """How a run ended. `final_path` is the file holding the result (None if nothing usable was saved)."""

    final_path: Optional[Path]
    step: int
    stopped: StopReason
    checkpoints: list[Path] = field(default_factory=list)
    message: str = ""
    previews: list[Path] = field(default_factory=list)
    log_dir: Optional[Path] = None


class Trainer:
    """One training run; construct, then call `run()` once."""

    def __init__(self, host, options: TrainingOptions, progress: Optional[Progress] = None):
        self.host = host
        self.options = options
        self.progress = progress or Progress()
        self.log_dir = Path(options.log_dir)
        self.checkpoint_dir = self.log_dir / CHECKPOINT_FOLDER
        self.images_dir = self.log_dir / IMAGES_FOLDER
        self.checkpoints: list[tuple[int, Path]] = []
        self.previews: list[Path] = []
        self.notes: list[str] = []
        self.last_texts: list[str] = []
        self.validation = None  # training/validation.py's TrainingValidation when a validation set is given
        # Set by run() once the file, dataset and optimizer are ready; declared here so every state is known.
        self.hn: Optional[Hypernetwork] = None
        self.name = ""  # the run's name (names.run_name): in messages, checkpoint and preview file names
        self.start_step = 0
        self.suffix = ".pt"
        self.data = None
        self.lr_schedule = self.clip_schedule = None
        self.loss_log: Optional[LossLog] = None
        self.tensorboard: Optional[TensorBoardLog] = None
        self.guard: Optional[LossGuard] = None
        self.optimizer_name, self.optimizer, self.scaler = "", None, None

    # -- public --------------------------------------------------------------------------------
    def run(self) -> TrainingResult:
        opts = self.options.validate()
        self.hn = load_hypernetwork(opts.hypernetwork)
        self.name = run_name(opts.hypernetwork, opts.data.name)  # the file's name, not the one stored in it
        self.start_step = int(self.hn.step)
        self.suffix = ".safetensors" if str(opts.hypernetwork).lower().endswith(".safetensors") else ".pt"
        self._check_widths()
        if self.start_step >= opts.steps:
            return self._result(None, StopReason.FINISHED, f"{self.name} is already at step {self.start_step}, "
                                f"which is not below the requested {opts.steps} steps; set steps={self.start_step + 1} or "
                                f"more to train further.")  # the CLI shows `pass --steps N`
        resume = load_resume_state(opts.hypernetwork, self.start_step) if opts.resume else None
        if resume is not None:  # before anything is written: a forged state must not even start a run
            check_optimizer_state([list(self.hn.parameters())], resume.optimizer_state, f"{opts.hypernetwork}.optim")
        self.lr_schedule = opts.lr_schedule(self.start_step)
        self.clip_schedule = opts.clip_schedule()
        from .validation import TrainingValidation, build_training_data, validation_enabled
        try:
            self.data = build_training_data(self.host, opts, self.progress)
            self.validation = TrainingValidation(self.host, opts, self.start_step, self.progress) \
                if validation_enabled(opts) else None
        except Cancelled:
            return self._result(None, StopReason.INTERRUPTED,
                                "Cancelled while preparing the dataset; nothing was trained.")
        # What will be trained on, before the first step (on the CLI: above the bar, via tqdm.write)
        self.progress.write(f"Dataset {opts.data.data_dir}: {self.data.report.summary()}")
        self._prepare_outputs()
        restore = freeze_host(self.host)
        try:
            self._build_optimizer(resume)
            return self._train()
        finally:
            restore()

    # -- setup ---------------------------------------------------------------------------------
    def _description(self) -> str:
        source = Path(self.options.hypernetwork).name
        same = Path(source).stem == self.name
        return f"Training {self.name}" + ("" if same else f" (from {source})")

    def _check_widths(self) -> None:
        widths = set(getattr(self.host, "attention_widths", ()) or ())
        if widths and not widths.intersection(self.hn.sizes):
            raise InvalidOptionError(
                f"Hypernetwork {self.name} has widths {list(self.hn.sizes)}, but this model's attention "
                f"layers use {sorted(widths)}; create a hypernetwork with matching sizes for this model.")
        mismatch = width_warning(self.hn, getattr(self.host, "attention_widths", ()) or ())
        if mismatch:  # trains only the matching widths; say so in the result message
            self.notes.append(mismatch)

    def _prepare_outputs(self) -> None:
        opts = self.options
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
        write_settings(self.log_dir, training_settings(self.host, opts, self.hn, self.data, self.start_step), stamp)
        self.hn.metadata = {**(self.hn.metadata or {}), "training": training_metadata(self.host, opts, self.data)}
        if host_family(self.host):
            self.hn.metadata["base_family"] = host_family(self.host)
        self.hn.sd_checkpoint = self.host.model_hash or self.hn.sd_checkpoint
        self.hn.sd_checkpoint_name = self.host.model_name or self.hn.sd_checkpoint_name
        self.loss_log = LossLog(self.log_dir, opts.csv_every, self.start_step, title=f"{self.name} loss")
        self.tensorboard = TensorBoardLog(self.log_dir) if opts.tensorboard else None
        self.guard = LossGuard(opts.loss_guard_threshold, opts.loss_guard_steps)

    def _build_optimizer(self, resume) -> None:
        opts = self.options
        self.hn.to(self.host.device)
        self.hn.train()
        for p in self.hn.parameters():
            p.requires_grad_(True)
        name = opts.optimizer
        if resume is not None and resume.optimizer_name.lower() != name.lower():
            self.notes.append(f"Resumed with optimizer {resume.optimizer_name} from the checkpoint "
                              f"(the options asked for {name}).")
            name = resume.optimizer_name
        first_lr = self.lr_schedule.value_at(self.start_step) or 0.0
        self.optimizer_name, self.optimizer = build_optimizer(name, self.hn.parameters(), first_lr, opts.optimizer_args)
        device_type = torch.device(self.host.device).type
        self.scaler = torch.amp.GradScaler(device_type, enabled=opts.precision == "fp16")
        if resume is not None:
            load_optimizer_state_dict(self.optimizer, resume.optimizer_state, f"{opts.hypernetwork}.optim")
            if resume.grad_scaler and self.scaler.is_enabled():
                self.scaler.load_state_dict(resume.grad_scaler)
            if resume.torch_rng is not None:
                torch.set_rng_state(resume.torch_rng)

    # -- loop ----------------------------------------------------------------------------------
    def _train(self) -> TrainingResult:
        opts = self.options
        self.progress.start(opts.steps, self._description(), step=self.start_step)
        attachment = attach_hypernetworks(self.host.unet, [(self.hn, 1.0)])
        self.encoders = EncoderOffload(self.host, opts.offload_encoders, text_cached=self.data.prompts.is_static)
        bad_text = None
        if self.validation is not None:  # the curve's first point: the weights training starts from
            self.validation.evaluate(self.hn, self.start_step, str(self.options.hypernetwork))
        try:
            with GradientCheckpointing(self.host.unet, opts.gradient_checkpointing), self.encoders:
                if self.encoders.note:
                    self.notes.append(self.encoders.note)
                stopped, reason = self._loop()
        except (KeyboardInterrupt, Cancelled):
            stopped, reason = StopReason.INTERRUPTED, "interrupted by the user"
        except NonFiniteConditioningError as exc:
            bad_text = exc
        finally:
            attachment.detach()
            self.hn.eval()
            self.optimizer.zero_grad(set_to_none=True)
        if bad_text is not None:
            raise self._bad_text_stop(bad_text) from None
        return self._finish(stopped, reason)

    def _loop(self) -> tuple[str, str]:
        opts = self.options
        for step in range(self.start_step, opts.steps):
            lr = self.lr_schedule.value_at(step)
            if lr is None:
                return StopReason.SCHEDULE_FINISHED, f"the learning-rate schedule ends at step {step}"
            set_learning_rate(self.optimizer, lr)
            loss = self._optimizer_step(step)
            reason = self.guard.check(step + 1, loss)
            if reason is None and not all_finite(self.hn.parameters()):
                reason = f"the weights became non-finite at step {step + 1}"
            if reason is not None:
                return StopReason.DIVERGED, reason
            self.hn.step = step + 1
            self._after_step(step + 1, loss)
            if self.progress.cancelled:
                return StopReason.INTERRUPTED, "cancelled"
            if self.validation is not None and self.validation.log.should_stop():
                best = self.validation.log.best
                return StopReason.EARLY_STOPPED, (f"the validation loss has not improved for {opts.early_stop} "
                                                  f"evaluations; the best is {best.val_loss:.6g} at step {best.step}")
        return StopReason.FINISHED, f"reached step {opts.steps}"

    def _optimizer_step(self, step: int) -> float:
        """Accumulate K micro-batches, then clip (unscaled) and step. Returns the mean loss."""
        opts, k = self.options, self.options.grad_accum
        stride = self.data.batch_size
        total = 0.0
        for j in range(k):
            if j and self.progress.cancelled:  # a long accumulation must still answer Interrupt
                raise Cancelled()
            micro = step * k + j
            batch = self.data.batch(micro)
            self.last_texts = batch.texts
            seed_dropout(opts.seed, micro)
            with autocast_context(opts.precision, self.host.device):
                loss = diffusion_loss(self.host, batch.latents, batch.cond, opts.seed, micro * stride,
                                      batch.loss_weight)
            value = float(loss.detach())
            total += value
            if not torch.isfinite(loss):
                self.optimizer.zero_grad(set_to_none=True)
                return value
            self.scaler.scale(loss / k).backward()
        clip_value = self.clip_schedule.value_at(step) if self.clip_schedule is not None else 0.0
        clip_and_step(self.optimizer, self.scaler, self.hn.parameters(), opts.grad_clip, clip_value)
        self.optimizer.zero_grad(set_to_none=True)
        return total / k

    def _after_step(self, step: int, loss: float) -> None:
        opts = self.options
        lr = effective_learning_rate(self.optimizer)
        per_epoch = max(1, self.data.steps_per_epoch() // opts.grad_accum)
        self.loss_log.add(step, (step - 1) // per_epoch, (step - 1) % per_epoch + 1, loss, lr)
        if self.tensorboard is not None:
            self.tensorboard.scalars(step, **{"Loss/train": loss, "Learn rate/train": lr})
        fields = {"loss": loss, "lr": lr}
        if opts.save_every and step % opts.save_every == 0:
            fields["checkpoint"] = str(self._save(step))
        if opts.preview_every and step % opts.preview_every == 0:
            preview = self._preview(step)
            if preview is not None:
                fields["preview"] = str(preview)
        if self.validation is not None:
            self._validate(step, fields)
        if "checkpoint" in fields or "preview" in fields or step % FLUSH_EVERY == 0:
            self.loss_log.flush()
        self.progress.update(step=step, **fields)

    def _validate(self, step: int, fields: dict) -> None:
        """Validation loss when due; with early stop every new best is kept as a checkpoint."""
        if not self.validation.due(step, "checkpoint" in fields, step == self.options.steps):
            return
        value, best = self.validation.evaluate(self.hn, step, fields.get("checkpoint", ""))
        fields["val_loss"] = value
        if self.tensorboard is not None:
            self.tensorboard.scalars(step, **{"Loss/validation": value})
        if best and self.options.early_stop and "checkpoint" not in fields:
            fields["checkpoint"] = str(self._save(step))
            self.validation.log.set_checkpoint(step, fields["checkpoint"])

    # -- outputs -------------------------------------------------------------------------------
    def _save(self, step: int) -> Path:
        path = checkpoint_path(self.checkpoint_dir, self.name, step, self.suffix)
        if same_file(path, self.options.hypernetwork):
            return path  # resuming from this very checkpoint: it already holds these weights
        self._write(path)
        self.checkpoints = [(s, p) for s, p in self.checkpoints if s != step] + [(step, path)]
        return path

    def _write(self, path: Path) -> Path:
        """The current weights to `path`, with the `.optim` sidecar when optimizer state is kept."""
        try:
            return self._save_checkpoint(path)
        except OSError as exc:  # full disk, permissions: say which file, and what is safe on disk
            last = self.checkpoints[-1] if self.checkpoints else None
            kept = (f"The last good checkpoint is {last[1]} (step {last[0]})." if last else
                    f"No checkpoint was written; {self.options.hypernetwork} is unchanged.")
            raise HypernetError(f"Cannot write {exc.filename or path}: {exc.strerror or exc}. {kept} Free disk "
                                f"space or fix the folder's permissions, then resume.") from None

    def _save_checkpoint(self, path: Path) -> Path:
        self.hn.name = path.stem  # each file stores its own file name, as the webui's trainer writes them
        return save_checkpoint(self.hn, path, optimizer_name=self.optimizer_name, optimizer=self.optimizer,
                               scaler=self.scaler, schedule=self.lr_schedule.describe(), seed=self.options.seed,
                               with_optimizer=self.options.save_optimizer_state)

    def _close_logs(self) -> None:
        self.loss_log.flush()
        if self.tensorboard is not None:
            self.tensorboard.close()

    def _preview(self, step: int) -> Optional[Path]:
        params = self.options.preview or PreviewParams(
            prompt=self.data.preview_prompt(), seed=self.options.seed,  # the same at every step, see preview_prompt
            width=self.options.data.width, height=self.options.data.height)
        self.hn.eval()
        try:
            with torch.no_grad(), torch.random.fork_rng(), self.encoders.restored():
                image = self.host.generate_preview(params)
        finally:
            self.hn.train()
        if image is None:
            if "no-preview" not in self.notes:
                self.notes.append("no-preview")
            return None
        path = save_preview(image, self.images_dir, self.name, step, params.prompt, params.negative_prompt)
        self.previews.append(path)
        return path

    def _finish(self, stopped: StopReason, reason: str) -> TrainingResult:
        step = int(self.hn.step)
        self._close_logs()
        if stopped == StopReason.DIVERGED:
            return self._diverged(reason)
        saved = dict(self.checkpoints)
        early = stopped == StopReason.EARLY_STOPPED
        best = self.validation.best_checkpoint() if self.validation is not None and early else None
        final = best or saved.get(step) or (self._save(step) if step > self.start_step or saved else None)
        message = f"Training {STOP_WORDS.get(stopped, str(stopped))} at step {step}: {reason}."
        if best is not None:
            message += " Kept the best checkpoint."
        if final is not None:
            message += f" Result: {final}."
        # after an early stop the weights in memory are not the best ones: the source file is left alone
        if stopped.succeeded and not early and self.options.save_final_to_source and final is not None:
            self._write(Path(self.options.hypernetwork))
            message += f" Also written over {self.options.hypernetwork}."
        return self._result(final, stopped, message)

    def _bad_text_stop(self, exc: NonFiniteConditioningError) -> NonFiniteConditioningError:
        """Save the (finite) weights trained so far; the error to raise, saying where they are."""
        step = int(self.hn.step)
        self._close_logs()
        saved = dict(self.checkpoints)
        path = saved.get(step) or (self._save(step) if step > self.start_step else None)
        kept = (f"The {step - self.start_step} steps trained before it were saved to {path}; resume from it "
                f"once the prompt is fixed." if path is not None else
                f"Nothing was trained yet; {self.options.hypernetwork} is unchanged.")
        return NonFiniteConditioningError(exc.text, message=f"Training stopped at step {step + 1}: {exc} {kept}")

    def _diverged(self, reason: str) -> TrainingResult:
        # The loss of step s (loss.csv numbering) comes from the weights saved as step s - 1.
        bad_from = self.guard.streak_start - 1 if self.guard.in_streak else int(self.hn.step)
        good = [(s, p) for s, p in self.checkpoints if s < bad_from]
        if good:
            keep = f"The last good checkpoint is {good[-1][1]} (step {good[-1][0]})."
            final = good[-1][1]
        else:
            keep = f"No checkpoint was saved before that; {self.options.hypernetwork} is unchanged."
            final = None
        message = (f"Training stopped: the hypernetwork diverged ({reason}). Nothing was saved from the "
                   f"diverged weights. {keep} {divergence_advice(self.options.precision)}")
        self.progress.finish(message, error="diverged")
        return self._result(final, StopReason.DIVERGED, message, finish=False)

    def _result(self, final: Optional[Path], stopped: StopReason, message: str,
                finish: bool = True) -> TrainingResult:
        notes = [n for n in self.notes if n != "no-preview"]
        if "no-preview" in self.notes:
            notes.append("This model host cannot render previews, so none were saved.")
        message = " ".join([message, *notes]).strip()
        if finish:
            self.progress.finish(message)
        return TrainingResult(final, int(self.hn.step) if self.hn is not None else 0, stopped,
                              [p for _, p in self.checkpoints], message, list(self.previews), self.log_dir)


def train_hypernetwork(host, options: TrainingOptions, progress: Optional[Progress] = None) -> TrainingResult:
    """Train as `options` says; see `Trainer`."""
    return Trainer(host, options, progress).run()
