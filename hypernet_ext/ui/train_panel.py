"""Train panel: every training option, a refreshable hypernetwork list, optional txt2img preview
parameters (webui), and the live view (step, loss, it/s, ETA, loss plot, latest preview)."""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import HypernetError
from ..service import (TRAIN_INPUTS, TRAIN_OPTION_CLASSES, describe_start, interrupt, start_training, status,
                       training_defaults, training_options)
from . import messages
from .context import PanelContext
from .live import live_outputs, status_html, wire_live_view
from .page_events import on_page_load
from .option_components import build_options, panel_specs, titles_html

# (group, accordion title): None keeps the group open at the top; groups declared later go to "More options".
LAYOUT = (("run", None), ("optimization", "Optimizer, schedule and precision"), ("data", "Dataset and captions"),
          ("outputs", "Outputs and safety"), ("preview", "Preview images"),
          ("validation", "Validation loss and early stop"))
SPECS = panel_specs(TRAIN_OPTION_CLASSES)
FIELDS = (*TRAIN_INPUTS, *(spec.name for spec in SPECS), "preview_from_txt2img")


def start_html(values: dict, ctx: PanelContext, txt2img: Optional[Sequence] = None, task_id: str = "") -> str:
    """Validate and start training; the message (an error leaves every field as typed and shows what to fix).

    The message has a place of its own beside the live view: a status refresh never overwrites it,
    and an error is not shown inside the previous job's table."""
    try:
        options = training_options(values, ctx, txt2img)
        job = start_training(options, ctx)
        job.data["task_id"] = task_id
    except HypernetError as exc:
        return messages.error(str(exc))
    return messages.ok(describe_start(options))


def interrupt_html(ctx: PanelContext) -> str:
    if not interrupt(ctx):
        return messages.note("No job is running.")
    return messages.note("Interrupting: the current step finishes and a checkpoint is saved.")


def hypernetwork_choices(ctx: PanelContext) -> list[str]:
    try:
        return ctx.library().names()
    except HypernetError:
        return []


def build(ctx: PanelContext, prefix: str = "hnx_train") -> dict:
    """Lay out the panel (one generated component per declared option); returns its components by name."""
    import gradio as gr
    values = training_defaults(ctx)
    c: dict = {}
    names = hypernetwork_choices(ctx)
    with gr.Row(elem_id=prefix, elem_classes=["hnx-panel"]):
        with gr.Column(scale=3):
            with gr.Row():
                c["hypernetwork"] = gr.Dropdown(names, value=names[0] if names else None, label="Hypernetwork to train",
                                                elem_id=f"{prefix}_hypernetwork")
                c["refresh_list"] = gr.Button("Refresh list", size="sm", elem_id=f"{prefix}_refresh_list")
            with gr.Row():
                c["data_dir"] = gr.Textbox(label="Dataset directory", elem_id=f"{prefix}_data_dir")
                c["log_dir"] = gr.Textbox(values["log_dir"], label="Log directory", elem_id=f"{prefix}_log_dir")
            c["preview_from_txt2img"] = gr.Checkbox(
                False, label="Read parameters (prompt, etc...) from txt2img tab when making previews",
                visible=ctx.preview_inputs is not None, elem_id=f"{prefix}_from_txt2img")
            c.update(build_options(gr, SPECS, values, prefix, LAYOUT))
            c["option_titles"] = gr.HTML(titles_html(SPECS), elem_id=f"{prefix}_option_titles")
            with gr.Row():
                c["start"] = gr.Button("Train hypernetwork", variant="primary", elem_id=f"{prefix}_start")
                c["interrupt"] = gr.Button("Interrupt", elem_id=f"{prefix}_interrupt")
            c["message"] = gr.HTML(elem_id=f"{prefix}_message")
        with gr.Column(scale=2, elem_id=f"{prefix}_live", elem_classes=["hnx-live-column"]):
            with gr.Row():
                c["refresh"] = gr.Button("Refresh status", size="sm", elem_id=f"{prefix}_live_refresh")
            c["status"] = gr.HTML(status_html(status(ctx)), elem_id=f"{prefix}_live_status",
                                  elem_classes=["hnx-live-view"])
            c["loss_plot"] = gr.Image(None, type="pil", interactive=False, label="Loss", elem_id=f"{prefix}_loss_plot")
            c["preview_image"] = gr.Image(None, type="filepath", interactive=False, label="Latest preview",
                                          elem_id=f"{prefix}_preview_image")
            c["task_id"] = gr.Textbox(visible=False, elem_id=f"{prefix}_task_id")
    _wire(gr, c, ctx)
    return c


def _wire(gr, c: dict, ctx: PanelContext) -> None:
    extra = list(ctx.preview_inputs or [])
    inputs = [c["task_id"]] + [c[f] for f in FIELDS] + extra

    def start(task_id, *values):
        fields, txt2img = values[:len(FIELDS)], values[len(FIELDS):]
        return start_html(dict(zip(FIELDS, fields)), ctx, txt2img or None, task_id or ""), status_html(status(ctx))
    c["start"].click(start, inputs=inputs, outputs=[c["message"], c["status"]], _js="hypernetExtStartJob")
    c["interrupt"].click(lambda: (interrupt_html(ctx), status_html(status(ctx))), outputs=[c["message"], c["status"]])
    wire_live_view(c, ctx.jobs)

    def refresh_list(current):
        names = hypernetwork_choices(ctx)
        return gr.Dropdown.update(choices=names, value=current if current in names else (names[0] if names else None))
    c["refresh_list"].click(refresh_list, inputs=[c["hypernetwork"]], outputs=[c["hypernetwork"]],
                            show_progress="hidden")
    on_page_load(refresh_list, inputs=[c["hypernetwork"]], outputs=[c["hypernetwork"]])
    c["on_tab_open"] = (lambda current: (refresh_list(current), *c["live_refresh_fn"]()), [c["hypernetwork"]],
                        [c["hypernetwork"], *live_outputs(c)])
    c["refresh_list_fn"] = refresh_list
