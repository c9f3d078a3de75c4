"""Routes for background jobs: preprocess, train, resume, status, interrupt, and the training runs on disk.

    POST /hypernet-ext/v1/preprocess  -> 202 job status (body: every PreprocessOptions field)
    POST /hypernet-ext/v1/train       -> 202 job status (body: TrainRequest; omitted fields take the panel's defaults)
    POST /hypernet-ext/v1/resume      -> 202 job status (body: ResumeRequest)
    GET  /hypernet-ext/v1/status      -> the current or last job (see `job_status`)
    POST /hypernet-ext/v1/interrupt   -> {"interrupted": bool} (training saves a checkpoint first)
    GET  /hypernet-ext/v1/runs        -> [{run, name, checkpoints: [...]}] under `log_dir` (default: the panel's)

Jobs run on the Train tab's JobManager (one job at a time, holding the webui's queue lock), so a job
started here shows in the panels and vice versa; starting one while another runs is a 409.
Option building and run listing are the panels' own functions (hypernet_ext.ui).
"""
# No `from __future__ import annotations`: FastAPI must see real types through the error wrapper.
import os
import typing
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from fastapi import APIRouter
from pydantic import BaseModel, create_model

from ...errors import InvalidOptionError
from ...jobs import Job, JobBusyError, JobManager
from ...preprocess import PreprocessOptions
from ...training.data import DataOptions
from ...training.options import TrainingOptions
from ...ui import preprocess_panel, resume_panel, train_options
from ...ui.context import PanelContext
from ...ui.runs import CHECKPOINT_FOLDER, CheckpointInfo, list_checkpoints, list_runs
from ...limits import check_text
from ...safe_paths import inside
from .errors import ConflictError, NotFoundError, json_errors
from .paths import checked

STATUS_FIELDS = ("id", "kind", "description", "state", "running", "finished", "step", "total", "fraction", "loss",
                 "lr", "rate", "eta", "elapsed", "message", "error", "preview", "checkpoint", "result",
                 "started_at", "finished_at")


def _request_type(name: str, hint: Any, int_fields: tuple) -> Any:
    """Whole-number fields are read as numbers so the panels' checks answer 2.5 with a 400 naming the field."""
    return float if name in int_fields else hint


def _preprocess_request() -> type:
    hints = typing.get_type_hints(PreprocessOptions)
    ints = preprocess_panel.INT_FIELDS
    fields = {name: (_request_type(name, hints[name], ints), default)
              for name, default in preprocess_panel.DEFAULTS.items()}
    return create_model("PreprocessRequest", source=(str, ...), destination=(str, ...), **fields)


def _train_request() -> type:
    hints = {**typing.get_type_hints(DataOptions), **typing.get_type_hints(TrainingOptions)}
    ints = train_options.INT_FIELDS
    special = {"hypernetwork": (str, ...), "data_dir": (str, ...), "log_dir": (Optional[str], None),
               "optimizer_args": (Optional[Union[str, Dict[str, Any]]], None),
               "loss_guard_threshold": (Optional[float], None), "preview_prompt": (Optional[str], None),
               "preview_negative": (Optional[str], None), "preview_cfg": (Optional[float], None),
               "preview_steps": (Optional[float], None), "preview_seed": (Optional[float], None)}
    fields = {name: special.get(name) or (Optional[_request_type(name, hints[name], ints)], None)
              for name in train_options.FIELDS if name != "preview_from_txt2img"}
    return create_model("TrainRequest", **fields)


PreprocessRequest = _preprocess_request()
PreprocessRequest.__doc__ = "Every PreprocessOptions field; defaults as in the Preprocess panel."
TrainRequest = _train_request()
TrainRequest.__doc__ = ("Every Train panel field; hypernetwork is a library name or a file path; a field left out "
                        "takes the panel's default (the webui's settings for learning rate, steps, batch size, ...).")


class ResumeRequest(BaseModel):
    """Continue a run: `checkpoint` (a checkpoint file), or `run` (a folder, or a run name under `log_dir`)
    with `step` (default: its newest checkpoint). `steps`: train until this step (default: the run's target)."""

    run: Optional[str] = None
    checkpoint: Optional[str] = None
    step: Optional[float] = None
    steps: Optional[float] = None
    log_dir: Optional[str] = None


