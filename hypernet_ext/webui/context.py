"""The webui as a host of the service layer: its folders, model, settings and the one job runner.

The Train tab's panels and the REST API both get their HostContext here, so a job started in one
shows in the other; neither imports the other.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from ..jobs import JobManager
from ..service import HostContext
from . import settings
from .runtime import runtime
from .panels.state import WebuiStateObserver

_JOBS: Optional[JobManager] = None


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


def _log_dir() -> str:
    from modules import shared
    base = getattr(getattr(shared, "cmd_opts", None), "data_dir", None) or os.getcwd()
    return os.path.join(base, "textual_inversion", "hypernet_ext")


def _builtin_trainer_runs() -> list[str]:
    """The webui's own trainer writes `textual_inversion/<date>/<name>/` under its working directory."""
    return [os.path.join(os.getcwd(), "textual_inversion")]


def _model_widths() -> tuple[int, ...]:
    from modules import shared
    return runtime.model_widths(getattr(shared, "sd_model", None))


def _host() -> Any:
    from .host import WebuiHost
    return WebuiHost()


def webui_context(preview_inputs: Optional[list] = None) -> HostContext:
    return HostContext(hypernetwork_dirs=settings.hypernetwork_folders, log_dir=_log_dir, host=_host,
                       model_widths=_model_widths, jobs=job_manager(), defaults=settings.training_defaults(),
                       preview_inputs=preview_inputs, library_factory=lambda: runtime.library,
                       other_run_roots=_builtin_trainer_runs)
