"""Let gradio 3.41 serve its page under Starlette >= 0.29, whose `TemplateResponse` takes the request first.

gradio 3.41 calls `templates.TemplateResponse(name, {"request": ..., ...})`; newer Starlette
releases removed that order. The shim reorders such calls and leaves new-style calls unchanged.
The webui pins an older FastAPI, where this is never needed.
"""
from __future__ import annotations

import inspect


def patch_gradio_templates() -> bool:
    """Install the shim when needed; returns True when it was installed (idempotent)."""
    from gradio import routes
    templates = routes.templates
    original = templates.TemplateResponse
    if getattr(original, "_hnx_compat", False):
        return True
    first = next(iter(inspect.signature(original).parameters), "")
    if first != "request":
        return False

    def template_response(*args, **kwargs):
        if args and isinstance(args[0], str):
            name, context, *rest = args
            return original(context["request"], name, context, *rest, **kwargs)
        return original(*args, **kwargs)
    template_response._hnx_compat = True
    templates.TemplateResponse = template_response
    return True
