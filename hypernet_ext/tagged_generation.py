"""Render an image on a host from a prompt with `<hypernet:NAME:WEIGHT>` tags (CLI, demo and UI share it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .attach import attach_hypernetworks
from .prompt_tags import parse_prompt
from .widths import width_warning


@dataclass
class TaggedImage:
    """The image plus what was applied: `applied` is [(hypernetwork name, weight)] in tag order."""

    image: Any
    prompt: str
    applied: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def applied_text(self) -> str:
        return ", ".join(f"{name}:{weight:g}" for name, weight in self.applied) or "none"


def generate_with_tags(host, library, prompt: str, negative_prompt: str = "", **sampling) -> TaggedImage:
    """Strip the tags, resolve them in `library`, attach them to `host.unet` for one `host.generate` call.

    Unknown names and malformed tags become warnings; `sampling` goes to `host.generate`
    (steps, cfg_scale, seed, width, height).
    """
    parsed = parse_prompt(prompt or "")
    pairs, warnings = library.resolve(parsed.tags)
    model_widths = getattr(host, "attention_widths", ()) or ()
    warnings += [w for w in (width_warning(hn, model_widths) for hn, _ in pairs) if w]
    with attach_hypernetworks(host.unet, pairs):
        image = host.generate(parsed.prompt, negative_prompt or "", **sampling)
    return TaggedImage(image=image, prompt=parsed.prompt, applied=[(hn.name, w) for hn, w in pairs],
                       warnings=parsed.warnings + warnings)
