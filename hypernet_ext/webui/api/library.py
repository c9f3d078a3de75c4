"""Routes for the hypernetwork library: list, describe, create, refresh.

    GET  /hypernet-ext/v1/hypernetworks          -> [{name, path, hash, info}]
    GET  /hypernet-ext/v1/hypernetworks/{name}   -> {name, path, hash, info}
    POST /hypernet-ext/v1/hypernetworks          -> create (body: CreateRequest) -> {name, path, hash, info}
    POST /hypernet-ext/v1/refresh                -> {count, names}
"""
# No `from __future__ import annotations`: FastAPI must see real types through the error wrapper.
import os
from typing import Any, List, Optional, Union

from fastapi import APIRouter

from ... import limits
from ...config import parse_number_list
from ...create_options import CreateOptions, create_file
from ...errors import HypernetError, InvalidOptionError
from ...hypernetwork import DEFAULT_SIZES
from ...option_spec import converted
from ...storage import read_header
from .. import settings
from ..runtime import runtime
from .errors import ConflictError, NotFoundError, json_errors
from .requests import request_model

CreateRequest = request_model(
    "CreateRequest", (CreateOptions,),
    {"name": (str, ...), "sizes": (Union[List[int], str], list(DEFAULT_SIZES)), "folder": (Optional[str], None)},
    "Every creation option (as declared in CreateOptions); lists may also be given as comma-separated text.")


def sizes_of(value: Union[List[int], str]) -> list[int]:
    """Widths from a list or from text such as '768, 320'."""
    numbers = parse_number_list(value, "sizes") if isinstance(value, str) else list(value)
    for size in numbers:
        limits.check_int("image_side", size, "sizes")
    return [int(n) for n in numbers]


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


def create(request: Any) -> dict[str, Any]:
    limits.check_text("name_chars", request.name, "name")
    values = request.dict()
    options = CreateOptions(request.name, sizes_of(request.sizes), target_folder(request.folder),
                            **converted(CreateOptions, values, lambda spec: spec.name))
    limits.check_number("init_std", options.init_std, "init_std")
    if options.init_seed >= 0:  # -1: random
        limits.check_int("seed", options.init_seed, "init_seed")
    path = options.target_path()
    if path.exists() and not options.overwrite:
        raise ConflictError(f"{path} already exists; choose another name or send \"overwrite\": true.")
    path = create_file(options, wording="api")
    runtime.refresh()
    return describe(path.stem, str(path))


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
