"""CLIP byte-level BPE tokenizer built from the vocabulary file shipped inside open-clip-torch.

The file `open_clip/bpe_simple_vocab_16e6.txt.gz` is located with `importlib.util.find_spec`;
open_clip itself is never imported (it needs torchvision). SD1 (CLIP ViT-L) pads with the end
token, SD2 (OpenCLIP ViT-H) pads with 0; both use 77 positions: start, 75 tokens, end, padding.
"""
from __future__ import annotations

import gzip
import html
import importlib.util
import os
import unicodedata
from functools import lru_cache
from typing import Optional, Sequence

import regex
import torch

from ..errors import HypernetError

VOCAB_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
CONTEXT_LENGTH = 77
_WORD_PATTERN = regex.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
    regex.IGNORECASE)


def default_vocab_path() -> str:
    """Path of the BPE merges file inside the installed open-clip-torch package."""
    spec = importlib.util.find_spec("open_clip")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = os.path.join(folder, VOCAB_FILE_NAME)
        if os.path.isfile(candidate):
            return candidate
    raise HypernetError(f"the CLIP vocabulary file {VOCAB_FILE_NAME} was not found; install it with "
                        "`pip install --no-deps open-clip-torch` (only its data file is used)")


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """Reversible map from the 256 byte values to printable unicode characters (GPT-2 scheme)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


_CJK_BLOCKS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _space_cjk(text: str) -> str:
    return "".join(f" {c} " if any(lo <= ord(c) <= hi for lo, hi in _CJK_BLOCKS) else c for c in text)


@lru_cache(maxsize=1)
def _ftfy_fix():
    """`ftfy.fix_text` when ftfy is installed (as in every webui install), else None."""
    try:
        import ftfy
    except ImportError:
        return None
    return ftfy.fix_text


def clean_text(text: str, style: str = "clip") -> str:
    """Normalise like the tokenizer each model family was trained with, then lowercase.

    With ftfy installed (the webui always has it; it is in requirements-standalone.txt), both styles
    start with `ftfy.fix_text`, as transformers' CLIPTokenizer and open_clip's tokenizer do.
    "clip" (SD1, transformers' CLIPTokenizer) without ftfy: NFC, CJK ideographs split apart, control
    chars dropped (the tokenizer's own fallback). "openclip" (SD2): HTML entities unescaped as well.
    """
    fix = _ftfy_fix()
    if style == "openclip":
        text = html.unescape(html.unescape(fix(text) if fix else text))
    elif fix:
        text = fix(text)
    else:
        text = unicodedata.normalize("NFC", text)
        text = "".join(c for c in text if c in "\t\n\r" or not unicodedata.category(c).startswith("C"))
        text = _space_cjk(text)
    return regex.sub(r"\s+", " ", text).strip().lower()


class ClipTokenizer:
    """Byte-level BPE with CLIP's vocabulary (49408 ids; start 49406, end 49407).

    `style` picks the text normalisation: "clip" for SD1, "openclip" for SD2 (see `clean_text`).
    """

    def __init__(self, vocab_path: Optional[str] = None, style: str = "clip"):
        self.style = style
        path = vocab_path or default_vocab_path()
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                lines = handle.read().split("\n")
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise HypernetError(f"cannot read the CLIP vocabulary {path}: {error}; reinstall "
                                "open-clip-torch") from error
        merges = [tuple(line.split()) for line in lines[1:MERGE_COUNT + 1]]
        base = list(byte_to_unicode().values())
        vocab = base + [token + "</w>" for token in base] + ["".join(pair) for pair in merges]
        vocab += [START_TOKEN, END_TOKEN]
        self.encoder = {token: index for index, token in enumerate(vocab)}
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.start_id = self.encoder[START_TOKEN]
        self.end_id = self.encoder[END_TOKEN]
        self._cache: dict[str, list[str]] = {START_TOKEN: [START_TOKEN], END_TOKEN: [END_TOKEN]}

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def _bpe(self, word: str) -> list[str]:
        if word in self._cache:
            return self._cache[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = {(parts[i], parts[i + 1]) for i in range(len(parts) - 1)}
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        if len(self._cache) < 100_000:
            self._cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` without start/end tokens."""
        table = byte_to_unicode()
        ids: list[int] = []
        for word in _WORD_PATTERN.findall(clean_text(text, self.style)):
            mapped = "".join(table[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(mapped))
        return ids

    def __call__(self, texts: Sequence[str], pad_id: Optional[int] = None,
                 length: int = CONTEXT_LENGTH) -> torch.Tensor:
        """(B, length) ids: start, up to length-2 tokens (longer text is truncated), end, padding.

        `pad_id` None pads with the end token (SD1 CLIP); SD2's OpenCLIP pads with 0.
        """
        pad = self.end_id if pad_id is None else int(pad_id)
        rows = []
        for text in texts:
            body = self.encode(text)[: length - 2]
            row = [self.start_id, *body, self.end_id]
            rows.append(row + [pad] * (length - len(row)))
        return torch.tensor(rows, dtype=torch.long)


@lru_cache(maxsize=4)
def shared_tokenizer(style: str = "clip", vocab_path: Optional[str] = None) -> ClipTokenizer:
    """One tokenizer per (style, vocabulary file): building one parses ~49k merges."""
    return ClipTokenizer(vocab_path, style)