def job_manager() -> JobManager:
    """The Train tab's process-wide JobManager."""
    from ..panels.train_tabs import job_manager as panel_jobs
    return panel_jobs()


def webui_context() -> PanelContext:
    """The Train tab's context: the webui's folders, model, settings and its (single) JobManager."""
    from ..panels.train_tabs import webui_context as panel_context
    return panel_context()


def job_status(jobs: JobManager) -> Dict[str, Any]:
    """The current or last job, flat: STATUS_FIELDS (all None but state/running/finished before any job)."""
    job = jobs.current
    if job is None:
        return {**dict.fromkeys(STATUS_FIELDS), "state": "idle", "running": False, "finished": False}
    status = job.to_dict()
    progress = status.pop("progress")
    merged = {**progress, **{k: v for k, v in status.items() if v not in (None, "")}}
    merged.update(finished=not status["running"], result=_result_path(job))
    return {name: merged.get(name) for name in STATUS_FIELDS}


def _result_path(job: Job) -> Optional[str]:
    final = getattr(job.result, "final_path", None)
    return str(final) if final is not None else job.data.get("result_path")


def _start(ctx: PanelContext, start: Callable[[], Job]) -> Dict[str, Any]:
    """Run `start`; a job already running becomes a 409. Returns the new job's status."""
    try:
        start()
    except JobBusyError as exc:
        raise ConflictError(str(exc)) from None
    return job_status(ctx.jobs)


def start_preprocess(request: Any, ctx: PanelContext) -> Dict[str, Any]:
    """Start preprocessing from a PreprocessRequest; the status's `result` is the destination folder."""
    checked(request.source, "source")
    checked(request.destination, "destination")
    def start() -> Job:
        options, job = preprocess_panel.start_preprocessing_job(request.dict(), ctx)
        job.data["result_path"] = str(options.destination)
        return job
    return _start(ctx, start)


def start_train(request: Any, ctx: PanelContext) -> Dict[str, Any]:
    """Start training from a TrainRequest (404 for an unknown hypernetwork); adds the panel's `started` text."""
    name = request.hypernetwork.strip()
    check_text("text_chars", name, "hypernetwork")
    if name and ctx.library().path(name) is None:  # not a library name: a path, restricted like the others
        checked(name, "hypernetwork")
    checked(request.data_dir, "data_dir")
    checked(request.log_dir, "log_dir")
    template = getattr(request, "template", None)
    if template and (os.sep in str(template) or "/" in str(template) or str(template).endswith(".txt")):
        checked(template, "template")
    if name and train_options.find_hypernetwork(name, ctx) is None:
        raise NotFoundError(f"No hypernetwork named {name!r} and no such .pt/.safetensors file; list them with "
                            f"GET /hypernetworks or POST /refresh after adding files.")
    values = {**train_options.default_values(ctx), **request.dict(exclude_none=True)}
    options = train_options.training_options(values, ctx)
    status = _start(ctx, lambda: train_options.start_training(options, ctx))
    return {**status, "started": train_options.describe_start(options)}


def find_run(name: str, log_root: str) -> Path:
    """A run folder: `name` itself when it is a path, else `<log_root>/<name>`."""
    if os.sep in name or "/" in name or name.startswith("~"):
        run = Path(name).expanduser()
    else:  # a run name: one component inside the log root ("..", "." refused)
        run = inside(Path(str(log_root)).expanduser(), name)
    if not (run / CHECKPOINT_FOLDER).is_dir():
        raise NotFoundError(f"No training run {name!r} in {log_root}; list runs with GET /runs (a run is a folder "
                            f"holding a '{CHECKPOINT_FOLDER}' folder of checkpoints).")
    return run


