"""The webui's Train tab: our Create / Preprocess / Train / Resume panels as extra train tabs.

`on_ui_train_tabs(params)` is the `script_callbacks.on_ui_train_tabs` callback: it builds the
panels with a PanelContext over the webui (its hypernetwork folders, its loaded model, its
settings for defaults, its txt2img parameters for previews, its queue lock and `shared.state`).
"""
from __future__ import annotations

from typing import Any

from ..context import webui_context

WEBUI_TAB_SUFFIX = " (hypernet-ext)"  # the webui's own "Create hypernetwork" / "Train" tabs sit beside ours


def on_ui_train_tabs(params: Any) -> None:
    """Add our four panels as tabs inside the webui's Train tab."""
    from ...ui.panels import TABS, build_panel_tabs
    from .live_column import LIVE_PANELS, live_column
    ctx = webui_context(list(getattr(params, "txt2img_preview_params", None) or []) or None)
    panels = build_panel_tabs(ctx, tab_prefix="hnx_train_tab", title_suffix=WEBUI_TAB_SUFFIX)
    for tab in panels["tabs"].values():
        namespace_saved_values(tab)
    # the live view moves to the Train tab's right-hand column once the webui builds it (live_column.py)
    live_column.panels_built(panels, ctx.jobs, [title + WEBUI_TAB_SUFFIX for title, key in TABS if key in LIVE_PANELS])


UI_CONFIG_SOURCE = "hypernet_ext"


def namespace_saved_values(block: Any) -> None:
    """Give every component under `block` its own ui-config key prefix.

    The webui saves form values in ui-config.json under `train/<label>`, so our "Batch size" or "Log
    directory" would share (and be overwritten by) the built-in Train tab's values. Components with
    `custom_script_source` are saved under `customscript/<source>/...` instead, as script components are.
    """
    for child in getattr(block, "children", None) or []:
        namespace_saved_values(child)
    if getattr(block, "label", None) is not None or not getattr(block, "children", None):
        block.custom_script_source = UI_CONFIG_SOURCE
