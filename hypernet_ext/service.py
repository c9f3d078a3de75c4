"""The service layer under every front end: start preprocessing / training / resume, status, interrupt.

The gradio panels (webui and standalone) and the webui's REST API call these functions; none of
them imports another front end. A `HostContext` is what a host (the webui or the standalone app)
gives: its folders, its model, its defaults and the one `JobManager` that runs one job at a time.

Front-end values (a dict by option name, as a panel or a request sends them) become options through
the option declarations (`option_spec.converted`), so every declared option is accepted here
without listing it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .errors import HypernetError, InvalidOptionError
from .hypernetwork import KNOWN_SIZES
from .jobs import Job, JobManager
from .library import HypernetworkLibrary
from .option_spec import converted, declared_options, option_defaults
from .preprocess import PreprocessOptions, preprocess
from .preprocess.captioners import REGISTRY, CaptionerRegistry
from .run_checkpoints import RunCheckpoint, UsedCheckpoint, run_checkpoints, use_checkpoint
from .training.data_options import DataOptions
from .training.host import PreviewParams
from .training.options import PreviewOptions, TrainingOptions
from .training.run_folder import CheckpointInfo, new_run_dir, resume_options
from .training.trainer import Trainer

TRAIN_OPTION_CLASSES = (TrainingOptions, DataOptions, PreviewOptions)
TRAIN_INPUTS = ("hypernetwork", "log_dir", "data_dir")  # what a front end gives besides the declared options
HYPERNETWORK_SUFFIXES = (".pt", ".safetensors")
WORDING = {"panel": lambda spec: spec.label, "api": lambda spec: spec.name}  # how messages name an option
OVERWRITE_LABEL = "Overwrite an existing file"
# how each front end asks for a replacement ("cli": the CLI's cli_message turns it into --overwrite)
OVERWRITE_HINTS = {"panel": f"tick '{OVERWRITE_LABEL}'", "api": 'send "overwrite": true', "cli": "pass overwrite=True"}
TXT2IMG_FIELDS = ("prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed", "width", "height")


@dataclass
class HostContext:
    """Everything the front ends need from their host; callables are re-read on every use.

    hypernetwork_dirs: folders of hypernetworks (Create writes into the first unless told otherwise).
    log_dir: root folder of training runs (a run lives in `<log_dir>/<hypernetwork name>/<start time>`).
    host: returns the TrainingHost to train on (raises HypernetError naming the fix when none).
    model_widths: attention widths of the loaded model (empty when unknown).
    defaults: initial values of training options that differ from the declared defaults (the
    webui's settings; 64x64 for the tiny model), by option name.
    preview_inputs: the webui's 8 txt2img components [prompt, negative, steps, sampler_name, cfg,
    seed, width, height]; None outside the webui.
    other_run_roots: folders of runs other trainers wrote (the webui's built-in trainer's
    `textual_inversion`), whose checkpoints are offered to use (not to resume) beside ours.
    """

    hypernetwork_dirs: Callable[[], Sequence[str]]
    log_dir: Callable[[], str]
    host: Callable[[], Any]
    model_widths: Callable[[], Sequence[int]]
    jobs: JobManager = field(default_factory=JobManager)
    captioners: CaptionerRegistry = REGISTRY
    defaults: dict = field(default_factory=dict)
    preview_inputs: Optional[list] = None
    library_factory: Optional[Callable[[], HypernetworkLibrary]] = None
    model_lock: threading.Lock = field(default_factory=threading.Lock)
    generate_available: bool = False
    other_run_roots: Callable[[], Sequence[str]] = tuple  # runs of other trainers (the webui's), offered for use
    _library: Optional[HypernetworkLibrary] = field(default=None, repr=False)

    def library(self) -> HypernetworkLibrary:
        """The hypernetwork library over `hypernetwork_dirs()` (refreshed: new files show up)."""
        if self.library_factory is not None:
            library = self.library_factory()
        else:
            folders = [str(Path(f).expanduser()) for f in self.hypernetwork_dirs()]
            if self._library is None or [str(f) for f in self._library.folders] != folders:
                self._library = HypernetworkLibrary(folders)
            library = self._library
        library.refresh()
        return library

    def widths_offered(self) -> list[int]:
        """The loaded model's attention widths, or the usual SD widths when no model is known."""
        try:
            widths = [int(w) for w in self.model_widths() or ()]
        except HypernetError:
            widths = []
        return widths or list(KNOWN_SIZES)

    def first_hypernetwork_dir(self) -> str:
        folders = list(self.hypernetwork_dirs())
        if not folders:
            raise HypernetError("No hypernetwork folder is configured; start with --hypernetwork-dir DIR "
                                "(or set the webui's --hypernetwork-dir).")
        return str(folders[0])


