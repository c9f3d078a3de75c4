"""Prompts -> 77-token chunks -> conditioning, with the webui's (v1.10.1) rules; generic over the text model.

Interface (SD1, SD2 and each of SDXL's two text encoders use it the same way)::

    from hypernet_ext.standalone.prompt_chunks import PromptEncoder, SpecialTokens

    encoder = PromptEncoder(
        tokenize=lambda texts: [bpe.encode(t) for t in texts],   # list[str] -> list[list[int]], no start/end
        encode_chunks=run_transformer,   # LongTensor (N, 77) -> Tensor (N, 77, C), or a tuple (z, pooled (N, P))
        tokens=SpecialTokens(start=49406, end=49407, pad=49407, comma=267),  # SD2/OpenCLIP: pad=0
        emphasis="Original",             # EMPHASIS_MODES: "Original", "No norm", "Ignore", "None"
        comma_backtrack=20)              # the webui's "Prompt word wrap length limit"
    cond = encoder(["a (cat:1.2)", "long booru tags, ..."])    # (B, 77*K, C), K = chunks of the longest
    cond, pooled = encoder.encode(texts)                      # pooled: first chunk's pooled output or None
    rows = encoder.encode_each(texts)                         # [(77*K_i, C)]: each text as if encoded alone
    rows, pooled = encoder.encode_each_pooled(texts)          # the same, and each text's first-chunk pooled

`encode_chunks` is called once per chunk position with the ids of every text's chunk at that
position (a text with fewer chunks gets an empty chunk: start, end, padding), exactly as the webui
calls its text model; what it returns (CLIP skip, final layer norm, ...) is up to the caller.
After each call the emphasis weights are applied to the (N, 77, C) output: "Original" multiplies
each token row by its weight, then rescales so the mean over the whole call's output is unchanged;
"No norm" only multiplies; "Ignore" parses (BREAK works) but applies no weight; "None" does not parse
at all. The chunks of one call are then concatenated along the token axis.

Chunking: the prompt's runs (see `prompt_parser`) are tokenised run by run; tokens fill chunks of
75; when a chunk is full and the last comma is at most `comma_backtrack` tokens back, the tokens
after that comma move to the next chunk; `BREAK` closes the chunk at once. Each chunk is written as
start, its tokens, end padding to 76, end; `pad` replaces everything after the first end token.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import torch

from ..errors import InvalidOptionError
from .prompt_parser import is_break, parse_weighted_text

CHUNK_TOKENS = 75
CHUNK_LENGTH = CHUNK_TOKENS + 2
EMPHASIS_MODES = ("Original", "No norm", "Ignore", "None")
DEFAULT_COMMA_BACKTRACK = 20

Tokenize = Callable[[list[str]], list[list[int]]]
EncodeChunks = Callable[[torch.Tensor], Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]


@dataclass(frozen=True)
class SpecialTokens:
    """Ids the chunker writes: start and end of text, padding after the end, and the comma token."""

    start: int
    end: int
    pad: int
    comma: Optional[int] = None


@dataclass
class PromptChunk:
    """77 token ids (start ... end) and one emphasis weight per id."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def check_emphasis(mode: str) -> str:
    if mode not in EMPHASIS_MODES:
        raise InvalidOptionError(f"emphasis {mode!r} is not one of {', '.join(EMPHASIS_MODES)}; "
                                 "'Original' is the webui default")
    return mode


