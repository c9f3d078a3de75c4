"""Which paths a REST request may name: the webui's folders (plus folders added in settings), unless
the setting "Let the API use any path on this machine" is on. The API can face a network
(`--listen --api`), so a request must not read or write arbitrary places on the machine.
"""
from __future__ import annotations

import os
from typing import Optional

from ... import limits
from ...safe_paths import check_inside, check_text_path
from .. import settings


def allowed_folders() -> list[str]:
    """The webui's data/output/model folders, the hypernetwork folders and the extra API folders."""
    from modules import shared  # the webui's; only this glue imports it
    cmd = getattr(shared, "cmd_opts", None)
    folders = [getattr(cmd, name, None) for name in ("data_dir", "hypernetwork_dir", "models_dir", "embeddings_dir")]
    outputs = getattr(getattr(shared, "opts", None), "outdir_samples", None)
    folders += [outputs, *settings.hypernetwork_folders(), *settings.split_folders(_text("hypernet_ext_api_folders"))]
    return [str(f) for f in folders if f and str(f).strip()]


def _text(key: str) -> str:
    try:
        return str(settings.option(key) or "")
    except Exception:  # settings not registered yet
        return ""


def any_path_allowed() -> bool:
    try:
        return bool(settings.option("hypernet_ext_api_any_path"))
    except Exception:
        return False


def checked(path: Optional[str], label: str) -> Optional[str]:
    """`path` when a request may use it (NUL, over-long and outside-folder paths refused with a 400)."""
    if path is None or str(path).strip() == "":
        return path
    check_text_path(path, label)
    if any_path_allowed():
        return path
    check_inside(os.path.expanduser(str(path)), allowed_folders(), label)
    return path


def apply_limit_settings() -> None:
    """Make sure the "Raise safety limits" setting is the source of overrides (before each request)."""
    if limits._source is None:
        limits.use_settings_source(lambda: _text("hypernet_ext_limits"))
