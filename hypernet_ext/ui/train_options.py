"""Train panel values -> TrainingOptions, and starting a training job (no gradio here)."""
from __future__ import annotations

import re
from dataclasses import MISSING
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import HypernetError, InvalidOptionError
from ..training.command import parse_optimizer_args
from ..training.data import DataOptions
from ..training.host import PreviewParams
from ..training.options import TrainingOptions
from .context import PanelContext

DATA_FIELDS = ("data_dir", "template", "width", "height", "resize", "buckets", "batch_size", "shuffle_tags",
               "keep_first_tags", "tag_dropout", "flip", "latent_sampling", "use_alpha_weight", "seed",
               "filename_word_regex", "filename_join_string", "recursive")
OPTION_FIELDS = ("steps", "learning_rate", "lr_scheduler", "cosine_cycle_steps", "cosine_cycle_mult", "cosine_warmup",
                 "cosine_min_lr", "cosine_gamma", "grad_clip", "grad_clip_value", "optimizer", "optimizer_args",
                 "grad_accum", "precision", "gradient_checkpointing", "save_every", "preview_every",
                 "save_final_to_source", "loss_guard_threshold", "loss_guard_steps", "csv_every", "tensorboard",
                 "save_optimizer_state")
PREVIEW_FIELDS = ("preview_prompt", "preview_negative", "preview_steps", "preview_cfg", "preview_seed")
FIELDS = ("hypernetwork", "log_dir", *OPTION_FIELDS, *DATA_FIELDS, "preview_from_txt2img", *PREVIEW_FIELDS)
INT_FIELDS = ("steps", "cosine_cycle_steps", "cosine_warmup", "grad_accum", "save_every", "preview_every",
              "loss_guard_steps", "csv_every", "width", "height", "batch_size", "keep_first_tags", "seed",
              "preview_steps", "preview_seed")
HYPERNETWORK_SUFFIXES = (".pt", ".safetensors")
TXT2IMG_FIELDS = ("prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed", "width", "height")