# -- training ---------------------------------------------------------------------------------
def train_option_names() -> list[str]:
    """Every declared training, data and preview option a panel or request may set."""
    return [spec.name for cls in TRAIN_OPTION_CLASSES for spec in declared_options(cls)]


def training_defaults(ctx: HostContext) -> dict:
    """Initial value of every training input and option: the host's defaults, else the declared ones."""
    values = {name: default for cls in TRAIN_OPTION_CLASSES for name, default in option_defaults(cls).items()}
    values.update({k: v for k, v in ctx.defaults.items() if k in values})
    return {"hypernetwork": "", "log_dir": ctx.log_dir(), "data_dir": "", **values}


def find_hypernetwork(name_or_path: str, ctx: HostContext) -> Optional[tuple[str, Path]]:
    """(name, file) of a library name, or of the path of an existing .pt/.safetensors file; None if neither."""
    path = ctx.library().path(name_or_path)
    if path is not None:
        return name_or_path, Path(path)
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix.lower() in HYPERNETWORK_SUFFIXES and candidate.is_file():
        return candidate.stem, candidate
    return None


def whole(value: Any, label: str) -> int:
    """A whole number from a front end's value (2.0 from a number box is 2); 2.5 names `label`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{label} must be a whole number, got {value!r}.") from None
    if not number.is_integer():
        raise InvalidOptionError(f"{label} must be a whole number, got {value!r}.")
    return int(number)


def txt2img_preview(txt2img: Sequence) -> PreviewParams:
    """Preview settings from the webui's txt2img tab (its 8 components, see TXT2IMG_FIELDS)."""
    t = dict(zip(TXT2IMG_FIELDS, txt2img))
    return PreviewParams(str(t["prompt"] or ""), str(t["negative_prompt"] or ""), whole(t["steps"], "Steps"),
                         float(t["cfg_scale"]), whole(t["seed"], "Seed"), whole(t["width"], "Width"),
                         whole(t["height"], "Height"), sampler=t["sampler"] or None)


def training_options(values: dict, ctx: HostContext, txt2img: Optional[Sequence] = None,
                     wording: str = "panel") -> TrainingOptions:
    """Validated TrainingOptions for a new run from a front end's values (missing ones: the defaults).

    Messages name options as the front end does (`wording`: "panel" labels or "api" field names).
    The run gets a folder of its own under the log
    directory, so it never changes another run's files.
    """
    values = {**training_defaults(ctx), **{k: v for k, v in values.items() if v is not None}}
    name = str(values.get("hypernetwork") or "").strip()
    if not name:
        raise InvalidOptionError("Choose a hypernetwork to train (create one in the Create panel first).")
    found = find_hypernetwork(name, ctx)
    if found is None:
        raise InvalidOptionError(f"Hypernetwork {name!r} is not in the hypernetwork folders any more; "
                                 f"press refresh and choose again.")
    name, path = found
    what = WORDING[wording]
    data = DataOptions(str(values.get("data_dir") or "").strip(), name, **converted(DataOptions, values, what))
    if isinstance(data.template, str):
        data.template = data.template.strip()
    preview = PreviewOptions(**converted(PreviewOptions, values, what))
    params = txt2img_preview(txt2img) if values.get("preview_from_txt2img") and txt2img else \
        preview.params(data.width, data.height, data.seed)
    options = TrainingOptions(hypernetwork=str(path), log_dir="", data=data, preview=params,
                              **converted(TrainingOptions, values, what))
    options.learning_rate = options.learning_rate.strip()
    options.grad_clip_value = options.grad_clip_value.strip()
    options.log_dir = str(new_run_dir(values.get("log_dir"), name))
    return options.validate()


