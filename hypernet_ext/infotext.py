"""The webui's infotext ("generation parameters") text, written by the standalone tools too.

The webui stores one text per image: the prompt, `Negative prompt: ...`, then one line of
`Key: value` pairs. A value holding `,` or `:` is quoted. The `Hypernet hashes` value is
`name: hash, name2: hash2` (first occurrence of each name kept), which the webui's PNG Info and
our paste handler read back.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional

HASHES_INFOTEXT_KEY = "Hypernet hashes"


def format_hashes(entries: Iterable[tuple[str, Optional[str]]]) -> str:
    """`name: hash, ...` for (name, short hash) pairs, first occurrence of each name kept."""
    seen: dict[str, str] = {}
    for name, shorthash in entries:
        clean = name.replace(",", "").replace(":", "").strip()
        if clean and shorthash and clean not in seen:
            seen[clean] = shorthash
    return ", ".join(f"{name}: {h}" for name, h in seen.items())


def parse_hashes(text: str) -> dict[str, str]:
    """The inverse of `format_hashes`; malformed items are skipped."""
    result: dict[str, str] = {}
    for item in str(text or "").split(","):
        name, sep, shorthash = item.partition(":")
        if sep and name.strip() and shorthash.strip():
            result[name.strip()] = shorthash.strip().lower()
    return result


def merge_hashes(existing: Optional[str], entries: Iterable[tuple[str, Optional[str]]]) -> str:
    """Add entries (e.g. from the hires pass) to an existing field value."""
    return format_hashes(list(parse_hashes(existing or "").items()) + list(entries))


def quote(value: object) -> str:
    """A parameter value as the webui writes it: JSON-quoted when it holds `,`, `:` or a quote."""
    text = str(value)
    if "," not in text and ":" not in text and '"' not in text and "\n" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def build_infotext(prompt: str, negative_prompt: str, parameters: dict) -> str:
    """Prompt, negative prompt and `Key: value, ...` (None values left out), in the webui's layout."""
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    pairs = [f"{key}: {quote(value)}" for key, value in parameters.items() if value not in (None, "")]
    lines.append(", ".join(pairs))
    return "\n".join(lines)
