"""Infotext for applied hypernetworks: the `Hypernet hashes` field, written and read back on paste.

Written as `name: hash, name2: hash2` (the webui quotes the value because it contains ':' and
','). On paste, the tags stay in the prompt; a tag whose name is unknown here but whose hash
matches a local file is renamed to that file, and the legacy `Hypernet:`/`Hypernet strength:`
fields become a tag when the host did not already add one.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Optional

from .settings import HASHES_INFOTEXT_KEY

_TAG_NAME = re.compile(r"<hypernet:([^:>]+)(?=[:>])")


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


def restore_prompt(params: dict, known: Callable[[str], bool],
                   name_for_hash: Callable[[str], Optional[str]]) -> None:
    """Apply the legacy fields and our hash field to the pasted `params["Prompt"]` in place."""
    prompt = str(params.get("Prompt", ""))
    legacy = params.get("Hypernet")
    if legacy and f"<hypernet:{legacy}:" not in prompt and f"<hypernet:{legacy}>" not in prompt:
        prompt += f"<hypernet:{legacy}:{params.get('Hypernet strength', '1.0')}>"
    hashes = parse_hashes(params.get(HASHES_INFOTEXT_KEY, ""))
    if hashes:
        def rename(match: re.Match) -> str:
            name = match.group(1)
            if known(name) or name not in hashes:
                return match.group(0)
            local = name_for_hash(hashes[name])
            return match.group(0) if local is None else f"<hypernet:{local}"

        prompt = _TAG_NAME.sub(rename, prompt)
    params["Prompt"] = prompt
