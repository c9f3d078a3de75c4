"""Data-parallel training on several processes: `torchrun --nproc_per_node N -m hypernet_ext train ...`.

Every rank loads the model, caches the whole dataset and builds the same global batch for each
micro step (the data order is a function of (seed, step), see `data.py`); rank r then trains on
its contiguous share of that batch's rows, with the noise and timesteps of those rows' global
sample indices (keyed by (seed, sample index), see `loss.py`). After the backward passes the
hypernetwork's gradients are all-reduced (averaged) in one flat buffer, so every rank takes the
same optimizer step as a single process on the whole global batch (within float tolerance: the
sum is split differently). Dropout masks, keyed by (seed, micro step) on each rank's smaller
batch, differ from a single process's. Checkpoints, previews, logs and progress are written by
rank 0 only. NCCL on CUDA (each rank on `cuda:LOCAL_RANK`), gloo on the CPU.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
import torch.distributed as dist

from ..errors import InvalidOptionError
from .loss import autocast_context, diffusion_loss, seed_dropout
from .optim import clip_and_step
from .trainer import Trainer, TrainingResult


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch: int) -> slice:
        """This rank's contiguous share of a global batch of `batch` rows."""
        if batch % self.world_size:
            raise InvalidOptionError(
                f"A batch of {batch} images cannot be split evenly over {self.world_size} processes; use a "
                f"--batch-size that is a multiple of {self.world_size} (the batch size is the global batch).")
        share = batch // self.world_size
        return slice(self.rank * share, (self.rank + 1) * share)


def launched_ranks() -> Optional[Ranks]:
    """The ranks torchrun describes in the environment, or None for a plain single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    return Ranks(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))


def init_process_group(ranks: Ranks, device: str) -> str:
    """Join the group (NCCL on CUDA, gloo otherwise); returns the device this rank trains on."""
    if str(device).startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidOptionError("--device cuda was given but this process sees no CUDA device.")
        device = f"cuda:{ranks.local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo",
                                rank=ranks.rank, world_size=ranks.world_size)
    return device


def average_gradients(parameters: Iterable[torch.nn.Parameter], world_size: int) -> None:
    """All-reduce the gradients as one flat buffer (one collective per step) and divide by the ranks."""
    params = [p for p in parameters if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def global_mean(value: torch.Tensor, world_size: int) -> float:
    """The mean of a per-rank scalar over all ranks (the global batch's loss)."""
    total = value.detach().float().reshape(1).clone()
    dist.all_reduce(total)
    return float(total) / world_size


class _NoLog:
    """What non-main ranks write: nothing."""

    def add(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass

    def scalars(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


class DistributedTrainer(Trainer):
    """`Trainer` whose steps are shared by the ranks of a process group; rank 0 writes every output."""

    def __init__(self, host, options, progress=None, ranks: Ranks = Ranks()):
        super().__init__(host, options, progress)
        self.ranks = ranks

    def _prepare_outputs(self) -> None:
        if self.ranks.is_main:
            return super()._prepare_outputs()
        from .guard import LossGuard
        opts = self.options
        self.loss_log, self.tensorboard = _NoLog(), None
        self.guard = LossGuard(opts.loss_guard_threshold, opts.loss_guard_steps)

    def _optimizer_step(self, step: int) -> float:
        """As `Trainer._optimizer_step`, on this rank's rows, with the gradients averaged over the ranks."""
        opts, k, world = self.options, self.options.grad_accum, self.ranks.world_size
        stride = self.data.batch_size
        total = 0.0
        for j in range(k):
            micro = step * k + j
            batch = self.data.batch(micro)
            rows = self.ranks.rows(batch.latents.shape[0])
            self.last_texts = batch.texts
            seed_dropout(opts.seed, micro)
            weight = batch.loss_weight[rows] if batch.loss_weight is not None else None
            with autocast_context(opts.precision, self.host.device):
                loss = diffusion_loss(self.host, batch.latents[rows], batch.cond[rows], opts.seed,
                                      micro * stride + rows.start, weight)
            value = global_mean(loss, world)  # every rank decides alike on a non-finite loss
            total += value
            if not math.isfinite(value):
                self.optimizer.zero_grad(set_to_none=True)
                return value
            self.scaler.scale(loss / k).backward()
        average_gradients(self.hn.parameters(), world)
        clip_value = self.clip_schedule.value_at(step) if self.clip_schedule is not None else 0.0
        clip_and_step(self.optimizer, self.scaler, self.hn.parameters(), opts.grad_clip, clip_value)
        self.optimizer.zero_grad(set_to_none=True)
        return total / k

    def _after_step(self, step: int, loss: float) -> None:
        if self.ranks.is_main:
            super()._after_step(step, loss)
        self._sync_cancel()

    def _sync_cancel(self) -> None:
        """A cancel (Ctrl-C on rank 0's terminal, a progress cancel) reaches every rank."""
        flag = torch.tensor([1.0 if self.progress.cancelled else 0.0],
                            device=self.host.device if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(flag)
        if float(flag) > 0 and not self.progress.cancelled:
            self.progress.cancel()

    def _finish(self, stopped: str, reason: str) -> TrainingResult:
        if self.ranks.is_main:
            return super()._finish(stopped, reason)
        return self._result(None, stopped, f"rank {self.ranks.rank}: training {stopped} ({reason}); "
                                           f"rank 0 wrote the outputs.")

    def _bad_text_stop(self, exc):
        if self.ranks.is_main:
            return super()._bad_text_stop(exc)
        return exc


def train_distributed(host, options, progress=None, ranks: Optional[Ranks] = None) -> TrainingResult:
    """Train as one rank of the current process group (single process when `ranks` is None)."""
    ranks = ranks or launched_ranks() or Ranks()
    if ranks.world_size == 1:
        return Trainer(host, options, progress).run()
    if not ranks.is_main and progress is not None:
        from ..progress import Progress
        progress = Progress()  # only rank 0 reports
    result = DistributedTrainer(host, options, progress, ranks).run()
    dist.barrier()  # rank 0 has finished writing before any rank reports success
    return result
