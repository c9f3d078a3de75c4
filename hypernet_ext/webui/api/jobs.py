"""Routes for background jobs: preprocess, train, resume, status, interrupt, and the training runs on disk.

    POST /hypernet-ext/v1/preprocess  -> 202 job status (body: every PreprocessOptions field)
    POST /hypernet-ext/v1/train       -> 202 job status (body: TrainRequest; omitted fields take the panel's defaults)
    POST /hypernet-ext/v1/resume      -> 202 job status (body: ResumeRequest)
    GET  /hypernet-ext/v1/status      -> the current or last job (see `job_status`)
    POST /hypernet-ext/v1/interrupt   -> {"interrupted": bool} (training saves a checkpoint first)
    GET  /hypernet-ext/v1/runs        -> [{run, name, checkpoints: [...]}] under `log_dir` (default: the panel's)

Jobs run on the webui's one JobManager (`webui.context`) (one job at a time, holding the webui's queue lock), so a job
started here shows in the panels and vice versa; starting one while another runs is a 409.
Request fields are generated from the option declarations; jobs start through `hypernet_ext.service`.
"""
# No `from __future__ import annotations`: FastAPI must see real types through the error wrapper.
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from fastapi import APIRouter
from pydantic import BaseModel

from ... import service
from ...errors import InvalidOptionError
from ...jobs import Job, JobBusyError, JobManager
from ...preprocess import PreprocessOptions
from ...limits import check_text
from ...safe_paths import inside
from ...service import HostContext
from ...training.run_folder import (CHECKPOINT_FOLDER, CheckpointInfo, is_run, list_checkpoints, list_runs,
                                    run_of_checkpoint)
from ..context import job_manager, webui_context
from .errors import ConflictError, NotFoundError, json_errors
from .paths import checked
from .requests import request_model

STATUS_FIELDS = ("id", "kind", "description", "state", "running", "finished", "step", "total", "fraction", "loss",
                 "lr", "rate", "eta", "elapsed", "message", "error", "preview", "checkpoint", "result",
                 "started_at", "finished_at")
PreprocessRequest = request_model("PreprocessRequest", (PreprocessOptions,),
                                  {"source": (str, ...), "destination": (str, ...)},
                                  "Every preprocessing option; defaults as declared (the Preprocess panel's).")
TrainRequest = request_model("TrainRequest", service.TRAIN_OPTION_CLASSES,
                             {"hypernetwork": (str, ...), "data_dir": (str, ...), "log_dir": (Optional[str], None)},
                             "Every training option; hypernetwork is a library name or a file path; a field left out "
                             "takes the Train panel's initial value (the webui's settings, else the declared default).")


class ResumeRequest(BaseModel):
    """Continue a run: `checkpoint` (a checkpoint file), or `run` (a folder, or a run name under `log_dir`)
    with `step` (default: its newest checkpoint). `steps`: train until this step (default: the run's target)."""

    run: Optional[str] = None
    checkpoint: Optional[str] = None
    step: Optional[float] = None
    steps: Optional[float] = None
    log_dir: Optional[str] = None


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


def _start(ctx: HostContext, start: Callable[[], Job]) -> Dict[str, Any]:
    """Run `start`; a job already running becomes a 409. Returns the new job's status."""
    try:
        start()
    except JobBusyError as exc:
        raise ConflictError(str(exc)) from None
    return job_status(ctx.jobs)


def start_preprocess(request: Any, ctx: HostContext) -> Dict[str, Any]:
    """Start preprocessing from a PreprocessRequest; the status's `result` is the destination folder."""
    checked(request.source, "source")
    checked(request.destination, "destination")
    return _start(ctx, lambda: service.start_preprocessing(request.dict(), ctx, wording="api")[1])


def start_train(request: Any, ctx: HostContext) -> Dict[str, Any]:
    """Start training from a TrainRequest (404 for an unknown hypernetwork); adds the service's `started` text."""
    name = request.hypernetwork.strip()
    check_text("text_chars", name, "hypernetwork")
    if name and ctx.library().path(name) is None:  # not a library name: a path, restricted like the others
        checked(name, "hypernetwork")
    checked(request.data_dir, "data_dir")
    checked(request.log_dir, "log_dir")
    template = getattr(request, "template", None)
    if template and (os.sep in str(template) or "/" in str(template) or str(template).endswith(".txt")):
        checked(template, "template")
    if name and service.find_hypernetwork(name, ctx) is None:
        raise NotFoundError(f"No hypernetwork named {name!r} and no such .pt/.safetensors file; list them with "
                            f"GET /hypernetworks or POST /refresh after adding files.")
    options = service.training_options(request.dict(exclude_unset=True), ctx, wording="api")
    status = _start(ctx, lambda: service.start_training(options, ctx))
    return {**status, "started": service.describe_start(options)}


def find_run(name: str, log_root: str) -> Path:
    """A run folder: `name` itself when it is a path, else `<log_root>/<name>`."""
    if Path(name).expanduser().is_absolute():
        run = Path(name).expanduser()
    else:  # a run name as GET /runs lists it (<name>/<start time>): inside the log root ("..", "." refused)
        run = inside(Path(str(log_root)).expanduser(), name)
    if not is_run(run):
        raise NotFoundError(f"No training run {name!r} in {log_root}; list runs with GET /runs (a run is a folder "
                            f"holding a '{CHECKPOINT_FOLDER}' folder of checkpoints).")
    return run


def _checkpoint_file(path: str) -> Tuple[Path, CheckpointInfo]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise NotFoundError(f"Checkpoint {path!r} does not exist; list checkpoints with GET /runs.")
    run = run_of_checkpoint(file)
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
    wanted = service.whole(step, "step")
    for checkpoint in checkpoints:
        if checkpoint.step == wanted:
            return checkpoint
    raise NotFoundError(f"Run {run} has no checkpoint at step {wanted}; its checkpoints are at steps "
                        f"{', '.join(str(c.step) for c in checkpoints)}.")


def start_resume(request: ResumeRequest, ctx: HostContext) -> Dict[str, Any]:
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
        options, job = service.start_resume(str(run), checkpoint, request.steps, ctx)
        started["text"] = service.describe_resume(checkpoint, options)
        return job
    status = _start(ctx, start)
    return {**status, "started": started["text"], "resumed_from": checkpoint_entry(checkpoint)}


def checkpoint_entry(checkpoint: CheckpointInfo) -> Dict[str, Any]:
    return {"step": checkpoint.step, "path": str(checkpoint.path), "loss": checkpoint.loss,
            "has_optimizer": checkpoint.has_optimizer, "optimizer_matches": checkpoint.optimizer_matches,
            "optimizer": checkpoint.optimizer_name, "resumable": checkpoint.resumable, "problem": checkpoint.problem,
            "val_loss": checkpoint.val_loss, "best": checkpoint.best}


def runs_listing(log_root: str) -> List[Dict[str, Any]]:
    """Every run under `log_root` (newest first) with its checkpoints by step; `name` is its path under the root."""
    root = Path(str(log_root)).expanduser()
    return [{"run": run, "name": Path(run).relative_to(root).as_posix(),
             "checkpoints": [checkpoint_entry(c) for c in list_checkpoints(run)]} for run in list_runs(log_root)]


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
