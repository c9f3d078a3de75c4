"""The extension's webui settings: option keys, defaults, registration and typed accessors.

Options live in the webui's `shared.opts`; before they are registered (early start-up, or a
fork without the settings hook) the accessors fall back to the defaults defined here.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..infotext import HASHES_INFOTEXT_KEY

SECTION = ("hypernet_ext", "Hypernetworks (hypernet-ext)")
TRAINING_SECTION = ("hypernet_ext_training", "Hypernetwork training (hypernet-ext)")
CATEGORIES = {SECTION: "sd", TRAINING_SECTION: "training"}  # webui v1.6+ settings categories


@dataclass(frozen=True)
class Setting:
    """One option: key, default, label, hint, and how the settings page edits it."""

    key: str
    default: Any
    label: str
    hint: str
    section: tuple[str, str] = SECTION
    component: Optional[str] = None  # gradio component name; None lets the webui pick by type
    component_args: Optional[dict] = None
    restart: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("hypernet_ext_extra_dirs", "", "Extra hypernetwork folders",
            "One folder per line (or separated by ';'); searched after the webui's --hypernetwork-dir.",
            component="Textbox", component_args={"lines": 2}),
    Setting("hypernet_ext_default_strength", 1.0, "Default hypernetwork strength",
            "Used for <hypernet:name> without a weight and for the weight inserted by a card click.",
            component="Slider", component_args={"minimum": -1.0, "maximum": 2.0, "step": 0.05}),
    Setting("hypernet_ext_strength_limit", 0.0, "Largest allowed strength (0 = no limit)",
            "Weights beyond +/- this value are clamped to it, with a warning.",
            component="Slider", component_args={"minimum": 0.0, "maximum": 10.0, "step": 0.1}),
    Setting("hypernet_ext_max_file_mb", 1024, "Refuse hypernetwork files larger than (MB, 0 = no limit)",
            "Guards against loading a misnamed checkpoint as a hypernetwork.",
            component="Number", component_args={"precision": 0}),
    Setting("hypernet_ext_warn_width_mismatch", True, "Warn when a hypernetwork does not fit the loaded model",
            "For example an SD1 (768) hypernetwork on an SD2 (1024) or SDXL (2048) checkpoint."),
    Setting("hypernet_ext_hashes_in_infotext", True, "Add hypernetwork names, strengths and hashes to infotext",
            f"Writes a '{HASHES_INFOTEXT_KEY}' field; pasting it restores renamed files by hash."),
    Setting("hypernet_ext_train_learn_rate", "0.00001", "Default learning rate (schedule syntax allowed)",
            "For example 0.00001 or 5e-5:100, 5e-6:1500, 1e-6.", section=TRAINING_SECTION),
    Setting("hypernet_ext_train_batch_size", 1, "Default batch size", "Images per optimizer step before "
            "gradient accumulation.", section=TRAINING_SECTION, component="Number", component_args={"precision": 0}),
    Setting("hypernet_ext_train_steps", 10000, "Default number of training steps", "Total optimizer steps.",
            section=TRAINING_SECTION, component="Number", component_args={"precision": 0}),
    Setting("hypernet_ext_train_save_every", 500, "Default: save a copy every N steps (0 = never)",
            "Snapshots are written next to the hypernetwork as <name>-<step>.", section=TRAINING_SECTION,
            component="Number", component_args={"precision": 0}),
    Setting("hypernet_ext_train_preview_every", 500, "Default: render a preview every N steps (0 = never)",
            "Previews use the txt2img settings or the training prompt.", section=TRAINING_SECTION,
            component="Number", component_args={"precision": 0}),
    Setting("hypernet_ext_train_save_optimizer", True, "Save optimizer state for resuming",
            "Writes a .optim file beside each saved hypernetwork.", section=TRAINING_SECTION),
    # Safety (issue 15): what the REST API may touch, and bounds for absurd values (see hypernet_ext/limits.py).
    Setting("hypernet_ext_api_folders", "", "Extra folders the API may read and write",
            "One per line. Besides the webui's own folders (data dir, hypernetwork folders, outputs).",
            component="Textbox", component_args={"lines": 2}),
    Setting("hypernet_ext_api_any_path", False, "Let the API use any path on this machine",
            "Off: log_dir, data, destination and template paths must lie in the webui's folders. Turn on only "
            "if the API is not reachable by others (--listen --api exposes it)."),
    Setting("hypernet_ext_limits", "", "Raise safety limits",
            "name=value per line, e.g. grad_accum=4096 or steps=50000000 (see the README's safety section).",
            component="Textbox", component_args={"lines": 2}),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


def option(key: str) -> Any:
    """Current value of one of our options (its default when the webui has not registered it)."""
    from modules import shared
    default = SETTINGS_BY_KEY[key].default
    opts = getattr(shared, "opts", None)
    if opts is None:
        return default
    try:
        value = getattr(opts, key)
    except AttributeError:
        return default
    return default if value is None else value


def float_option(key: str) -> float:
    try:
        return float(option(key))
    except (TypeError, ValueError):
        return float(SETTINGS_BY_KEY[key].default)


def split_folders(text: str) -> list[str]:
    """Split the extra-folders text on new lines and ';' (never on ':' so drive letters survive)."""
    return [part.strip().strip('"') for part in re.split(r"[;\r\n]+", text or "") if part.strip()]


def hypernetwork_folders() -> list[str]:
    """The webui's --hypernetwork-dir first, then the extra folders; absolute, without repeats."""
    from modules import shared
    folders = []
    base = getattr(getattr(shared, "cmd_opts", None), "hypernetwork_dir", None)
    for folder in ([base] if base else []) + split_folders(str(option("hypernet_ext_extra_dirs"))):
        folder = os.path.abspath(os.path.expanduser(folder))
        if folder not in folders:
            folders.append(folder)
    return folders


def _component(name: Optional[str]) -> Optional[Callable]:
    if name is None:
        return None
    import gradio as gr
    return getattr(gr, name)


def option_info(setting: Setting):
    """The webui `OptionInfo` for a setting, with its hint shown under the label."""
    from modules import shared
    info = shared.OptionInfo(setting.default, setting.label, _component(setting.component),
                             setting.component_args, section=setting.section)
    if hasattr(info, "category_id"):
        info.category_id = CATEGORIES.get(setting.section)
    info = info.info(setting.hint) if hasattr(info, "info") else info
    return info.needs_restart() if setting.restart and hasattr(info, "needs_restart") else info


def register_settings() -> None:
    """`on_ui_settings` callback: add every option to the webui's settings page."""
    from modules import shared
    for setting in SETTINGS:
        shared.opts.add_option(setting.key, option_info(setting))
    from .. import limits  # "Raise safety limits" applies to panels and API alike
    limits.use_settings_source(lambda: option("hypernet_ext_limits"))