def check_comma_backtrack(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < CHUNK_TOKENS:
        raise InvalidOptionError(f"comma backtrack {value!r} must be a whole number from 0 to "
                                 f"{CHUNK_TOKENS - 1} (the webui's default is {DEFAULT_COMMA_BACKTRACK})")
    return value


def empty_chunk(tokens: SpecialTokens) -> PromptChunk:
    """What an empty prompt, and the padding of a shorter prompt in a batch, encodes as."""
    return PromptChunk([tokens.start] + [tokens.end] * (CHUNK_LENGTH - 1), [1.0] * CHUNK_LENGTH)


class _ChunkBuilder:
    """Fills 75-token chunks, moving the words after a recent comma to the next chunk when one is full."""

    def __init__(self, tokens: SpecialTokens, comma_backtrack: int):
        self.special, self.backtrack = tokens, comma_backtrack
        self.chunks: list[PromptChunk] = []
        self.current = PromptChunk()
        self.last_comma = -1

    def close(self) -> None:
        """Pad the current chunk with end tokens, wrap it in start/end, and start a new one."""
        body, weights = self.current.tokens, self.current.weights
        missing = CHUNK_TOKENS - len(body)
        body, weights = body + [self.special.end] * missing, weights + [1.0] * missing
        self.chunks.append(PromptChunk([self.special.start, *body, self.special.end], [1.0, *weights, 1.0]))
        self.current, self.last_comma = PromptChunk(), -1

    def add(self, token: int, weight: float) -> None:
        current = self.current
        if token == self.special.comma:
            self.last_comma = len(current.tokens)
        elif (self.backtrack and len(current.tokens) == CHUNK_TOKENS and self.last_comma != -1
              and len(current.tokens) - self.last_comma <= self.backtrack):
            cut = self.last_comma + 1
            moved = PromptChunk(current.tokens[cut:], current.weights[cut:])
            del current.tokens[cut:], current.weights[cut:]
            self.close()
            self.current = moved
        if len(self.current.tokens) == CHUNK_TOKENS:
            self.close()
        self.current.tokens.append(token)
        self.current.weights.append(weight)

    def finish(self) -> list[PromptChunk]:
        if self.current.tokens or not self.chunks:
            self.close()
        return self.chunks


def prompt_chunks(text: str, tokenize: Tokenize, tokens: SpecialTokens, *, emphasis: str = "Original",
                  comma_backtrack: int = DEFAULT_COMMA_BACKTRACK) -> list[PromptChunk]:
    """The 77-token chunks of one prompt (at least one)."""
    runs = [[text, 1.0]] if emphasis == "None" else parse_weighted_text(text)
    builder = _ChunkBuilder(tokens, comma_backtrack)
    for ids, run in zip(tokenize([run[0] for run in runs]), runs):
        if is_break(run):
            builder.close()
            continue
        for token in ids:
            builder.add(int(token), float(run[1]))
    return builder.finish()


def chunk_ids(chunks: Sequence[PromptChunk], tokens: SpecialTokens) -> torch.Tensor:
    """(N, 77) ids of the chunks, with `pad` after each row's first end token (SD2's OpenCLIP pads with 0)."""
    rows = []
    for chunk in chunks:
        row = list(chunk.tokens)
        if tokens.pad != tokens.end:
            first_end = row.index(tokens.end)
            row[first_end + 1:] = [tokens.pad] * (len(row) - first_end - 1)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


def apply_emphasis(z: torch.Tensor, weights: torch.Tensor, mode: str, per_row: bool = False) -> torch.Tensor:
    """Scale each token row of z (N, 77, C) by its weight (N, 77) as `mode` says.

    "Original" restores the mean of the values over the whole call (the webui's rule), or over each
    row when `per_row` (what encoding each prompt alone gives). Where every weight is 1 z is returned
    as it is: the webui computes z * (mean / mean), the same values, except that it turns a mean of
    exactly 0 into NaN."""
    if mode in ("None", "Ignore"):
        return z
    weights = weights.to(device=z.device, dtype=z.dtype)
    scaled = z * weights.unsqueeze(-1)
    if mode == "No norm":
        return scaled
    if per_row:
        factor = z.mean(dim=(1, 2), keepdim=True) / scaled.mean(dim=(1, 2), keepdim=True)
        plain = (weights == 1).all(dim=1).reshape(-1, 1, 1)
        return torch.where(plain, z, scaled * factor)
    if bool((weights == 1).all()):
        return z
    return scaled * (z.mean() / scaled.mean())


def _split_output(output) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    if isinstance(output, (tuple, list)):
        return output[0], output[1]
    return output, None


class PromptEncoder:
    """Webui-style prompt conditioning over any CLIP-like text model (see the module docstring)."""

    def __init__(self, tokenize: Tokenize, encode_chunks: EncodeChunks, tokens: SpecialTokens, *,
                 emphasis: str = "Original", comma_backtrack: int = DEFAULT_COMMA_BACKTRACK):
        self.tokenize, self.encode_chunks, self.tokens = tokenize, encode_chunks, tokens
        self.emphasis = check_emphasis(emphasis)
        self.comma_backtrack = check_comma_backtrack(comma_backtrack)

    def chunks(self, text: str) -> list[PromptChunk]:
        return prompt_chunks(text, self.tokenize, self.tokens, emphasis=self.emphasis,
                             comma_backtrack=self.comma_backtrack)

    def _chunk_lists(self, texts: Sequence[str]) -> list[list[PromptChunk]]:
        known: dict[str, list[PromptChunk]] = {}
        for text in texts:
            if text not in known:
                known[text] = self.chunks(text)
        return [known[text] for text in texts]

    def _encode_position(self, chunks: Sequence[PromptChunk], device: Optional[torch.device], per_row: bool):
        ids = chunk_ids(chunks, self.tokens)
        z, pooled = _split_output(self.encode_chunks(ids if device is None else ids.to(device)))
        weights = torch.tensor([c.weights for c in chunks], dtype=torch.float32, device=z.device)
        return apply_emphasis(z, weights, self.emphasis, per_row), pooled

    def encode(self, texts: Sequence[str], device: Optional[torch.device] = None):
        """(cond (B, 77*K, C), pooled of the first chunk or None): the webui's batch encoding."""
        per_text = self._chunk_lists(list(texts))
        count = max(len(chunks) for chunks in per_text)
        outputs, first_pooled = [], None
        for position in range(count):
            column = [chunks[position] if position < len(chunks) else empty_chunk(self.tokens)
                      for chunks in per_text]
            z, pooled = self._encode_position(column, device, per_row=False)
            outputs.append(z)
            first_pooled = pooled if position == 0 else first_pooled
        return torch.cat(outputs, dim=1), first_pooled

    def __call__(self, texts: Sequence[str], device: Optional[torch.device] = None) -> torch.Tensor:
        return self.encode(texts, device)[0]

    def encode_each(self, texts: Sequence[str], device: Optional[torch.device] = None) -> list[torch.Tensor]:
        """One (77*K_i, C) tensor per text, as if each were encoded alone (no batch padding, own mean).

        The chunks at one position of all texts still go through `encode_chunks` in one call."""
        return self.encode_each_pooled(texts, device)[0]

    def encode_each_pooled(self, texts: Sequence[str], device: Optional[torch.device] = None):
        """(`encode_each`'s list, (B, P) pooled output of each text's first chunk or None)."""
        per_text = self._chunk_lists(list(texts))
        parts: list[list[torch.Tensor]] = [[] for _ in per_text]
        first_pooled = None
        for position in range(max(len(chunks) for chunks in per_text)):
            owners = [i for i, chunks in enumerate(per_text) if position < len(chunks)]
            z, pooled = self._encode_position([per_text[i][position] for i in owners], device, per_row=True)
            first_pooled = pooled if position == 0 else first_pooled  # every text has a first chunk
            for row, owner in enumerate(owners):
                parts[owner].append(z[row])
        return [torch.cat(rows, dim=0) for rows in parts], first_pooled