def _checkpoint_file(path: str) -> Tuple[Path, CheckpointInfo]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise NotFoundError(f"Checkpoint {path!r} does not exist; list checkpoints with GET /runs.")
    if file.parent.name != CHECKPOINT_FOLDER:
        raise InvalidOptionError(f"{path} is not in a training run's '{CHECKPOINT_FOLDER}' folder, so its run "
                                 f"options are unknown; POST /train with it as the hypernetwork instead.")
    run = file.parent.parent
    for checkpoint in list_checkpoints(str(run)):
        if checkpoint.path.resolve() == file.resolve():
            return run, checkpoint
    raise InvalidOptionError(f"{file.name} is not named <name>-<step>.pt|.safetensors like the checkpoints "
                             f"training writes; resume from one listed by GET /runs.")


def _checkpoint_of_run(run: Path, step: Optional[float]) -> CheckpointInfo:
    checkpoints = list_checkpoints(str(run))
    if not checkpoints:
        raise NotFoundError(f"Run {run} has no checkpoints yet; train with save_every > 0 or interrupt a "
                            f"running job (that saves one).")
    if step is None:
        return checkpoints[-1]
    wanted = train_options.whole(step, "step")
    for checkpoint in checkpoints:
        if checkpoint.step == wanted:
            return checkpoint
    raise NotFoundError(f"Run {run} has no checkpoint at step {wanted}; its checkpoints are at steps "
                        f"{', '.join(str(c.step) for c in checkpoints)}.")


def start_resume(request: ResumeRequest, ctx: PanelContext) -> Dict[str, Any]:
    """Start the Resume panel's job from the chosen checkpoint; adds `started` and `resumed_from`."""
    checked(request.checkpoint, "checkpoint")
    checked(request.log_dir, "log_dir")
    if request.run and (os.sep in request.run or "/" in request.run):
        checked(request.run, "run")
    if request.checkpoint:
        run, checkpoint = _checkpoint_file(request.checkpoint)
    elif request.run:
        run = find_run(request.run, request.log_dir or ctx.log_dir())
        checkpoint = _checkpoint_of_run(run, request.step)
    else:
        raise InvalidOptionError("Give run (a run folder, or a run name from GET /runs) or checkpoint "
                                 "(the path of a checkpoint file).")
    started: Dict[str, Any] = {}

    def start() -> Job:
        options, job = resume_panel.start_resume(str(run), checkpoint, request.steps, ctx)
        started["text"] = resume_panel.describe_resume(checkpoint, options)
        return job
    status = _start(ctx, start)
    return {**status, "started": started["text"], "resumed_from": checkpoint_entry(checkpoint)}


def checkpoint_entry(checkpoint: CheckpointInfo) -> Dict[str, Any]:
    return {"step": checkpoint.step, "path": str(checkpoint.path), "loss": checkpoint.loss,
            "has_optimizer": checkpoint.has_optimizer, "optimizer_matches": checkpoint.optimizer_matches,
            "optimizer": checkpoint.optimizer_name, "resumable": checkpoint.resumable, "problem": checkpoint.problem}


def runs_listing(log_root: str) -> List[Dict[str, Any]]:
    """Every run under `log_root` (newest first) with its checkpoints by step."""
    return [{"run": run, "name": Path(run).name, "checkpoints": [checkpoint_entry(c) for c in list_checkpoints(run)]}
            for run in list_runs(log_root)]


def router() -> APIRouter:
    api = APIRouter(tags=["hypernet-ext"])

    @api.post("/preprocess", status_code=202)
    @json_errors
    def preprocess_route(request: PreprocessRequest):
        return start_preprocess(request, webui_context())

    @api.post("/train", status_code=202)
    @json_errors
    def train_route(request: TrainRequest):
        return start_train(request, webui_context())

    @api.post("/resume", status_code=202)
    @json_errors
    def resume_route(request: ResumeRequest):
        return start_resume(request, webui_context())

    @api.get("/status")
    @json_errors
    def status_route():
        return job_status(job_manager())

    @api.post("/interrupt")
    @json_errors
    def interrupt_route():
        return {"interrupted": job_manager().interrupt()}

    @api.get("/runs")
    @json_errors
    def runs_route(log_dir: Optional[str] = None):
        return runs_listing(checked(log_dir, "log_dir") or webui_context().log_dir())

    return api
