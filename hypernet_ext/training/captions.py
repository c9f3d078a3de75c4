"""Captions, prompt templates and the per-step training prompt.

Webui semantics (reference section 5.4), with the deviations noted:
- An image's caption is `<image>.txt` if it exists, else its file name without the extension and
  without a leading `[-\\d]+\\s*`; an optional word regex picks words from the name, joined by a
  join string. Line breaks in a caption file separate tags (deviation: the webui keeps them).
- A template is a list of prompt lines. `[filewords]` becomes the caption's comma-separated tags
  (after dropout and shuffle) re-joined with ", " (deviation: the webui re-joins with "," and keeps
  each tag's surrounding spaces); `[name]` becomes the hypernetwork name. Empty lines are skipped
  (deviation: the webui keeps them and may train on an empty prompt).
- The template line, the tag shuffle and the tag dropout are chosen per (seed, sample), where
  sample = step * batch_size + slot, not from a global RNG, so training resumes exactly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import InvalidOptionError
from ..safe_paths import read_regular_text
from .keyed_rng import TAGS, TEMPLATE_LINE, keyed_rng

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
FILENAME_NUMBER_PREFIX = re.compile(r"^[-\d]+\s*")
_PLACEHOLDER = re.compile(r"\[(filewords|name)\]")
_EMPTY_SEGMENT = re.compile(r",\s*(?=,)")

TemplateSpec = Union[str, Sequence[str]]


class CaptionReadError(ValueError):
    """A caption file exists but cannot be read as text."""


# -- captions ------------------------------------------------------------------------------------
def compile_word_regex(pattern: str) -> Optional[re.Pattern]:
    """The filename word regex, or None when empty; InvalidOptionError when it does not compile."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidOptionError(
            f"filename_word_regex {pattern!r} is not a valid regular expression ({exc}); "
            "fix it or leave it empty to use the whole file name") from None


def caption_from_filename(path: Path, word_regex: Optional[re.Pattern] = None,
                          join_string: str = " ") -> str:
    """The webui's file-name caption: stem minus leading digits/dashes, optionally regex words joined."""
    text = FILENAME_NUMBER_PREFIX.sub("", path.stem)
    if word_regex is not None:
        text = join_string.join(m.group(0) for m in word_regex.finditer(text))
    return text.strip()


