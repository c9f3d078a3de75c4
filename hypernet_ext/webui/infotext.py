"""Infotext for applied hypernetworks: the `Hypernet hashes` field, written and read back on paste.

Written as `name: hash, name2: hash2` (the webui quotes the value because it contains ':' and
','). On paste, the tags stay in the prompt; a tag whose name is unknown here but whose hash
matches a local file is renamed to that file, and the legacy `Hypernet:`/`Hypernet strength:`
fields become a tag when the host did not already add one.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from ..infotext import HASHES_INFOTEXT_KEY, format_hashes, merge_hashes, parse_hashes  # noqa: F401 (re-exported)

_TAG_NAME = re.compile(r"<hypernet:([^:>]+)(?=[:>])")


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
