"""Run bookkeeping: freezing the host's models, and the settings/metadata a run records."""
from __future__ import annotations

import datetime
from typing import Callable

from torch import nn

from ..widths import host_family

FROZEN_ATTRIBUTES = ("unet", "vae", "text_encoder", "first_stage_model", "cond_stage_model", "model")


def freeze_host(host) -> Callable[[], None]:
    """Set requires_grad=False on every parameter of the host's models; returns a function that undoes it."""
    thawed: list[nn.Parameter] = []
    seen: set[int] = set()
    for attribute in FROZEN_ATTRIBUTES:
        module = getattr(host, attribute, None)
        if not isinstance(module, nn.Module):
            continue
        for parameter in module.parameters():
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            if parameter.requires_grad:
                thawed.append(parameter)
                parameter.requires_grad_(False)

    def restore() -> None:
        for parameter in thawed:
            parameter.requires_grad_(True)
    return restore


_METADATA_KEYS = ("learning_rate", "lr_scheduler", "optimizer", "optimizer_args", "grad_accum", "precision",
                  "grad_clip", "grad_clip_value", "steps", "gradient_checkpointing")
_DATA_KEYS = ("template", "width", "height", "resize", "buckets", "batch_size", "shuffle_tags",
              "keep_first_tags", "tag_dropout", "flip", "latent_sampling", "use_alpha_weight", "seed")


def training_metadata(host, options, data) -> dict:
    """What `hn.metadata["training"]` records: settings, base model and a dataset summary."""
    settings = {key: getattr(options, key) for key in _METADATA_KEYS}
    if options.lr_scheduler == "cosine":
        settings.update({k: getattr(options, k) for k in ("cosine_cycle_steps", "cosine_cycle_mult",
                                                           "cosine_warmup", "cosine_min_lr", "cosine_gamma")})
    settings.update({f"data_{key}": _plain(getattr(options.data, key)) for key in _DATA_KEYS})
    return {
        "settings": settings,
        "base_model": {"name": getattr(host, "model_name", None), "hash": getattr(host, "model_hash", None),
                       "parameterization": getattr(host, "parameterization", None),
                       "family": host_family(host)},
        "dataset": {"images": len(data), "summary": data.report.summary()},
        "trained_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def training_settings(host, options, hypernetwork, data, start_step: int) -> dict:
    """The settings JSON of a run: every option, the model, the hypernetwork and the dataset."""
    return {
        "datetime": datetime.datetime.now().isoformat(timespec="seconds"),
        "options": options.to_dict(),
        "model_name": getattr(host, "model_name", None),
        "model_hash": getattr(host, "model_hash", None),
        "hypernetwork": {"name": hypernetwork.name, "description": hypernetwork.describe(),
                         "start_step": int(start_step)},
        "dataset": {"images": len(data), "summary": data.report.summary()},
    }


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
