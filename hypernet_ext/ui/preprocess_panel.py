"""Preprocess panel: every preprocessing option; captioners come from the captioner registry."""
from __future__ import annotations

from dataclasses import MISSING, fields

from ..errors import HypernetError, InvalidOptionError
from ..jobs import Job
from ..preprocess import PreprocessOptions, preprocess
from ..preprocess.autosize import OBJECTIVES
from ..preprocess.captioners import CAPTION_ACTIONS
from ..preprocess.options import EXISTING_ACTIONS, FLIP_DIRECTIONS, SMALL_IMAGE_ACTIONS
from ..preprocess.resize import RESIZE_MODES
from . import caption_editor, messages
from .context import PanelContext
from .live import status_html
from .train_options import whole

DEFAULTS = {f.name: f.default if f.default is not MISSING else f.default_factory()
             for f in fields(PreprocessOptions) if f.name not in ("source", "destination")}
INT_FIELDS = ("width", "height", "auto_min_size", "auto_max_size", "auto_min_area", "auto_max_area", "max_pixels")
FIELDS = ("source", "destination", *DEFAULTS)
_DEFAULTS = DEFAULTS  # earlier name


def options_from_values(values: dict) -> PreprocessOptions:
    """PreprocessOptions from panel values (numbers from sliders become ints where needed)."""
    values = dict(values)
    for name in ("source", "destination"):
        values[name] = str(values.get(name) or "").strip()
        if not values[name]:
            raise InvalidOptionError(f"Enter the {name} folder.")
    for name in INT_FIELDS:
        if values.get(name) is not None:
            values[name] = whole(values[name], name)
    if isinstance(values.get("background"), str) and "," in values["background"]:
        values["background"] = tuple(whole(v, "background") for v in values["background"].split(","))
    values["captioners"] = list(values.get("captioners") or [])
    return PreprocessOptions(**{k: v for k, v in values.items() if k in FIELDS})


def start_preprocessing_job(values: dict, ctx: PanelContext) -> tuple[PreprocessOptions, Job]:
    """Validate, then start preprocessing as the background job; raises HypernetError (JobBusyError when busy)."""
    options = options_from_values(values)
    options.validate()
    ctx.captioners.check(options.captioners)
    job = ctx.jobs.start("preprocessing", lambda progress: preprocess(options, progress, ctx.captioners),
                         description=f"Preprocess {options.source.name}")
    return options, job


def start_preprocessing(values: dict, ctx: PanelContext) -> str:
    """Validate, then run preprocessing as the background job; returns the status HTML."""
    try:
        start_preprocessing_job(values, ctx)
    except HypernetError as exc:
        return messages.error(str(exc)) + status_html(ctx.jobs.status())
    return status_html(ctx.jobs.status())


def _tagger_components(c: dict, d: dict, prefix: str) -> None:
    """The WD14 tagger's settings (used when the wd14 captioner is ticked)."""
    import gradio as gr
    with gr.Accordion("WD14 tagger (captioner wd14)", open=False, elem_id=f"{prefix}_wd14_box"):
        with gr.Row():
            c["captioner_model"] = gr.Textbox(d["captioner_model"], label="WD14 model folder",
                                              placeholder="folder with model.onnx and selected_tags.csv",
                                              elem_id=f"{prefix}_captioner_model")
            c["exclude_tags"] = gr.Textbox(d["exclude_tags"], label="Tags to exclude",
                                           placeholder="simple background, white background",
                                           elem_id=f"{prefix}_exclude_tags")
        with gr.Row():
            c["general_threshold"] = gr.Slider(0.0, 1.0, d["general_threshold"], step=0.01,
                                               label="General tag threshold", elem_id=f"{prefix}_general_threshold")
            c["character_threshold"] = gr.Slider(0.0, 1.0, d["character_threshold"], step=0.01,
                                                 label="Character tag threshold",
                                                 elem_id=f"{prefix}_character_threshold")
            c["keep_underscores"] = gr.Checkbox(d["keep_underscores"], label="Keep underscores in tags",
                                                elem_id=f"{prefix}_keep_underscores")
            c["escape_brackets"] = gr.Checkbox(d["escape_brackets"], label="Escape brackets in tags",
                                               elem_id=f"{prefix}_escape_brackets")


