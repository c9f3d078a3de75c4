"""Which widths of a hypernetwork a model uses, which it ignores, and when to warn about it.

A hypernetwork holds one (K, V) pair per attention width; a model only runs the pairs whose width
one of its attention layers has. Text-context widths identify the model family: 768 (SD1, CLIP-L),
1024 (SD2, OpenCLIP ViT-H), 2048 (SDXL, CLIP-L + bigG). A warning is due when nothing matches (the
hypernetwork changes nothing) or when the hypernetwork's text width is not the model's (it was made
for another family: e.g. an SD1 file on SDXL changes only the 640/1280 self-attention layers).
Self-attention widths the model lacks are reported but not warned about (toy models differ there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from .names import shown_name

TEXT_WIDTH_FAMILIES = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
FAMILY_TEXT_WIDTHS = {family: width for width, family in TEXT_WIDTH_FAMILIES.items()}
DEFAULT_SIZES = {"sd1": (768, 320, 640, 1280), "sd2": (1024, 320, 640, 1280), "sdxl": (2048, 640, 1280)}


def family_of_widths(widths: Iterable[int]) -> Optional[str]:
    """"sd1", "sd2" or "sdxl" from the text width among `widths`; None when there is none or several."""
    families = {TEXT_WIDTH_FAMILIES[w] for w in widths if w in TEXT_WIDTH_FAMILIES}
    return families.pop() if len(families) == 1 else None


def host_family(host) -> Optional[str]:
    """The model family a host runs: its own `family`, its config's, or the one its widths show."""
    family = getattr(host, "family", None) or getattr(getattr(host, "config", None), "family", None)
    return family or family_of_widths(getattr(host, "attention_widths", ()) or ())


@dataclass(frozen=True)
class WidthMatch:
    """`used`: widths both sides have; `ignored`: hypernetwork widths the model lacks."""

    hypernetwork: tuple[int, ...]
    model: tuple[int, ...]
    used: tuple[int, ...]
    ignored: tuple[int, ...]

    @property
    def text_mismatch(self) -> bool:
        """The hypernetwork has a text width, and it is not one the model has."""
        text = [w for w in self.hypernetwork if w in TEXT_WIDTH_FAMILIES]
        return bool(text) and not any(w in self.model for w in text)

    def warning(self, name: str) -> Optional[str]:
        """A message naming the widths on both sides, or None when the hypernetwork fits."""
        if not self.model:
            return None
        sides = f"has widths {list(self.hypernetwork)}; this model's attention layers use {list(self.model)}"
        if not self.used:
            return f"Hypernetwork {name} {sides}: none match, so it has no effect here."
        if self.text_mismatch:
            made_for = family_of_widths(self.hypernetwork) or "another model family"
            model_family = family_of_widths(self.model) or "this model"
            return (f"Hypernetwork {name} {sides}: it was made for {made_for.upper()}, not "
                    f"{model_family.upper()}; only widths {list(self.used)} apply and "
                    f"{list(self.ignored)} are ignored.")
        return None


def match_widths(hypernetwork_sizes: Iterable[int], model_widths: Iterable[int]) -> WidthMatch:
    sizes = tuple(int(s) for s in hypernetwork_sizes)
    model = tuple(int(w) for w in model_widths)
    return WidthMatch(sizes, model, tuple(s for s in sizes if s in model), tuple(s for s in sizes if s not in model))


def width_warning(hypernetwork, model_widths: Iterable[int]) -> Optional[str]:
    """`match_widths(...).warning(...)` for a loaded hypernetwork."""
    match = match_widths(getattr(hypernetwork, "sizes", ()), model_widths)
    return match.warning(shown_name(hypernetwork))
