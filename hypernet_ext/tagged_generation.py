"""Render an image on a host from a prompt with `<hypernet:NAME:WEIGHT>` tags (CLI, demo and UI share it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .attach import attach_hypernetworks
from .errors import HypernetError
from .infotext import HASHES_INFOTEXT_KEY, build_infotext, format_hashes
from .prompt_tags import parse_prompt
from .storage import short_hash


@dataclass
class TaggedImage:
    """The image plus what was applied.

    `applied` is [(tag name, weight)] in tag order: the name is the file name the tag used (the
    name stored inside a file is data and may differ). `hashes` is [(tag name, short hash)].
    """

    image: Any
    prompt: str
    applied: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    hashes: list = field(default_factory=list)

    def applied_text(self) -> str:
        return ", ".join(f"{name}:{weight:g}" for name, weight in self.applied) or "none"


def generate_with_tags(host, library, prompt: str, negative_prompt: str = "", **sampling) -> TaggedImage:
    """Strip the tags, resolve them in `library`, attach them to `host.unet` for one `host.generate` call.

    Unknown names and malformed tags become warnings; `sampling` goes to `host.generate`
    (steps, cfg_scale, seed, width, height).
    """
    parsed = parse_prompt(prompt or "")
    pairs, warnings = library.resolve(parsed.tags)
    names = _tag_names(library, parsed.tags, pairs)
    with attach_hypernetworks(host.unet, pairs):
        image = host.generate(parsed.prompt, negative_prompt or "", **sampling)
    hashes = [(name, _short_hash(library.path(name))) for name in dict.fromkeys(names)]
    return TaggedImage(image=image, prompt=parsed.prompt, applied=[(name, w) for name, (_, w) in zip(names, pairs)],
                       warnings=parsed.warnings + warnings, hashes=hashes)


def generation_infotext(host, prompt: str, negative_prompt: str, result: TaggedImage, *, steps: int,
                        cfg_scale: float, seed: int, width: int, height: int, sampler: str = "DDIM") -> str:
    """The webui-format infotext for an image made by `generate_with_tags` (the prompt keeps its tags)."""
    parameters = {"Steps": steps, "Sampler": sampler, "CFG scale": cfg_scale, "Seed": seed,
                  "Size": f"{width}x{height}", "Model hash": getattr(host, "model_hash", None),
                  "Model": getattr(host, "model_name", None),
                  HASHES_INFOTEXT_KEY: format_hashes(result.hashes) or None}
    return build_infotext(prompt, negative_prompt, parameters)


def _tag_names(library, tags, pairs) -> list[str]:
    """The tag name of each resolved pair: the library hands out one shared object per file."""
    names = []
    remaining = list(pairs)
    for tag in tags:
        if not remaining:
            break
        try:
            loaded = library.load(tag.name)
        except (HypernetError, OSError, ValueError, RuntimeError):
            continue
        if loaded is remaining[0][0]:
            names.append(tag.name)
            remaining.pop(0)
    names.extend(hn.name for hn, _ in remaining)  # cannot happen with a consistent library; keep lengths equal
    return names


def _short_hash(path) -> Optional[str]:
    try:
        return short_hash(path) if path is not None else None
    except OSError:
        return None
