"""Parse `<hypernet:name>` / `<hypernet:name:weight>` tags out of a prompt, webui style.

Grammar (webui `extra_networks`): a tag is `<TYPE:ARGS>` with TYPE matching `\\w+` and ARGS any text
without `>`; ARGS is split on `:`. For `hypernet`, the first item is the file name and the second,
if present, the weight (any finite float: negative and > 1 allowed). Every `<TYPE:ARGS>` tag is
removed from the text sent to the text encoder, exactly as the webui removes it (no extra spacing
clean-up, so the conditioning matches the webui's). Problems never raise: they become warnings.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .errors import HypernetError

TAG_TYPE = "hypernet"
EXTRA_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")
# Things that look like a hypernet tag but do not match the grammar: `<hypernet>`, `<hypernet:>`,
# an unclosed `<hypernet:name` (up to the next `<` or the end).
_MALFORMED = re.compile(r"<\s*hypernet\s*(?::[^<>]*)?(?:>|(?=<)|$)", re.IGNORECASE)


@dataclass(frozen=True)
class HypernetTag:
    """One `<hypernet:name:weight>` tag."""
    name: str
    weight: float = 1.0


@dataclass
class ParsedPrompt:
    """The prompt without its tags, the hypernet tags in prompt order, and warnings for the user."""
    prompt: str
    tags: list[HypernetTag] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_prompt(prompt: str, default_weight: float = 1.0,
                 known_names: Optional[Iterable[str]] = None) -> ParsedPrompt:
    """Split `prompt` into cleaned text and hypernet tags.

    `default_weight` is used for tags without a weight. When `known_names` is given, tags naming
    anything else are dropped with a warning that lists them (and close matches).
    """
    text = "" if prompt is None else str(prompt)
    tags: list[HypernetTag] = []
    warnings: list[str] = []
    others: list[str] = []

    def take(match: re.Match) -> str:
        tag_type, args = match.group(1), match.group(2)
        if tag_type.lower() != TAG_TYPE:
            others.append(match.group(0))
            return ""
        tag = _parse_args(match.group(0), args, default_weight, warnings)
        if tag is not None:
            tags.append(tag)
        return ""

    cleaned = EXTRA_NETWORK_TAG.sub(take, text)
    malformed = [m.group(0) for m in _MALFORMED.finditer(cleaned)]
    if malformed:
        warnings.append(
            f"Malformed hypernetwork tag(s) left in the prompt: {', '.join(malformed)}. "
            f"Write <hypernet:NAME> or <hypernet:NAME:WEIGHT>, e.g. <hypernet:anime:0.8>.")
    if others:
        warnings.append(f"Other extra-network tags were removed but are not applied here: {', '.join(others)}.")
    if known_names is not None:
        tags = _drop_unknown(tags, list(known_names), warnings)
    _warn_duplicates(tags, warnings)
    return ParsedPrompt(cleaned, tags, warnings)


def _parse_args(tag_text: str, args: str, default_weight: float, warnings: list[str]) -> Optional[HypernetTag]:
    items = args.split(":")
    name = items[0].strip()
    if not name:
        warnings.append(f"Tag {tag_text} names no hypernetwork and was ignored; write <hypernet:NAME:WEIGHT>.")
        return None
    weight = float(default_weight)
    if len(items) > 1 and items[1].strip():
        try:
            weight = float(items[1])
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight):
            warnings.append(f"Tag {tag_text} has weight {items[1].strip()!r}, which is not a finite number; "
                            f"the tag was ignored. Use a number such as 0.8, 1.5 or -0.5.")
            return None
    if len(items) > 2:
        warnings.append(f"Tag {tag_text}: extra fields {':'.join(items[2:])!r} after the weight were ignored.")
    return HypernetTag(name, weight)


def _drop_unknown(tags: list[HypernetTag], known: list[str], warnings: list[str]) -> list[HypernetTag]:
    known_set = set(known)
    unknown = [t.name for t in tags if t.name not in known_set]
    if unknown:
        warnings.append(unknown_names_message(unknown, known))
    return [t for t in tags if t.name in known_set]


def unknown_names_message(unknown: Iterable[str], known: Iterable[str]) -> str:
    """'Unknown hypernetwork(s): a, b (did you mean ...?)' for a list of names not found."""
    known = list(known)
    unique = list(dict.fromkeys(unknown))
    parts = []
    for name in unique:
        close = close_matches(name, known)
        parts.append(f"{name} (did you mean {' or '.join(close)}?)" if close else name)
    return (f"Unknown hypernetwork(s): {', '.join(parts)}. Put the file in a hypernetwork folder "
            f"and refresh, or fix the name in the tag.")


def close_matches(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Known names that look like `name` (case-insensitive first, then fuzzy)."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    exact_case = [lowered[name.lower()]] if name.lower() in lowered else []
    fuzzy = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return list(dict.fromkeys(exact_case + [lowered[f] for f in fuzzy]))[:n]


def _warn_duplicates(tags: list[HypernetTag], warnings: list[str]) -> None:
    seen: set[str] = set()
    repeated = []
    for tag in tags:
        if tag.name in seen and tag.name not in repeated:
            repeated.append(tag.name)
        seen.add(tag.name)
    if repeated:
        warnings.append(f"Hypernetwork(s) tagged more than once are applied once per tag: {', '.join(repeated)}.")


def format_tag(name: str, weight: Optional[float] = None) -> str:
    """The tag that selects `name` (the inverse of `parse_prompt`); `weight=None` omits the weight."""
    if not name or any(c in name for c in ":<>") or name != name.strip():
        raise HypernetError(
            f"Hypernetwork name {name!r} cannot be written as a prompt tag (tags cannot contain "
            f"':', '<', '>' or surrounding spaces); rename the file.")
    if weight is None:
        return f"<{TAG_TYPE}:{name}>"
    if not math.isfinite(float(weight)):
        raise HypernetError(f"Tag weight {weight!r} is not a finite number; use e.g. 1.0.")
    return f"<{TAG_TYPE}:{name}:{float(weight):g}>"
