"""Webui callback wiring: one function per webui event, registered by `register_callbacks`."""
from __future__ import annotations

from typing import Any

from modules import script_callbacks

from . import settings
from .infotext import restore_prompt
from .runtime import runtime


def before_ui() -> None:
    """After the webui registered its defaults: replace the built-in handler and page."""
    from .captioners import register_webui_captioners
    from .cards import install_page
    from .network import install_network
    from .xyz import register_axes
    install_network(runtime)
    install_page(runtime)
    register_webui_captioners()
    register_axes()


def app_started(demo: Any, app: Any) -> None:
    from .api import mount_api
    mount_api(app)


def model_loaded(sd_model: Any) -> None:
    runtime.on_model_loaded(sd_model)


def infotext_pasted(infotext: str, params: dict) -> None:
    library = runtime.library
    names = set(library.names())
    restore_prompt(params, known=names.__contains__, name_for_hash=runtime.name_for_hash)


def ui_train_tabs(params: Any) -> None:
    """Our Create / Preprocess / Train / Resume panels, added to the webui's Train tab."""
    from .panels.train_tabs import on_ui_train_tabs
    on_ui_train_tabs(params)


def before_component(component: Any, **kwargs: Any) -> None:
    """Called for every component the webui builds: cheap unless it is the Train tab's output column."""
    from .panels.live_column import live_column
    live_column.before_component(component, **kwargs)


def after_component(component: Any, **kwargs: Any) -> None:
    from .panels.live_column import live_column
    live_column.after_component(component, **kwargs)


def script_unloaded() -> None:
    runtime.detach()


CALLBACKS = (
    ("on_before_ui", before_ui),
    ("on_ui_settings", settings.register_settings),
    ("on_ui_train_tabs", ui_train_tabs),
    ("on_before_component", before_component),
    ("on_after_component", after_component),
    ("on_app_started", app_started),
    ("on_model_loaded", model_loaded),
    ("on_infotext_pasted", infotext_pasted),
    ("on_script_unloaded", script_unloaded),
)


def register_callbacks() -> None:
    """Register every callback with the webui (runs each time the webui loads our script)."""
    for hook_name, callback in CALLBACKS:
        register = getattr(script_callbacks, hook_name, None)
        if register is None:  # a fork without this hook: that feature is simply unavailable
            continue
        try:
            register(callback, name="hypernet_ext")
        except TypeError:  # webui versions before 1.8 take no `name`
            register(callback)
