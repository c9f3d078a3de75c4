"""HTTP API of the extension, mounted on the webui's FastAPI app from `on_app_started`.

Every feature area is one module exposing `router() -> fastapi.APIRouter`; `ROUTER_MODULES` lists
them, so later areas (training, preprocessing, status) are added by adding a module name here.
All routes live under `API_PREFIX`; bad requests get 4xx JSON `{"detail": message}`.
"""
from __future__ import annotations

import importlib
from typing import Any

API_PREFIX = "/hypernet-ext/v1"
ROUTER_MODULES: list[str] = ["library", "jobs", "use_checkpoint"]


def mount_api(app: Any, modules: list[str] | None = None) -> list[str]:
    """Include every router in `app`; returns the paths added."""
    added: list[str] = []
    for name in modules if modules is not None else ROUTER_MODULES:
        router = importlib.import_module(f"{__name__}.{name}").router()
        app.include_router(router, prefix=API_PREFIX)
        added.extend(API_PREFIX + route.path for route in router.routes)
    return added
