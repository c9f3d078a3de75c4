"""Inside the webui, our live view sits in the Train tab's right-hand column (issue 10), built through the
webui's component callbacks. The stand-in's `before/after_component_callback` are called where the real
webui's patched gradio constructors call them, on a copy of its Train-tab layout (modules/ui.py, v1.10.1)."""
from __future__ import annotations

import pytest

from helpers_webui import load_script, webui  # noqa: F401  (fixture: the webui stand-in)

gradio = pytest.importorskip("gradio")

OURS = "Train hypernetwork (hypernet-ext)"


def _train_tab(m, with_column: bool = True):
    """The webui's Train tab: tabs (built-in ones, then the extensions') left, the output column right."""
    with gradio.Blocks() as demo:
        with gradio.Row():
            tabs = gradio.Tabs(elem_id="train_tabs")
            m.script_callbacks.after_component_callback(tabs, elem_id="train_tabs")
            with tabs:
                with gradio.Tab("Train"):
                    gradio.Textbox(label="Embedding")
                m.script_callbacks.ui_train_tabs_callback(m.script_callbacks.UiTrainTabParams(None))
            if with_column:
                with gradio.Column(elem_id="ti_gallery_container"):
                    m.script_callbacks.before_component_callback(None, elem_id="ti_output")
                    gradio.Text(elem_id="ti_output", show_label=False)
                    gradio.HTML(elem_id="ti_error")
    return demo


def _by_id(demo, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def _position(layout, block) -> int:
    """Index of the child of `layout` that is `block` or holds it (gradio wraps form fields in a Form)."""
    return next(i for i, child in enumerate(layout.children) if child is block or block in getattr(child, "children", []))


def test_live_view_fills_the_right_hand_column_and_leaves_the_forms(webui):
    load_script()
    from hypernet_ext.webui.panels.live_column import live_column
    demo = _train_tab(webui.modules)
    column = _by_id(demo, "ti_gallery_container")
    ours = _by_id(demo, "hnx_webui_live")
    assert _position(column, ours) < _position(column, _by_id(demo, "ti_output"))  # at the top
    assert _by_id(demo, "hnx_webui_live_status") in ours.children
    for elem_id in ("hnx_train_loss_plot", "hnx_train_preview_image", "hnx_train_live_refresh",
                    "hnx_resume_loss_plot", "hnx_resume_preview_image", "hnx_resume_live_refresh"):
        assert not _by_id(demo, elem_id).visible, elem_id  # no second, squeezed copy under the forms
    for panel in ("train", "resume", "preprocess"):  # a status block that also carries the panel's messages stays
        has_messages = any(getattr(b, "elem_id", None) == f"hnx_{panel}_message" for b in demo.blocks.values())
        assert _by_id(demo, f"hnx_{panel}_live_status").visible is not has_messages, panel
    assert _by_id(demo, "hnx_train_live").visible is _by_id(demo, "hnx_train_live_status").visible
    view = live_column.view
    show = view["show_for"]
    assert not ours.visible  # the webui opens its own first tab
    assert show(gradio.SelectData(None, {"index": 2, "value": OURS}))[0]["visible"] is True
    assert show(gradio.SelectData(None, {"index": 0, "value": "Train"}))[0]["visible"] is False
    assert show(gradio.SelectData(None, {"index": 1, "value": "Create hypernetwork (hypernet-ext)"}))[0]["visible"] \
        is False  # Create runs no job
    tabs, status = _by_id(demo, "train_tabs"), _by_id(demo, "hnx_train_live_status")
    events = [(tuple(d["targets"]), d["trigger"], d["outputs"]) for d in demo.config["dependencies"]]
    assert ((tabs._id,), "select", [ours._id, view["status"]._id, view["loss_plot"]._id,
                                    view["preview_image"]._id]) in events
    assert any(t == (status._id,) and trigger == "change" and view["status"]._id in o for t, trigger, o in events)


def test_live_view_shows_the_panels_job(webui):
    load_script()
    from hypernet_ext.webui.panels.live_column import live_column
    from hypernet_ext.webui.context import job_manager
    _train_tab(webui.modules)
    job = job_manager().start("preprocessing", lambda progress: "Preprocessed 2 image(s)\n  skipped a.png: broken",
                              description="Preprocessing raw")
    job.done.wait(10)
    status, plot, preview = live_column.view["refresh_fn"]()
    assert "Preprocessing raw" in status and 'data-hnx-state="finished"' in status
    assert "<li>skipped a.png: broken</li>" in status and plot is None and preview is None


def test_without_the_webuis_column_the_panels_keep_their_live_views(webui):
    load_script()
    from hypernet_ext.webui.panels.live_column import live_column
    demo = _train_tab(webui.modules, with_column=False)
    assert live_column.view is None
    assert _by_id(demo, "hnx_train_live").visible and _by_id(demo, "hnx_train_live_status").visible
