"""Routes to use a training run's checkpoint: list them all, copy one into the first hypernetwork folder.

    GET  /hypernet-ext/v1/run-checkpoints -> [{path, run, run_name, step, loss, best, suggested_name}], newest run
        first: the runs under the panels' log folder and the webui's own trainer's (textual_inversion/<date>/<name>)
    POST /hypernet-ext/v1/use-checkpoint -> 201 {name, path, hash, info, source, replaced, message}
        body: {"checkpoint": a checkpoint file (as GET /runs lists it)} or {"run": a run, "step": N (default
        the newest)}, "name" (default the checkpoint's file name), "overwrite" (default false: 409 when taken)

The copy is what `<hypernet:NAME:1>` then loads (service.use_run_checkpoint); the run's file is unchanged.
"""
# No `from __future__ import annotations`: FastAPI must see real types through the error wrapper.
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import APIRouter

from ... import service
from ...errors import InvalidOptionError
from ...limits import check_text
from ...run_checkpoints import NameTakenError, find_run_checkpoint
from ..context import webui_context
from .errors import ConflictError, json_errors
from .library import describe
from .paths import checked
from .requests import request_model


UseCheckpointRequest = request_model(
    "UseCheckpointRequest", (),
    {"checkpoint": (Optional[str], None), "run": (Optional[str], None), "step": (Optional[float], None),
     "log_dir": (Optional[str], None), "name": (Optional[str], None), "overwrite": (bool, False)},
    "Copy `checkpoint` (a file), or `run`'s checkpoint at `step`, into the hypernetwork folder as `name`.")


def use_checkpoint(request: Any, ctx: service.HostContext) -> Dict[str, Any]:
    checked(request.checkpoint, "checkpoint")
    checked(request.log_dir, "log_dir")
    if request.name is not None:
        check_text("name_chars", request.name, "name")
    if request.checkpoint:
        source = request.checkpoint
    elif request.run:
        if Path(request.run).expanduser().is_absolute():  # run names (`<name>/<time>`) stay in log_dir
            checked(request.run, "run")
        source = request.run
    else:
        raise InvalidOptionError("Give checkpoint (the path of a checkpoint file from GET /runs) or run (a run "
                                 "name from GET /runs, with step).")
    step = service.whole(request.step, "step") if request.step is not None else None
    chosen = find_run_checkpoint(source, step, request.log_dir or ctx.log_dir())
    checked(str(chosen.path), "checkpoint")
    name = request.name if request.name is not None else chosen.suggested_name()
    try:
        used = service.use_run_checkpoint(ctx, chosen.path, name, request.overwrite, wording="api")
    except NameTakenError as exc:
        raise ConflictError(str(exc)) from None
    return {**describe(used.name, str(used.path)), "source": str(used.source),
            "replaced": [str(p) for p in used.replaced + used.shadowed], "message": used.describe()}


def run_checkpoint_entries(ctx: service.HostContext) -> List[Dict[str, Any]]:
    return [{"path": str(c.path), "run": str(c.run), "run_name": c.run_name, "step": c.step,
             "loss": c.checkpoint.loss, "best": c.checkpoint.best, "suggested_name": c.suggested_name()}
            for c in service.list_run_checkpoints(ctx)]


def router() -> APIRouter:
    api = APIRouter(tags=["hypernet-ext"])

    @api.get("/run-checkpoints")
    @json_errors
    def run_checkpoints_route():
        return run_checkpoint_entries(webui_context())

    @api.post("/use-checkpoint", status_code=201)
    @json_errors
    def use_checkpoint_route(request: UseCheckpointRequest):
        return use_checkpoint(request, webui_context())

    return api