def read_caption_file(path: Path) -> str:
    """A caption file's text with line breaks turned into tag separators and spaces collapsed."""
    try:
        raw = read_regular_text(path, "caption file")
    except UnicodeDecodeError:
        raise CaptionReadError(f"caption file {path.name} is not UTF-8 text; re-save it as UTF-8") from None
    except (OSError, ValueError) as exc:
        raise CaptionReadError(f"caption file {path.name} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    lines = (" ".join(line.split()) for line in raw.splitlines())
    return ", ".join(line for line in lines if line)


def caption_for_image(image_path: Path, word_regex: Optional[re.Pattern] = None,
                      join_string: str = " ") -> tuple[str, str]:
    """(caption, origin) for an image; origin is "txt" or "filename". Raises CaptionReadError."""
    text_path = image_path.with_suffix(".txt")
    if text_path.is_file():
        return read_caption_file(text_path), "txt"
    return caption_from_filename(image_path, word_regex, join_string), "filename"


def split_tags(caption: str) -> list[str]:
    """Comma-separated tags, stripped, empty ones dropped."""
    return [t.strip() for t in caption.split(",") if t.strip()]


def pick_tags(tags: Sequence[str], rng, *, shuffle: bool, keep_first: int, dropout: float) -> list[str]:
    """The first `keep_first` tags stay in place and are never dropped; the rest may be dropped
    (each with probability `dropout`) and shuffled."""
    head, tail = list(tags[:keep_first]), list(tags[keep_first:])
    if dropout > 0:
        draws = rng.random(len(tail))
        tail = [t for t, r in zip(tail, draws) if r >= dropout]
    if shuffle and len(tail) > 1:
        tail = [tail[i] for i in rng.permutation(len(tail))]
    return head + tail


# -- templates -----------------------------------------------------------------------------------
def builtin_templates() -> dict[str, Path]:
    """Built-in template name -> file (shipped in hypernet_ext/training/templates)."""
    return {p.stem: p for p in sorted(TEMPLATES_DIR.glob("*.txt"))}


def _template_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_template_file(path: Path) -> list[str]:
    try:
        return _template_lines(read_regular_text(path, "template file"))
    except UnicodeDecodeError:
        raise InvalidOptionError(f"template file {path} is not UTF-8 text; re-save it as UTF-8") from None
    except OSError as exc:
        raise InvalidOptionError(f"template file {path} cannot be read ({exc.strerror or exc})") from None


def load_template(spec: TemplateSpec) -> list[str]:
    """Prompt lines from a built-in name ("style_filewords"), a .txt path, or lines (a list, or
    one text with line breaks, as a UI text box gives it).

    Empty lines are skipped; a template without any line is an InvalidOptionError."""
    if isinstance(spec, str) and "\n" in spec:
        spec = [spec]
    if isinstance(spec, (list, tuple)):
        lines = [line for item in spec for line in _template_lines(str(item))]
        where = "the template lines given"
    elif isinstance(spec, (str, Path)):
        lines, where = _load_named_template(str(spec))
    else:
        raise InvalidOptionError(
            f"template must be a built-in name, a file path or a list of lines, not {type(spec).__name__}")
    if not lines:
        raise InvalidOptionError(
            f"{where} contain no prompt line; add at least one line such as '[filewords], [name]'")
    return lines


def _load_named_template(spec: str) -> tuple[list[str], str]:
    builtins = builtin_templates()
    name = spec[:-4] if spec.endswith(".txt") else spec
    if name in builtins and not Path(spec).is_file():
        return _read_template_file(builtins[name]), f"built-in template {name!r}"
    path = Path(spec).expanduser()
    if path.is_file():
        return _read_template_file(path), f"template file {path}"
    raise InvalidOptionError(
        f"template {spec!r} is neither a built-in template ({', '.join(builtins)}) nor an existing "
        "file; pick one of those names or give the path of a .txt file with one prompt per line")


# -- prompts -------------------------------------------------------------------------------------
def render_line(line: str, name: str, tags: Sequence[str]) -> str:
    """Substitute `[filewords]` and `[name]` in one pass; tidy separators left by empty tag lists."""
    filewords = ", ".join(tags)
    text = _PLACEHOLDER.sub(lambda m: filewords if m.group(1) == "filewords" else name, line)
    return _EMPTY_SEGMENT.sub("", text).strip(" ,")


@dataclass(frozen=True)
class PromptBuilder:
    """Builds the training prompt for (caption, sample); a pure function of the seed and those.

    `sample` is the global sample number, step * batch_size + slot."""

    lines: tuple[str, ...]
    name: str
    seed: int = 0
    shuffle_tags: bool = False
    keep_first_tags: int = 0
    tag_dropout: float = 0.0

    @property
    def is_static(self) -> bool:
        """True when every caption always gives the same prompt (one line, no shuffle or dropout)."""
        return len(self.lines) == 1 and not self.shuffle_tags and self.tag_dropout == 0

    def static_text(self, caption: str) -> str:
        return render_line(self.lines[0], self.name, split_tags(caption))

    def text(self, caption: str, sample: int) -> str:
        if self.is_static:
            return self.static_text(caption)
        line = self.lines[0]
        if len(self.lines) > 1:
            line = self.lines[int(keyed_rng(self.seed, TEMPLATE_LINE, sample).integers(len(self.lines)))]
        tags = split_tags(caption)
        if self.shuffle_tags or self.tag_dropout > 0:
            tags = pick_tags(tags, keyed_rng(self.seed, TAGS, sample), shuffle=self.shuffle_tags,
                             keep_first=self.keep_first_tags, dropout=self.tag_dropout)
        return render_line(line, self.name, tags)
