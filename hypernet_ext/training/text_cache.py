"""Text conditioning cached by exact prompt text.

Hypernetworks only change what enters the UNet's attention layers, never the text encoder, so a
prompt's conditioning never changes during training. Prompts that are fixed for the whole run
(one template line, no tag shuffle or dropout) are pinned; the others go through a bounded LRU.

A cached row must not depend on the other captions it happened to be encoded with: the webui's
"Original" emphasis rescales by a mean over the whole encoded batch, and pads a batch to its
longest caption. So each text is encoded as if alone (the webui's own cached training path encodes
one caption per call): through the host's `encode_text_each` when it has one, else one text per
`encode_text` call. Entries are keyed by the host's `text_conditioning_key()` (clip skip, emphasis
mode) as well as the text, so changing those settings never returns stale conditioning.
Conditioning with NaN/inf values is rejected when it is encoded (`NonFiniteConditioningError`):
it would otherwise surface steps later as a NaN loss that looks like divergence.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Hashable, Iterable, Optional, Sequence

import torch

from ..errors import HypernetError
from . import conditioning

Encoder = Callable[[list[str]], torch.Tensor]
EachEncoder = Callable[[list[str]], Sequence[torch.Tensor]]


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
    """Conditioning per (settings key, exact text): pinned entries plus an LRU of at most `capacity` others.

    `encode` maps a list of texts to (B, T, D); `chunk_size` texts go through it per call.
    `encode_each`, when given, maps a list of texts to one (T_i, D) tensor per text and is used
    instead. `key` returns what besides the text decides the conditioning (default: nothing).
    `misses` counts texts run through the encoder; `hits` counts looked-up texts that were not
    (found in the cache, or a repeat of a text earlier in the same batch)."""

    def __init__(self, encode: Encoder, capacity: int = 256, chunk_size: int = 16, *,
                 encode_each: Optional[EachEncoder] = None, key: Optional[Callable[[], Hashable]] = None):
        self._encode = encode
        self._encode_each = encode_each
        self._key = key or (lambda: None)
        self.capacity = max(0, int(capacity))
        self.chunk_size = max(1, int(chunk_size))
        self._pinned: dict[tuple, torch.Tensor] = {}
        self._lru: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_host(cls, host, capacity: int = 256) -> "TextConditionCache":
        """A cache over a training host, each text encoded as if alone (see the module docstring)."""
        each = getattr(host, "encode_text_each", None)
        key = getattr(host, "text_conditioning_key", None)
        return cls(host.encode_text, capacity=capacity, chunk_size=1 if each is None else 16,
                   encode_each=each, key=key)

    def _encode_rows(self, texts: list[str]) -> list[torch.Tensor]:
        if self._encode_each is not None:
            rows = [conditioning.detached(row) for row in self._encode_each(list(texts))]
            for text, row in zip(texts, rows):
                check_conditioning([text], conditioning.batch_of_one(row))
            return rows
        cond = conditioning.detached(self._encode(list(texts)))
        check_conditioning(texts, cond)
        return [conditioning.row(cond, i) for i in range(len(texts))]

    def _encode_texts(self, texts: list[str], key: Hashable) -> dict[tuple, torch.Tensor]:
        out: dict[tuple, torch.Tensor] = {}
        with torch.no_grad():
            for start in range(0, len(texts), self.chunk_size):
                chunk = texts[start:start + self.chunk_size]
                out.update({(key, t): row for t, row in zip(chunk, self._encode_rows(chunk))})
        self.misses += len(texts)
        return out

    def pin(self, texts: Iterable[str]) -> None:
        """Encode (once per distinct text) and keep these texts for the whole run."""
        key = self._key()
        missing = list(dict.fromkeys(t for t in texts if (key, t) not in self._pinned))
        from_lru = [t for t in missing if (key, t) in self._lru]
        for t in from_lru:
            self._pinned[(key, t)] = self._lru.pop((key, t))
        todo = [t for t in missing if (key, t) not in self._pinned]
        if todo:
            self._pinned.update(self._encode_texts(todo, key))

    def get_batch(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, T, D) conditioning for `texts`, encoding only the texts not cached yet (in one call)."""
        key = self._key()
        found: dict[str, torch.Tensor] = {}
        for t in texts:
            row = self._lookup((key, t))
            if row is not None:
                found[t] = row
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        self.hits += len(texts) - len(missing)
        if missing:
            fresh = self._encode_texts(missing, key)
            found.update({text: row for (_, text), row in fresh.items()})
            self._remember(fresh)
        return conditioning.stack_rows([found[t] for t in texts], stack_conditioning)

    def _lookup(self, entry: tuple):
        row = self._pinned.get(entry)
        if row is None and entry in self._lru:
            self._lru.move_to_end(entry)
            row = self._lru[entry]
        return row

    def _remember(self, fresh: dict[tuple, torch.Tensor]) -> None:
        if self.capacity == 0:
            return
        for entry, row in fresh.items():
            self._lru[entry] = row
            self._lru.move_to_end(entry)
        while len(self._lru) > self.capacity:
            self._lru.popitem(last=False)

    def info(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "pinned": len(self._pinned),
                "cached": len(self._lru), "capacity": self.capacity}
