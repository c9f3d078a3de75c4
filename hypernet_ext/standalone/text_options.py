"""How the standalone host turns prompts into conditioning: the webui's Clip skip, Emphasis mode and
"Prompt word wrap length limit" settings, declared once (`option_spec`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from ..errors import InvalidOptionError
from ..option_spec import option
from .prompt_chunks import DEFAULT_COMMA_BACKTRACK, EMPHASIS_MODES, check_comma_backtrack, check_emphasis

MAX_CLIP_SKIP = 12  # the webui's slider range; the model's own layer count is checked on load


@dataclass
class TextConditioningOptions:
    """Settings of the standalone text encoder (inside the webui, the webui's own settings apply)."""

    clip_skip: Optional[int] = option(
        None, label="Clip skip", group="model", minimum=1, maximum=MAX_CLIP_SKIP, metavar="N",
        help="condition on the text encoder's output N layers from the end (final layer norm applied), as the "
             "webui's Clip skip; default: the model's own (1 for SD1; SD2 and SDXL always use the penultimate "
             "layer). Anime checkpoints are usually used with 2")
    emphasis: str = option(
        "Original", label="Emphasis mode", group="model", choices=EMPHASIS_MODES,
        help="how (word:1.2) weights apply, as the webui's setting: Original (scale, then restore the mean), "
             "No norm (scale only), Ignore (no weights), None (brackets are plain text, no BREAK)")
    comma_backtrack: int = option(
        DEFAULT_COMMA_BACKTRACK, label="Prompt word wrap length limit", group="model", minimum=0,
        maximum=74, metavar="N",
        help="when a prompt needs another 75-token chunk, words after a comma at most N tokens back move to "
             "the next chunk (the webui's default 20; 0 turns it off)")

    def validate(self) -> "TextConditioningOptions":
        if self.clip_skip is not None and (isinstance(self.clip_skip, bool) or not isinstance(self.clip_skip, int)
                                           or not 1 <= self.clip_skip <= MAX_CLIP_SKIP):
            raise InvalidOptionError(f"clip skip {self.clip_skip!r} must be a whole number from 1 to "
                                     f"{MAX_CLIP_SKIP}, e.g. 2 for anime checkpoints")
        check_emphasis(self.emphasis)
        check_comma_backtrack(self.comma_backtrack)
        return self

    def load_host_arguments(self) -> dict:
        """Keyword arguments of `load_host`."""
        return asdict(self.validate())