def start_training(options: TrainingOptions, ctx: HostContext, description: str = "") -> Job:
    """Run `Trainer(host, options).run()` as the background job; the host is fetched inside the job."""
    def job(progress):
        return Trainer(ctx.host(), options, progress).run()
    name = Path(options.hypernetwork).stem
    started = ctx.jobs.start("training", job, description=description or f"Training {name}", total=options.steps)
    started.data["run_dir"] = options.log_dir  # the live view plots the whole run from its loss.csv
    return started


def describe_start(options: TrainingOptions) -> str:
    return (f"Training {Path(options.hypernetwork).name} to step {options.steps}; "
            f"checkpoints, previews and loss.csv go to {options.log_dir}.")


# -- resume -----------------------------------------------------------------------------------
def start_resume(run: str, checkpoint: CheckpointInfo, steps: Any, ctx: HostContext) -> tuple[TrainingOptions, Job]:
    """Continue `run` from `checkpoint` with its saved options (to `steps`, else the run's own target)."""
    target = whole(steps, "Train until step") if steps not in (None, "", 0) else None
    options = resume_options(run, checkpoint, {"steps": target} if target else {})
    return options, start_training(options, ctx, description=f"Resuming {checkpoint.path.stem}")


def describe_resume(checkpoint: CheckpointInfo, options: TrainingOptions) -> str:
    how = ("exactly, with its optimizer state" if checkpoint.resumable
           else "with a fresh optimizer (its optimizer state is missing or does not match)")
    return f"Resuming from step {checkpoint.step} {how}. " + describe_start(options)


# -- using a run's checkpoint ------------------------------------------------------------------
def list_run_checkpoints(ctx: HostContext) -> list[RunCheckpoint]:
    """Every checkpoint of every run under the host's log folder (newest run first), then those of
    `other_run_roots` (named with the root's folder name: `textual_inversion/<date>/<name>`), each file once."""
    found = run_checkpoints(ctx.log_dir())
    for root in ctx.other_run_roots():
        found += run_checkpoints(root, named_from=Path(str(root)).expanduser().parent)
    seen: set[str] = set()
    unique = []
    for checkpoint in found:
        key = str(checkpoint.path.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(checkpoint)
    return unique


def use_run_checkpoint(ctx: HostContext, source: Any, name: Any, overwrite: bool = False,
                       wording: str = "panel") -> UsedCheckpoint:
    """Copy a checkpoint file into the first hypernetwork folder as NAME, so `<hypernet:NAME>` loads it.

    Refuses to replace a hypernetwork of that name unless `overwrite` (the refusal says how in the
    front end's words: `wording` is "panel", "api" or "cli"); the library is refreshed at once.
    """
    library = ctx.library()
    used = use_checkpoint(source, name, ctx.first_hypernetwork_dir(), bool(overwrite), OVERWRITE_HINTS[wording],
                          library=library)
    library.refresh(force=True)
    return used


# -- preprocessing ----------------------------------------------------------------------------
def preprocess_defaults() -> dict:
    return {"source": "", "destination": "", **option_defaults(PreprocessOptions)}


def preprocess_options(values: dict, wording: str = "panel") -> PreprocessOptions:
    """Validated PreprocessOptions from a front end's values (missing ones: the defaults)."""
    folders = {}
    for name in ("source", "destination"):
        folders[name] = str(values.get(name) or "").strip()
        if not folders[name]:
            raise InvalidOptionError(f"Enter the {name} folder.")
    given = {k: v for k, v in values.items() if v is not None}
    values = {**option_defaults(PreprocessOptions), **converted(PreprocessOptions, given, WORDING[wording])}
    options = PreprocessOptions(folders["source"], folders["destination"], **values)
    options.validate()
    return options


def start_preprocessing(values: dict, ctx: HostContext, wording: str = "panel") -> tuple[PreprocessOptions, Job]:
    """Validate, then start preprocessing as the background job; raises HypernetError (JobBusyError when busy)."""
    options = preprocess_options(values, wording)
    ctx.captioners.check(options.captioners)
    job = ctx.jobs.start("preprocessing", lambda progress: preprocess(options, progress, ctx.captioners),
                         description=f"Preprocess {options.source.name}")
    job.data["result_path"] = str(options.destination)
    return options, job


# -- status -----------------------------------------------------------------------------------
def status(ctx: HostContext) -> dict:
    return ctx.jobs.status()


def interrupt(ctx: HostContext) -> bool:
    """Ask the running job to stop (training saves a checkpoint first); False when none runs."""
    return ctx.jobs.interrupt()
