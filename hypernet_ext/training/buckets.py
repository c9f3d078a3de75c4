"""Which images go into the batch of a given step: a pure function of (seed, step).

Images are grouped by training size (one group in fixed-size mode, one per aspect-ratio bucket
otherwise); a batch only ever holds images of one group, so they stack. Each epoch every image is
used once: each group is shuffled and cut into batches, a group's last short batch is filled with
other images of the same group (repeats only when the group is smaller than a batch), and the
batches of all groups are shuffled together. Epoch e's plan depends only on (seed, e), so step s
maps to batch s % steps_per_epoch of epoch s // steps_per_epoch, with no iteration history.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

from .keyed_rng import BATCH_ORDER, ORDER, PADDING, keyed_rng


class BatchSchedule:
    """Epoch-wise batch plans over `groups` (lists of item indices that may share a batch)."""

    def __init__(self, groups: Sequence[Sequence[int]], batch_size: int, seed: int, cache_epochs: int = 2):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.groups = tuple(tuple(g) for g in groups if len(g))
        if not self.groups:
            raise ValueError("BatchSchedule needs at least one non-empty group")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._cache: OrderedDict[int, list[tuple[int, ...]]] = OrderedDict()
        self._cache_epochs = max(1, cache_epochs)

    def batches_per_epoch(self) -> int:
        return sum(math.ceil(len(g) / self.batch_size) for g in self.groups)

    def batch_indices(self, step: int) -> tuple[int, ...]:
        """Item indices of the batch trained at `step` (0-based)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, position = divmod(int(step), self.batches_per_epoch())
        return self.epoch_plan(epoch)[position]

    def epoch_plan(self, epoch: int) -> list[tuple[int, ...]]:
        plan = self._cache.get(epoch)
        if plan is None:
            plan = self._build_plan(epoch)
            self._cache[epoch] = plan
            while len(self._cache) > self._cache_epochs:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(epoch)
        return plan

    def _build_plan(self, epoch: int) -> list[tuple[int, ...]]:
        batches: list[tuple[int, ...]] = []
        for g, group in enumerate(self.groups):
            batches.extend(self._group_batches(epoch, g, group))
        order = keyed_rng(self.seed, BATCH_ORDER, epoch).permutation(len(batches))
        return [batches[i] for i in order]

    def _group_batches(self, epoch: int, g: int, group: tuple[int, ...]) -> list[tuple[int, ...]]:
        bs = self.batch_size
        perm = [group[i] for i in keyed_rng(self.seed, ORDER, epoch, g).permutation(len(group))]
        chunks = [perm[i:i + bs] for i in range(0, len(perm), bs)]
        short = chunks[-1]
        if len(short) < bs:
            short.extend(self._padding(epoch, g, perm, len(short), bs - len(short)))
        return [tuple(c) for c in chunks]

    def _padding(self, epoch: int, g: int, perm: list[int], short_len: int, need: int) -> list[int]:
        """`need` fillers for a group's last batch: other images of the group, repeating only if it is small."""
        others = perm[:len(perm) - short_len] or perm
        rng = keyed_rng(self.seed, PADDING, epoch, g)
        picked: list[int] = []
        while len(picked) < need:
            picked.extend(others[i] for i in rng.permutation(len(others)))
        return picked[:need]
