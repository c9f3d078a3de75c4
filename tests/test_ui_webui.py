"""Webui wiring of the panels (against the webui stand-in): train tabs, shared.state mirroring and interrupt."""
from __future__ import annotations

import threading

import pytest

from hypernet_ext.jobs import JobManager

from helpers_webui import webui  # noqa: F401  (fixture: the webui stand-in with this extension loaded)

gradio = pytest.importorskip("gradio")


def test_train_tabs_build_with_the_txt2img_preview_inputs(webui):
    from hypernet_ext.webui.panels import train_tabs
    with gradio.Blocks() as demo:
        with gradio.Tabs():
            preview = [gradio.Textbox(), gradio.Textbox(), gradio.Number(20), gradio.Dropdown(["Euler a"]),
                       gradio.Number(7), gradio.Number(-1), gradio.Number(512), gradio.Number(512)]
            train_tabs.on_ui_train_tabs(type("Params", (), {"txt2img_preview_params": preview})())
    boxes = [b for b in demo.blocks.values() if getattr(b, "elem_id", "") == "hnx_train_from_txt2img"]
    assert boxes and boxes[0].visible
    start = [d for d in demo.config["dependencies"] if d.get("js") == "hypernetExtStartJob"]
    assert any(all(preview_block._id in d["inputs"] for preview_block in preview) for d in start)


def test_train_tab_titles_differ_from_the_webuis_own_tabs(webui):
    """The real webui's Train tab already has "Create hypernetwork" and "Train" tabs beside ours."""
    from hypernet_ext.webui.panels import train_tabs
    with gradio.Blocks() as demo:
        with gradio.Tabs():
            gradio.Tab("Create hypernetwork")  # the webui's built-in tab titles
            gradio.Tab("Train")
            train_tabs.on_ui_train_tabs(type("Params", (), {"txt2img_preview_params": None})())
    titles = [b.label for b in demo.blocks.values() if isinstance(b, gradio.Tab)]
    ours = [t for t in titles if t.endswith(train_tabs.WEBUI_TAB_SUFFIX)]
    assert len(ours) == 4 and len(set(titles)) == len(titles)


def test_observer_mirrors_progress_and_honours_the_webui_interrupt(webui):
    from modules import shared
    from hypernet_ext.webui.panels.state import WebuiStateObserver
    gate, stepped = threading.Event(), threading.Event()

    def job(progress):
        progress.start(10, "Training style")
        progress.update(step=3, loss=0.25)
        stepped.set()
        while not progress.cancelled:
            gate.wait(0.01)
        return None
    jobs = JobManager(observers=[WebuiStateObserver()], poll_interval=0.01)
    jobs.start("training", job, "Training style")
    assert stepped.wait(10)
    for _ in range(1000):
        if shared.state.sampling_step == 3:
            break
        gate.wait(0.01)
    assert (shared.state.sampling_step, shared.state.sampling_steps) == (3, 10)
    assert "loss 0.2500" in shared.state.textinfo and shared.state.job == "hypernet_ext_training"
    shared.state.interrupt()  # the webui's Interrupt button
    finished = jobs.wait(10)
    assert not finished.running and shared.state.job == ""


def test_saved_form_values_do_not_share_keys_with_the_builtin_train_tab(webui):
    """ui-config.json keys are `train/<label>`; ours carry the webui's script prefix instead."""
    from hypernet_ext.webui.panels import train_tabs
    with gradio.Blocks() as demo:
        with gradio.Tabs():
            with gradio.Tab("Train"):
                builtin = gradio.Textbox("textual_inversion", label="Log directory")
            train_tabs.on_ui_train_tabs(type("Params", (), {"txt2img_preview_params": None})())
    inputs = (gradio.Textbox, gradio.Number, gradio.Slider, gradio.Checkbox, gradio.Dropdown, gradio.Radio)
    ours = [b for b in demo.blocks.values() if isinstance(b, inputs) and b is not builtin]
    assert ours and all(getattr(b, "custom_script_source", None) == train_tabs.UI_CONFIG_SOURCE for b in ours)
    assert any(b.label == "Log directory" for b in ours)
    assert getattr(builtin, "custom_script_source", None) is None


def test_train_tabs_fill_live_views_and_lists_when_a_page_opens(webui):
    """Inside the webui, too, a page that opens reads the running job and the lists afresh (issue 10):
    the panels' load events travel with the webui's Train tab Blocks into its page."""
    from hypernet_ext.webui.panels import train_tabs
    with gradio.Blocks() as train_interface:
        with gradio.Tabs():
            train_tabs.on_ui_train_tabs(type("Params", (), {"txt2img_preview_params": None})())
    with gradio.Blocks() as page:
        train_interface.render()  # what the webui does with each tab's Blocks
    ids = {getattr(b, "elem_id", None): i for i, b in page.blocks.items()}
    loaded = {o for d in page.config["dependencies"] if d["trigger"] == "load" for o in d["outputs"]}
    for elem_id in ("hnx_train_live_status", "hnx_train_hypernetwork",
                    "hnx_resume_live_status", "hnx_resume_run", "hnx_resume_table",
                    "hnx_preprocess_live_status"):
        assert ids[elem_id] in loaded, elem_id
