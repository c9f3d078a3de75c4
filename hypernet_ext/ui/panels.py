"""The four training panels as tabs, wired to each other, and the panels' JavaScript."""
from __future__ import annotations

from pathlib import Path

from . import create_panel, preprocess_panel, resume_panel, train_panel
from .context import PanelContext

JS_NAME = "hypernet_ext_panels.js"
# In a checkout (and the webui extension) the script sits in javascript/; an installed package has a copy.
JS_PLACES = (Path(__file__).resolve().parents[2] / "javascript" / JS_NAME,
             Path(__file__).resolve().parent / "assets" / JS_NAME)
CSS_NAME = "style.css"
CSS_PLACES = (Path(__file__).resolve().parents[2] / CSS_NAME, Path(__file__).resolve().parent / "assets" / CSS_NAME)
TABS = (("Create hypernetwork", "create"), ("Preprocess images", "preprocess"), ("Train hypernetwork", "train"),
        ("Resume training", "resume"))


def build_panel_tabs(ctx: PanelContext, tab_prefix: str = "hnx_tab", title_suffix: str = "") -> dict[str, dict]:
    """Create one `gr.Tab` per panel in the current gradio Tabs context; returns components per panel
    (plus `"tabs"`: the `gr.Tab` of each panel).

    `title_suffix` is appended to every tab title (the webui's Train tab already has tabs named
    "Create hypernetwork" and "Train", so ours must be told apart)."""
    import gradio as gr
    builders = {"create": create_panel.build, "preprocess": preprocess_panel.build, "train": train_panel.build,
                "resume": resume_panel.build}
    panels: dict[str, dict] = {"tabs": {}}
    for title, key in TABS:
        with gr.Tab(title + title_suffix, elem_id=f"{tab_prefix}_{key}") as tab:
            panels[key] = builders[key](ctx)
        panels["tabs"][key] = tab
    train = panels["train"]
    # After (not beside) the creation, or the list would be read before the file is written.
    panels["create"]["create_event"].then(train["refresh_list_fn"], inputs=[train["hypernetwork"]],
                                          outputs=[train["hypernetwork"]], show_progress="hidden")
    for key, tab in panels["tabs"].items():
        refresh_on_select(tab, panels[key])
    return panels


def refresh_on_select(tab, components: dict) -> None:
    """Opening a tab brings its lists and live view up to date (another tab or page may have changed them)."""
    if "on_tab_open" in components:
        fn, inputs, outputs = components["on_tab_open"]
        tab.select(fn, inputs=inputs, outputs=outputs, show_progress="hidden", queue=False)


def panels_javascript() -> str:
    """The source of `javascript/hypernet_ext_panels.js` (tooltips and live-view polling)."""
    return _asset(JS_PLACES)


def panels_stylesheet() -> str:
    """The source of `style.css` (messages, errors, live view); the webui loads it by itself, the
    standalone UI passes it to gr.Blocks(css=...)."""
    return _asset(CSS_PLACES)


def _asset(places: tuple) -> str:
    for place in places:
        if place.is_file():
            return place.read_text(encoding="utf-8")
    raise FileNotFoundError(f"{places[0].name} is missing from {' and '.join(str(p.parent) for p in places)}; "
                            f"reinstall")
