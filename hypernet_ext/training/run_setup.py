"""Run bookkeeping: freezing the host's models, and the settings/metadata a run records."""
from __future__ import annotations

import datetime
from typing import Callable

from torch import nn

from .run_folder import option_values
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


def training_metadata(host, options, data) -> dict:
    """What `hn.metadata["training"]` records: every declared option, base model and a dataset summary."""
    return {
        "settings": option_values(options),
        "base_model": {"name": getattr(host, "model_name", None), "hash": getattr(host, "model_hash", None),
                       "parameterization": getattr(host, "parameterization", None),
                       "text_conditioning": _text_conditioning(host), "family": host_family(host)},
        "dataset": {"images": len(data), "summary": data.report.summary()},
        "trained_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def training_settings(host, options, hypernetwork, data, start_step: int) -> dict:
    """The settings JSON of a run: every option, the model, the hypernetwork and the dataset."""
    return {
        "datetime": datetime.datetime.now().isoformat(timespec="seconds"),
        "options": options.to_dict(),
        "option_values": option_values(options),
        "model_name": getattr(host, "model_name", None),
        "model_hash": getattr(host, "model_hash", None),
        "text_conditioning": _text_conditioning(host),
        "hypernetwork": {"name": hypernetwork.name, "description": hypernetwork.describe(),
                         "start_step": int(start_step)},
        "dataset": {"images": len(data), "summary": data.report.summary()},
    }



def _text_conditioning(host):
    """Clip skip and emphasis settings of a host that reports them (the standalone host), else None."""
    report = getattr(host, "text_conditioning", None)
    return report() if callable(report) else None
