"""Preprocess panel: every preprocessing option; captioners come from the captioner registry."""
from __future__ import annotations

from ..errors import HypernetError
from ..preprocess import PreprocessOptions
from ..service import interrupt, preprocess_defaults, start_preprocessing, status
from . import caption_editor, messages
from .context import PanelContext
from .live import status_html
from .page_events import on_page_load
from .option_components import build_options, panel_specs, titles_html

LAYOUT = (("size", None), ("captions", None), ("flip", None), ("split", "Split oversized images"),
          ("focal", "Focal point crop"), ("auto_size", "Auto-sized crop"), ("input", "Input"))
SPECS = panel_specs([PreprocessOptions])
FIELDS = ("source", "destination", *(spec.name for spec in SPECS))


def start_html(values: dict, ctx: PanelContext) -> str:
    """Validate, then run preprocessing as the background job; returns the message (empty when it started:
    the live view shows the job). The message has its own place, so a status refresh never overwrites it."""
    try:
        start_preprocessing(values, ctx)
    except HypernetError as exc:
        return messages.error(str(exc))
    return ""


def interrupt_html(ctx: PanelContext) -> str:
    return messages.note("Interrupting: the current image finishes." if interrupt(ctx) else "No job is running.")


def build(ctx: PanelContext, prefix: str = "hnx_preprocess") -> dict:
    """Lay out the panel (one generated component per declared option); returns its components by name."""
    import gradio as gr
    c: dict = {}

    def captioners(gr, spec, value, elem_id):  # the host's registry, read now
        return gr.CheckboxGroup(ctx.captioners.names(), value=list(value or []), label=spec.label, elem_id=elem_id)
    with gr.Column(elem_id=prefix, elem_classes=["hnx-panel"]):
        with gr.Row():
            c["source"] = gr.Textbox(label="Source image folder", elem_id=f"{prefix}_source")
            c["destination"] = gr.Textbox(label="Output folder", elem_id=f"{prefix}_destination")
        c.update(build_options(gr, SPECS, preprocess_defaults(), prefix, LAYOUT, {"captioners": captioners}))
        c["refresh_captioners"] = gr.Button("Refresh captioners", size="sm", elem_id=f"{prefix}_refresh")
        c["option_titles"] = gr.HTML(titles_html(SPECS), elem_id=f"{prefix}_option_titles")
        with gr.Row():
            c["start"] = gr.Button("Preprocess", variant="primary", elem_id=f"{prefix}_start")
            c["interrupt"] = gr.Button("Interrupt", elem_id=f"{prefix}_interrupt")
            c["refresh"] = gr.Button("Refresh status", size="sm", elem_id=f"{prefix}_live_refresh")
        c["message"] = gr.HTML(elem_id=f"{prefix}_message")
        c["status"] = gr.HTML(status_html(status(ctx)), elem_id=f"{prefix}_live_status",
                              elem_classes=["hnx-live-view"])
        c["caption_editor"] = caption_editor.build(f"{prefix}_captions")
    inputs = [c[f] for f in FIELDS]
    c["start"].click(lambda *v: (start_html(dict(zip(FIELDS, v)), ctx), status_html(status(ctx))), inputs=inputs,
                     outputs=[c["message"], c["status"]])
    c["interrupt"].click(lambda: (interrupt_html(ctx), status_html(status(ctx))), outputs=[c["message"], c["status"]])

    def refresh():
        return status_html(status(ctx))
    c["refresh"].click(refresh, outputs=[c["status"]], show_progress="hidden")
    on_page_load(refresh, outputs=[c["status"]])
    c["on_tab_open"] = (refresh, [], [c["status"]])
    c["refresh_captioners"].click(lambda: gr.CheckboxGroup.update(choices=ctx.captioners.names()),
                                  outputs=[c["captioners"]], show_progress="hidden")
    return c
