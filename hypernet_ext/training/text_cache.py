"""Text conditioning cached by exact prompt text.

Hypernetworks only change what enters the UNet's attention layers, never the text encoder, so a
prompt's conditioning never changes during training. Prompts that are fixed for the whole run
(one template line, no tag shuffle or dropout) are pinned; the others go through a bounded LRU.
Conditioning with NaN/inf values is rejected when it is encoded (`NonFiniteConditioningError`):
it would otherwise surface steps later as a NaN loss that looks like divergence.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable, Sequence

import torch

from ..errors import HypernetError
from . import conditioning

Encoder = Callable[[list[str]], torch.Tensor]


def stack_conditioning(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack (T_i, D) rows into (B, T, D); shorter rows repeat their last token vector (webui rule)."""
    longest = max(r.shape[0] for r in rows)
    padded = [r if r.shape[0] == longest
              else torch.cat([r, r[-1:].expand(longest - r.shape[0], -1)], dim=0) for r in rows]
    return torch.stack(padded)


class NonFiniteConditioningError(HypernetError):
    """The text encoder returned NaN/inf for a prompt: bad input, not a diverged hypernetwork."""

    def __init__(self, text: str, hint: str = "", *, message: str = ""):
        self.text = text
        hint = hint or "Change the caption or template line that produces it, or check the model."
        super().__init__(message or (
            f"The text encoder returned NaN/inf values for the prompt {text!r}. The hypernetwork is not "
            f"at fault: the loaded model cannot encode this text (generating an image with this prompt "
            f"fails the same way). {hint}"))


def check_conditioning(texts: Sequence[str], cond: torch.Tensor, hint: str = "") -> None:
    """Raise `NonFiniteConditioningError` for the first of `texts` whose row of `cond` is not finite."""
    finite = conditioning.finite_rows(cond)
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0, 0])
    raise NonFiniteConditioningError(texts[bad] if bad < len(texts) else "?", hint)


class TextConditionCache:
    """Conditioning per exact text: pinned entries plus an LRU of at most `capacity` others.

    `misses` counts texts run through the encoder; `hits` counts looked-up texts that were not
    (found in the cache, or a repeat of a text earlier in the same batch)."""

    def __init__(self, encode: Encoder, capacity: int = 256, chunk_size: int = 16):
        self._encode = encode
        self.capacity = max(0, int(capacity))
        self.chunk_size = max(1, int(chunk_size))
        self._pinned: dict[str, torch.Tensor] = {}
        self._lru: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _encode_texts(self, texts: list[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for start in range(0, len(texts), self.chunk_size):
                chunk = texts[start:start + self.chunk_size]
                cond = conditioning.detached(self._encode(list(chunk)))
                check_conditioning(chunk, cond)
                out.update({t: conditioning.row(cond, i) for i, t in enumerate(chunk)})
        self.misses += len(texts)
        return out

    def pin(self, texts: Iterable[str]) -> None:
        """Encode (once per distinct text) and keep these texts for the whole run."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._pinned))
        from_lru = [t for t in missing if t in self._lru]
        for t in from_lru:
            self._pinned[t] = self._lru.pop(t)
        todo = [t for t in missing if t not in self._pinned]
        if todo:
            self._pinned.update(self._encode_texts(todo))

    def get_batch(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, T, D) conditioning for `texts`, encoding only the texts not cached yet (in one call)."""
        found: dict[str, torch.Tensor] = {}
        for t in texts:
            row = self._lookup(t)
            if row is not None:
                found[t] = row
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        self.hits += len(texts) - len(missing)
        if missing:
            fresh = self._encode_texts(missing)
            found.update(fresh)
            self._remember(fresh)
        return conditioning.stack_rows([found[t] for t in texts], stack_conditioning)

    def _lookup(self, text: str):
        row = self._pinned.get(text)
        if row is None and text in self._lru:
            self._lru.move_to_end(text)
            row = self._lru[text]
        return row

    def _remember(self, fresh: dict[str, torch.Tensor]) -> None:
        if self.capacity == 0:
            return
        for text, row in fresh.items():
            self._lru[text] = row
            self._lru.move_to_end(text)
        while len(self._lru) > self.capacity:
            self._lru.popitem(last=False)

    def info(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "pinned": len(self._pinned),
                "cached": len(self._lru), "capacity": self.capacity}
