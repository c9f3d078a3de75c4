"""HTML snippets for panel messages (escaped; classes styled by style.css)."""
from __future__ import annotations

import html
from functools import wraps

from ..errors import HypernetError


def ok(text: str) -> str:
    return _box("ok", text)


def error(text: str) -> str:
    return _box("error", text)


def note(text: str) -> str:
    return _box("note", text)


def _box(kind: str, text: str) -> str:
    return f'<div class="hnx-message hnx-{kind}">{text_html(text)}</div>'


def text_html(text: str) -> str:
    """`text` as HTML, one line per line; indented lines (the skipped files under "3 file(s) skipped:",
    a report's warnings) become a bulleted list under the line before them, one item each."""
    parts: list[str] = []
    items: list[str] = []
    for line in str(text).splitlines():
        if line[:1].isspace() and line.strip():
            items.append(f"<li>{html.escape(line.strip())}</li>")
            continue
        if items:
            parts.append(f'<ul class="hnx-list">{"".join(items)}</ul>')
            items = []
        if line.strip():
            parts.append(f"<div>{html.escape(line)}</div>")
    if items:
        parts.append(f'<ul class="hnx-list">{"".join(items)}</ul>')
    return "".join(parts) or "&nbsp;"


def guarded(fn):
    """Wrap a callback returning HTML so any exception becomes a readable error box."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HypernetError as exc:
            return error(str(exc))
        except Exception as exc:  # never show a traceback in the panel
            return error(f"{type(exc).__name__}: {exc}")
    return wrapper
