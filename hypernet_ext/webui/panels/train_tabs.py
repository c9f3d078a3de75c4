"""The webui's Train tab: our Create / Preprocess / Train / Resume panels as extra train tabs.

`on_ui_train_tabs(params)` is the `script_callbacks.on_ui_train_tabs` callback: it builds the
panels with a PanelContext over the webui (its hypernetwork folders, its loaded model, its
settings for defaults, its txt2img parameters for previews, its queue lock and `shared.state`).
"""
from __future__ import annotations

import os
from typing import Any, Optional

from ...jobs import JobManager
from ...ui.context import PanelContext, TrainDefaults
from .state import WebuiStateObserver

_JOBS: Optional[JobManager] = None
WEBUI_TAB_SUFFIX = " (hypernet-ext)"  # the webui's own "Create hypernetwork" / "Train" tabs sit beside ours


def job_manager() -> JobManager:
    """The process-wide JobManager of the webui (shared with API routes): holds the queue lock while a job runs."""
    global _JOBS
    if _JOBS is None:
        _JOBS = JobManager(observers=[WebuiStateObserver()], job_lock=_queue_lock)
    return _JOBS


def _queue_lock():
    """The webui's GPU queue lock, so txt2img never runs on the model while we train on it."""
    try:
        from modules import call_queue
    except ImportError:  # a fork without it: nothing to coordinate with
        import contextlib
        return contextlib.nullcontext()
    return call_queue.queue_lock


def _defaults() -> TrainDefaults:
    from .. import settings
    option = settings.option
    return TrainDefaults(learning_rate=str(option("hypernet_ext_train_learn_rate")),
                         batch_size=int(option("hypernet_ext_train_batch_size")),
                         steps=int(option("hypernet_ext_train_steps")),
                         save_every=int(option("hypernet_ext_train_save_every")),
                         preview_every=int(option("hypernet_ext_train_preview_every")),
                         save_optimizer_state=bool(option("hypernet_ext_train_save_optimizer")))


def _log_dir() -> str:
    from modules import shared
    base = getattr(getattr(shared, "cmd_opts", None), "data_dir", None) or os.getcwd()
    return os.path.join(base, "textual_inversion", "hypernet_ext")


def _model_widths() -> tuple[int, ...]:
    from modules import shared
    from ..runtime import runtime
    return runtime.model_widths(getattr(shared, "sd_model", None))


def _host() -> Any:
    from ..host import WebuiHost
    return WebuiHost()


def webui_context(preview_inputs: Optional[list] = None) -> PanelContext:
    from .. import settings
    from ..runtime import runtime
    return PanelContext(hypernetwork_dirs=settings.hypernetwork_folders, log_dir=_log_dir, host=_host,
                        model_widths=_model_widths, jobs=job_manager(), defaults=_defaults(),
                        preview_inputs=preview_inputs, library_factory=lambda: runtime.library)


def on_ui_train_tabs(params: Any) -> None:
    """Add our four panels as tabs inside the webui's Train tab."""
    from ...ui.panels import build_panel_tabs
    panels = build_panel_tabs(webui_context(list(getattr(params, "txt2img_preview_params", None) or []) or None),
                              tab_prefix="hnx_train_tab", title_suffix=WEBUI_TAB_SUFFIX)
    for tab in panels["tabs"].values():
        namespace_saved_values(tab)


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
