"""Stand-in of `modules.script_callbacks`: registration with `on_*`, invocation with `*_callback`.

Like the webui, every invocation helper catches and reports a callback's exception, and
`before_ui` / `script_unloaded` callbacks run in reverse registration order.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Any, Optional

from modules import errors


class UiTrainTabParams:
    def __init__(self, txt2img_preview_params):
        self.txt2img_preview_params = txt2img_preview_params


@dataclasses.dataclass
class ScriptCallback:
    script: str
    callback: Any
    name: str = "unnamed"


CATEGORIES = (
    "app_started", "model_loaded", "ui_tabs", "ui_train_tabs", "ui_settings", "before_image_saved",
    "image_saved", "extra_noise", "cfg_denoiser", "cfg_denoised", "cfg_after_cfg", "before_component",
    "after_component", "image_grid", "infotext_pasted", "script_unloaded", "before_ui", "on_reload",
    "list_optimizers", "list_unets", "before_token_counter",
)
callback_map: dict[str, list[ScriptCallback]] = {f"callbacks_{c}": [] for c in CATEGORIES}


def add_callback(callbacks, fun, *, name=None, category="unknown", filename=None):
    if filename is None:
        stack = [x for x in inspect.stack() if x.filename != __file__]
        filename = stack[0].filename if stack else "unknown file"
    callback_name = f"base/{os.path.basename(filename)}/{category}"
    if name is not None:
        callback_name += f"/{name}"
    unique = callback_name
    for index in range(1000):
        if not any(x.name == unique for x in callbacks):
            break
        unique = f"{callback_name}-{index + 1}"
    callbacks.append(ScriptCallback(filename, fun, unique))


def clear_callbacks() -> None:
    for callback_list in callback_map.values():
        callback_list.clear()


def ordered_callbacks(category):
    return list(callback_map["callbacks_" + category])


def _run(category, *args, reverse=False):
    callbacks = ordered_callbacks(category)
    results = []
    for c in (reversed(callbacks) if reverse else callbacks):
        try:
            results.append(c.callback(*args))
        except Exception:
            errors.report(f"Error executing callback {category} for {c.script}", exc_info=True)
    return results


def app_started_callback(demo, app):
    _run("app_started", demo, app)


def model_loaded_callback(sd_model):
    _run("model_loaded", sd_model)


def ui_tabs_callback():
    return [tab for result in _run("ui_tabs") for tab in (result or [])]


def ui_train_tabs_callback(params: UiTrainTabParams):
    _run("ui_train_tabs", params)


def before_component_callback(component, **kwargs):
    """The real webui calls this from its patched gradio component constructors, before each one."""
    for c in ordered_callbacks("before_component"):
        try:
            c.callback(component, **kwargs)
        except Exception:
            errors.report(f"Error executing callback before_component for {c.script}", exc_info=True)


def after_component_callback(component, **kwargs):
    """... and this after each one (layouts included), with the constructor's keyword arguments."""
    for c in ordered_callbacks("after_component"):
        try:
            c.callback(component, **kwargs)
        except Exception:
            errors.report(f"Error executing callback after_component for {c.script}", exc_info=True)


def ui_settings_callback():
    _run("ui_settings")


def infotext_pasted_callback(infotext: str, params: dict[str, Any]):
    _run("infotext_pasted", infotext, params)


def script_unloaded_callback():
    _run("script_unloaded", reverse=True)


def before_ui_callback():
    _run("before_ui", reverse=True)


def app_reload_callback():
    _run("on_reload")


def _register(category):
    def on(callback, *, name: Optional[str] = None):
        add_callback(callback_map["callbacks_" + category], callback, name=name, category=category)
    on.__name__ = f"on_{category}"
    return on


on_app_started = _register("app_started")
on_before_reload = _register("on_reload")
on_model_loaded = _register("model_loaded")
on_ui_tabs = _register("ui_tabs")
on_ui_train_tabs = _register("ui_train_tabs")
on_ui_settings = _register("ui_settings")
on_before_image_saved = _register("before_image_saved")
on_image_saved = _register("image_saved")
on_extra_noise = _register("extra_noise")
on_cfg_denoiser = _register("cfg_denoiser")
on_cfg_denoised = _register("cfg_denoised")
on_cfg_after_cfg = _register("cfg_after_cfg")
on_before_component = _register("before_component")
on_after_component = _register("after_component")
on_image_grid = _register("image_grid")
on_infotext_pasted = _register("infotext_pasted")
on_script_unloaded = _register("script_unloaded")
on_before_ui = _register("before_ui")
on_list_optimizers = _register("list_optimizers")
on_list_unets = _register("list_unets")
on_before_token_counter = _register("before_token_counter")
