"""Routes for the hypernetwork library: list, describe, create, refresh.

    GET  /hypernet-ext/v1/hypernetworks          -> [{name, path, hash, info}]
    GET  /hypernet-ext/v1/hypernetworks/{name}   -> {name, path, hash, info}
    POST /hypernet-ext/v1/hypernetworks          -> create (body: CreateRequest) -> {name, path, hash, info}
    POST /hypernet-ext/v1/refresh                -> {count, names}
"""
# No `from __future__ import annotations`: FastAPI must see real types through the error wrapper.
import os
import re
from typing import Any, List, Optional, Union

from fastapi import APIRouter
from pydantic import BaseModel

from ... import limits
from ...errors import HypernetError, InvalidOptionError
from ...hypernetwork import DEFAULT_SIZES, create_hypernetwork
from ...storage import read_header, save_hypernetwork
from .. import settings
from ..runtime import runtime
from .errors import ConflictError, NotFoundError, json_errors

FILE_FORMATS = ("pt", "safetensors")


class CreateRequest(BaseModel):
    """Every creation option; lists may also be given as comma-separated text, as in the webui UI."""

    name: str
    sizes: Union[List[int], str] = list(DEFAULT_SIZES)
    layer_structure: Union[List[float], str] = [1.0, 2.0, 1.0]
    activation: Optional[str] = "linear"
    weight_init: str = "Normal"
    layer_norm: bool = False
    use_dropout: bool = False
    dropout_structure: Optional[Union[List[float], str]] = None
    activate_output: bool = False
    last_layer_dropout: Optional[bool] = None
    skip_connection: bool = False
    optional_info: Optional[str] = None
    init_std: float = 0.01
    seed: Optional[int] = None
    overwrite: bool = False
    folder: Optional[str] = None
    file_format: str = "pt"


def numbers(value: Union[List[float], str, None], field: str) -> Optional[list[float]]:
    """A list of numbers from a list or from text such as '1, 2, 1'."""
    if value is None or isinstance(value, list):
        return value
    items = [item for item in re.split(r"[,\s]+", value.strip()) if item]
    try:
        return [float(item) for item in items]
    except ValueError:
        raise InvalidOptionError(f"{field} {value!r} is not a list of numbers; write e.g. '1, 2, 1'.") from None


def target_folder(folder: Optional[str]) -> str:
    """The configured folder to write into (the first one by default); others are refused."""
    folders = settings.hypernetwork_folders()
    if not folders:
        raise InvalidOptionError("No hypernetwork folder is configured; start the webui with "
                                 "--hypernetwork-dir or add a folder in Settings > Hypernetworks.")
    if folder is None or folder == "":
        return folders[0]
    wanted = os.path.abspath(os.path.expanduser(folder))
    if wanted not in folders:
        raise InvalidOptionError(f"Folder {folder!r} is not a hypernetwork folder; use one of: "
                                 f"{', '.join(folders)} (add folders in Settings > Hypernetworks).")
    return wanted


def describe(name: str, path: str) -> dict[str, Any]:
    """Name, path, short hash and header of one file (header errors reported, not raised)."""
    entry: dict[str, Any] = {"name": name, "path": path, "hash": runtime.file_hash(path)}
    try:
        entry["info"] = read_header(path)
    except Exception as exc:  # one bad file is named in the list, never breaks it
        entry["info"], entry["error"] = None, str(exc) if isinstance(exc, (HypernetError, OSError)) else \
            f"{path}: cannot be read ({type(exc).__name__})"
    return entry


def create(request: CreateRequest) -> dict[str, Any]:
    if request.file_format not in FILE_FORMATS:
        raise InvalidOptionError(f"file_format {request.file_format!r} is not one of {FILE_FORMATS}.")
    limits.check_text("name_chars", request.name, "name")
    limits.check_number("init_std", request.init_std, "init_std")
    if request.seed is not None:
        limits.check_int("seed", request.seed, "seed")
    sizes = numbers(request.sizes, "sizes")
    for size in sizes or []:
        limits.check_int("image_side", size, "sizes")
    dropout = numbers(request.dropout_structure, "dropout_structure") if request.use_dropout \
        or request.dropout_structure is not None else None
    hypernetwork = create_hypernetwork(
        request.name, sizes=[int(s) if float(s).is_integer() else s for s in sizes],
        layer_structure=numbers(request.layer_structure, "layer_structure"), activation=request.activation,
        weight_init=request.weight_init, layer_norm=request.layer_norm, dropout_structure=dropout,
        activate_output=request.activate_output, last_layer_dropout=request.last_layer_dropout,
        skip_connection=request.skip_connection, optional_info=request.optional_info,
        init_std=request.init_std, seed=request.seed)
    path = os.path.join(target_folder(request.folder), f"{hypernetwork.name}.{request.file_format}")
    if os.path.exists(path) and not request.overwrite:
        raise ConflictError(f"{path} already exists; choose another name or send \"overwrite\": true.")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_hypernetwork(hypernetwork, path, overwrite=request.overwrite)
    runtime.refresh()
    return describe(hypernetwork.name, path)


def router() -> APIRouter:
    api = APIRouter(tags=["hypernet-ext"])

    @api.get("/hypernetworks")
    @json_errors
    def list_hypernetworks():
        library = runtime.library
        return [describe(name, str(library.path(name))) for name in library.names()]

    @api.get("/hypernetworks/{name}")
    @json_errors
    def get_hypernetwork(name: str):
        path = runtime.library.path(name)
        if path is None:
            raise NotFoundError(f"No hypernetwork named {name!r}; list them with GET /hypernetworks "
                                f"or POST /refresh after adding files.")
        return describe(name, str(path))

    @api.post("/hypernetworks", status_code=201)
    @json_errors
    def create_route(request: CreateRequest):
        return create(request)

    @api.post("/refresh")
    @json_errors
    def refresh():
        library = runtime.refresh()
        names = list(library.names())
        return {"count": len(names), "names": names}

    return api
