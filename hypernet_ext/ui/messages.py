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
    lines = "<br>".join(html.escape(line) for line in str(text).splitlines()) or "&nbsp;"
    return f'<div class="hnx-message hnx-{kind}">{lines}</div>'


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