def whole(value: Any, label: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{label} must be a whole number, got {value!r}.") from None
    if not number.is_integer():
        raise InvalidOptionError(f"{label} must be a whole number, got {value!r}.")
    return int(number)


def parse_optimizer_text(text: str) -> dict:
    """'weight_decay=0.01; betas=(0.9, 0.99)' (one per line or ';'-separated) -> keyword arguments."""
    items = [part.strip() for part in re.split(r"[;\n]+", text or "") if part.strip()]
    return parse_optimizer_args(items)


def optimizer_arguments(value: Any) -> dict:
    """Optimizer keyword arguments from panel text (see `parse_optimizer_text`) or a ready dict."""
    return dict(value) if isinstance(value, dict) else parse_optimizer_text(value or "")


def find_hypernetwork(name_or_path: str, ctx: PanelContext) -> Optional[tuple[str, Path]]:
    """(name, file) of a library name, or of the path of an existing .pt/.safetensors file; None if neither."""
    path = ctx.library().path(name_or_path)
    if path is not None:
        return name_or_path, Path(path)
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix.lower() in HYPERNETWORK_SUFFIXES and candidate.is_file():
        return candidate.stem, candidate
    return None


def default_values(ctx: PanelContext) -> dict:
    """The Train panel's initial value of every field in FIELDS (host settings, else the options' defaults)."""
    values = {f.name: f.default for f in (*dc_fields(TrainingOptions), *dc_fields(DataOptions))
              if f.name in OPTION_FIELDS + DATA_FIELDS and f.default is not MISSING}
    preview, d = PreviewParams(""), ctx.defaults
    values.update(hypernetwork="", log_dir=ctx.log_dir(), data_dir="", optimizer_args="", loss_guard_threshold=0,
                  preview_from_txt2img=False, preview_prompt="", preview_negative="", preview_steps=preview.steps,
                  preview_cfg=preview.cfg_scale, preview_seed=preview.seed, learning_rate=d.learning_rate,
                  batch_size=d.batch_size, steps=d.steps, save_every=d.save_every, preview_every=d.preview_every,
                  save_optimizer_state=d.save_optimizer_state, width=d.width, height=d.height)
    return {name: values[name] for name in FIELDS}


def run_dir(log_root: str, name: str) -> Path:
    """Where a run of hypernetwork `name` writes: `<log root>/<name>`."""
    if not str(log_root or "").strip():
        raise InvalidOptionError("Log directory is empty; give a folder for checkpoints, previews and logs.")
    from ..safe_paths import inside, safe_component
    return inside(Path(str(log_root)).expanduser(), safe_component(name))


def preview_params(values: dict, txt2img: Optional[Sequence], width: int, height: int) -> Optional[PreviewParams]:
    """Preview settings: the txt2img tab's when asked (webui), else the panel's prompt, else None (caption)."""
    if values.get("preview_from_txt2img") and txt2img:
        t = dict(zip(TXT2IMG_FIELDS, txt2img))
        return PreviewParams(str(t["prompt"] or ""), str(t["negative_prompt"] or ""), whole(t["steps"], "Steps"),
                             float(t["cfg_scale"]), whole(t["seed"], "Seed"), whole(t["width"], "Width"),
                             whole(t["height"], "Height"), sampler=t["sampler"] or None)
    prompt = str(values.get("preview_prompt") or "").strip()
    if not prompt:
        return None
    return PreviewParams(prompt, str(values.get("preview_negative") or ""), whole(values["preview_steps"], "Preview steps"),
                         float(values["preview_cfg"]), whole(values["preview_seed"], "Preview seed"), width, height)


def training_options(values: dict, ctx: PanelContext, txt2img: Optional[Sequence] = None) -> TrainingOptions:
    """Validated TrainingOptions from the panel's values (raises InvalidOptionError naming the field)."""
    values = dict(values)
    for name in INT_FIELDS:
        if name in values and values[name] is not None:
            values[name] = whole(values[name], name.replace("_", " ").capitalize())
    name = str(values.get("hypernetwork") or "").strip()
    if not name:
        raise InvalidOptionError("Choose a hypernetwork to train (create one in the Create panel first).")
    found = find_hypernetwork(name, ctx)
    if found is None:
        raise InvalidOptionError(f"Hypernetwork {name!r} is not in the hypernetwork folders any more; "
                                 f"press refresh and choose again.")
    name, path = found
    data = DataOptions(name=name, **{k: values[k] for k in DATA_FIELDS})
    data.data_dir = str(data.data_dir or "").strip()
    if isinstance(data.template, str):
        data.template = data.template.strip()
    guard = float(values.get("loss_guard_threshold") or 0)
    options = TrainingOptions(
        hypernetwork=str(path), log_dir=str(run_dir(values["log_dir"], name)), data=data,
        preview=preview_params(values, txt2img, data.width, data.height),
        **{k: values[k] for k in OPTION_FIELDS if k not in ("optimizer_args", "loss_guard_threshold")},
        optimizer_args=optimizer_arguments(values.get("optimizer_args")),
        loss_guard_threshold=guard if guard > 0 else None)
    options.learning_rate = str(options.learning_rate).strip()
    options.grad_clip_value = str(options.grad_clip_value).strip()
    return options.validate()


def start_training(options: TrainingOptions, ctx: PanelContext, description: str = ""):
    """Run `Trainer(host, options).run()` as the background job; the host is fetched inside the job."""
    from ..training.trainer import Trainer

    def job(progress):
        host = ctx.host()
        return Trainer(host, options, progress).run()
    try:
        name = Path(options.hypernetwork).stem
    except TypeError:
        name = "hypernetwork"
    return ctx.jobs.start("training", job, description=description or f"Training {name}", total=options.steps)


def describe_start(options: TrainingOptions) -> str:
    return (f"Training {Path(options.hypernetwork).name} to step {options.steps}; "
            f"checkpoints, previews and loss.csv go to {options.log_dir}.")


__all__ = ["FIELDS", "HypernetError", "default_values", "find_hypernetwork", "preview_params", "run_dir",
           "start_training", "training_options"]