def build(ctx: PanelContext, prefix: str = "hnx_preprocess") -> dict:
    """Lay out the panel; returns its components by field name."""
    import gradio as gr
    d = DEFAULTS
    c: dict = {}
    with gr.Column(elem_id=prefix, elem_classes=["hnx-panel"]):
        with gr.Row():
            c["source"] = gr.Textbox(label="Source image folder", elem_id=f"{prefix}_source")
            c["destination"] = gr.Textbox(label="Output folder", elem_id=f"{prefix}_destination")
        with gr.Row():
            c["width"] = gr.Slider(64, 2048, d["width"], step=8, label="Output width", elem_id=f"{prefix}_width")
            c["height"] = gr.Slider(64, 2048, d["height"], step=8, label="Output height", elem_id=f"{prefix}_height")
        with gr.Row():
            c["resize_mode"] = gr.Radio(list(RESIZE_MODES), value=d["resize_mode"], label="Resize mode",
                                        elem_id=f"{prefix}_resize_mode")
            c["fit_background"] = gr.Textbox(d["fit_background"], label="Padding for fit ('edge' or a colour)",
                                             elem_id=f"{prefix}_fit_background")
            c["small_images"] = gr.Radio(list(SMALL_IMAGE_ACTIONS), value=d["small_images"],
                                         label="Images smaller than the output", elem_id=f"{prefix}_small")
            c["keep_original_size"] = gr.Checkbox(d["keep_original_size"], label="Keep original size",
                                                  elem_id=f"{prefix}_keep_size")
        with gr.Row():
            c["captioners"] = gr.CheckboxGroup(ctx.captioners.names(), value=[], label="Captioners",
                                               elem_id=f"{prefix}_captioners")
            c["refresh_captioners"] = gr.Button("Refresh captioners", size="sm", elem_id=f"{prefix}_refresh")
            c["caption_action"] = gr.Dropdown(list(CAPTION_ACTIONS), value=d["caption_action"],
                                              label="Existing caption file", elem_id=f"{prefix}_caption_action")
            c["caption_separator"] = gr.Textbox(d["caption_separator"], label="Caption separator",
                                                elem_id=f"{prefix}_separator")
        _tagger_components(c, d, prefix)
        with gr.Row():
            c["flip"] = gr.Checkbox(d["flip"], label="Create flipped copies", elem_id=f"{prefix}_flip")
            c["flip_direction"] = gr.Radio(list(FLIP_DIRECTIONS), value=d["flip_direction"], label="Flip direction",
                                           elem_id=f"{prefix}_flip_direction")
        with gr.Accordion("Split oversized images", open=False, elem_id=f"{prefix}_split_box"):
            c["split"] = gr.Checkbox(d["split"], label="Split oversized images", elem_id=f"{prefix}_split")
            with gr.Row():
                c["split_threshold"] = gr.Slider(0.0, 1.0, d["split_threshold"], step=0.05,
                                                 label="Split image threshold", elem_id=f"{prefix}_split_threshold")
                c["split_overlap"] = gr.Slider(0.0, 0.9, d["split_overlap"], step=0.05,
                                               label="Split image overlap ratio", elem_id=f"{prefix}_split_overlap")
        with gr.Accordion("Focal point crop", open=False, elem_id=f"{prefix}_focal_box"):
            c["focal_crop"] = gr.Checkbox(d["focal_crop"], label="Auto focal point crop", elem_id=f"{prefix}_focal")
            with gr.Row():
                c["focal_face_weight"] = gr.Slider(0.0, 1.0, d["focal_face_weight"], step=0.05,
                                                   label="Focal point face weight", elem_id=f"{prefix}_focal_face")
                c["focal_entropy_weight"] = gr.Slider(0.0, 1.0, d["focal_entropy_weight"], step=0.05,
                                                      label="Focal point entropy weight",
                                                      elem_id=f"{prefix}_focal_entropy")
                c["focal_edges_weight"] = gr.Slider(0.0, 1.0, d["focal_edges_weight"], step=0.05,
                                                    label="Focal point edges weight", elem_id=f"{prefix}_focal_edges")
            c["focal_debug"] = gr.Checkbox(d["focal_debug"], label="Create debug image", elem_id=f"{prefix}_debug")
        with gr.Accordion("Auto-sized crop", open=False, elem_id=f"{prefix}_auto_box"):
            c["auto_size"] = gr.Checkbox(d["auto_size"], label="Auto-sized crop", elem_id=f"{prefix}_auto")
            with gr.Row():
                c["auto_min_size"] = gr.Slider(64, 2048, d["auto_min_size"], step=8, label="Minimum dimension",
                                               elem_id=f"{prefix}_auto_min")
                c["auto_max_size"] = gr.Slider(64, 2048, d["auto_max_size"], step=8, label="Maximum dimension",
                                               elem_id=f"{prefix}_auto_max")
            with gr.Row():
                c["auto_min_area"] = gr.Number(d["auto_min_area"], precision=0, label="Minimum area",
                                               elem_id=f"{prefix}_auto_min_area")
                c["auto_max_area"] = gr.Number(d["auto_max_area"], precision=0, label="Maximum area",
                                               elem_id=f"{prefix}_auto_max_area")
                c["auto_objective"] = gr.Radio(list(OBJECTIVES), value=d["auto_objective"],
                                               label="Resizing objective", elem_id=f"{prefix}_auto_objective")
                c["auto_threshold"] = gr.Slider(0.0, 1.0, d["auto_threshold"], step=0.01,
                                                label="Error threshold", elem_id=f"{prefix}_auto_threshold")
        with gr.Accordion("Input", open=False, elem_id=f"{prefix}_input_box"):
            with gr.Row():
                c["keep_alpha"] = gr.Checkbox(d["keep_alpha"], label="Keep transparency",
                                              elem_id=f"{prefix}_keep_alpha")
                c["background"] = gr.Textbox("white", label="Background for transparent pixels",
                                             elem_id=f"{prefix}_background")
                c["existing"] = gr.Radio(list(EXISTING_ACTIONS), value=d["existing"],
                                         label="Outputs that already exist", elem_id=f"{prefix}_existing")
                c["recursive"] = gr.Checkbox(d["recursive"], label="Include sub-folders",
                                             elem_id=f"{prefix}_recursive")
                c["max_pixels"] = gr.Number(d["max_pixels"], precision=0, label="Largest image (pixels)",
                                            elem_id=f"{prefix}_max_pixels")
        with gr.Row():
            c["start"] = gr.Button("Preprocess", variant="primary", elem_id=f"{prefix}_start")
            c["interrupt"] = gr.Button("Interrupt", elem_id=f"{prefix}_interrupt")
            c["refresh"] = gr.Button("Refresh status", size="sm", elem_id=f"{prefix}_live_refresh")
        c["status"] = gr.HTML(status_html(ctx.jobs.status()), elem_id=f"{prefix}_live_status",
                              elem_classes=["hnx-live-view"])
        c["caption_editor"] = caption_editor.build(f"{prefix}_captions")
    inputs = [c[f] for f in FIELDS]
    c["start"].click(lambda *v: start_preprocessing(dict(zip(FIELDS, v)), ctx), inputs=inputs,
                     outputs=[c["status"]])
    c["interrupt"].click(lambda: (ctx.jobs.interrupt(), status_html(ctx.jobs.status()))[1], outputs=[c["status"]])
    c["refresh"].click(lambda: status_html(ctx.jobs.status()), outputs=[c["status"]], show_progress="hidden")
    c["refresh_captioners"].click(lambda: gr.CheckboxGroup.update(choices=ctx.captioners.names()),
                                  outputs=[c["captioners"]], show_progress="hidden")
    return c
