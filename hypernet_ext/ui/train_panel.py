"""Train panel: every training option, a refreshable hypernetwork list, optional txt2img preview
parameters (webui), and the live view (step, loss, it/s, ETA, loss plot, latest preview)."""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import HypernetError
from ..training.captions import builtin_templates
from ..training.data_options import LATENT_SAMPLING
from ..training.optim import CLIP_MODES, optimizer_names
from ..training.options import LR_SCHEDULERS, PRECISIONS
from ..training.sizing import RESIZE_MODES
from . import messages
from .context import PanelContext
from .live import live_values, status_html
from .train_options import FIELDS, describe_start, start_training, training_options


def start_html(values: dict, ctx: PanelContext, txt2img: Optional[Sequence] = None, task_id: str = "") -> str:
    """Validate and start training; an error leaves every field as typed and shows what to fix."""
    try:
        options = training_options(values, ctx, txt2img)
        job = start_training(options, ctx)
        job.data["task_id"] = task_id
    except HypernetError as exc:
        return messages.error(str(exc)) + status_html(ctx.jobs.status())
    return messages.ok(describe_start(options)) + status_html(ctx.jobs.status())


def interrupt_html(ctx: PanelContext) -> str:
    if not ctx.jobs.interrupt():
        return messages.note("No job is running.") + status_html(ctx.jobs.status())
    return messages.note("Interrupting: the current step finishes and a checkpoint is saved.") + \
        status_html(ctx.jobs.status())


def hypernetwork_choices(ctx: PanelContext) -> list[str]:
    try:
        return ctx.library().names()
    except HypernetError:
        return []


def build(ctx: PanelContext, prefix: str = "hnx_train") -> dict:
    """Lay out the panel; returns its components by field name."""
    import gradio as gr
    d = ctx.defaults
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
                c["log_dir"] = gr.Textbox(ctx.log_dir(), label="Log directory", elem_id=f"{prefix}_log_dir")
            with gr.Row():
                c["learning_rate"] = gr.Textbox(d.learning_rate, label="Learning rate (schedule allowed)",
                                                elem_id=f"{prefix}_lr")
                c["steps"] = gr.Number(d.steps, precision=0, label="Train until step", elem_id=f"{prefix}_steps")
                c["batch_size"] = gr.Number(d.batch_size, precision=0, label="Batch size",
                                            elem_id=f"{prefix}_batch_size")
                c["grad_accum"] = gr.Number(1, precision=0, label="Gradient accumulation steps",
                                            elem_id=f"{prefix}_grad_accum")
            with gr.Row():
                c["template"] = gr.Dropdown(list(builtin_templates()), value="style_filewords",
                                            allow_custom_value=True, label="Prompt template",
                                            elem_id=f"{prefix}_template")
                c["width"] = gr.Slider(64, 2048, d.width, step=64, label="Training width", elem_id=f"{prefix}_width")
                c["height"] = gr.Slider(64, 2048, d.height, step=64, label="Training height",
                                        elem_id=f"{prefix}_height")
            with gr.Row():
                c["save_every"] = gr.Number(d.save_every, precision=0, label="Save a checkpoint every N steps",
                                            elem_id=f"{prefix}_save_every")
                c["preview_every"] = gr.Number(d.preview_every, precision=0, label="Render a preview every N steps",
                                               elem_id=f"{prefix}_preview_every")
                c["seed"] = gr.Number(0, precision=0, label="Training seed", elem_id=f"{prefix}_seed")
            _optimization(gr, c, prefix)
            _data(gr, c, prefix)
            _outputs(gr, c, prefix, d)
            _validation(gr, c, prefix)
            _preview(gr, c, prefix, ctx)
            with gr.Row():
                c["start"] = gr.Button("Train hypernetwork", variant="primary", elem_id=f"{prefix}_start")
                c["interrupt"] = gr.Button("Interrupt", elem_id=f"{prefix}_interrupt")
        with gr.Column(scale=2, elem_id=f"{prefix}_live", elem_classes=["hnx-live-column"]):
            with gr.Row():
                c["refresh"] = gr.Button("Refresh status", size="sm", elem_id=f"{prefix}_live_refresh")
            c["status"] = gr.HTML(status_html(ctx.jobs.status()), elem_id=f"{prefix}_live_status",
                                  elem_classes=["hnx-live-view"])
            c["loss_plot"] = gr.Image(None, type="pil", interactive=False, label="Loss", elem_id=f"{prefix}_loss_plot")
            c["preview_image"] = gr.Image(None, type="filepath", interactive=False, label="Latest preview",
                                          elem_id=f"{prefix}_preview_image")
            c["task_id"] = gr.Textbox(visible=False, elem_id=f"{prefix}_task_id")
    _wire(gr, c, ctx)
    return c


def _optimization(gr, c: dict, prefix: str) -> None:
    with gr.Accordion("Optimizer, schedule and precision", open=False, elem_id=f"{prefix}_optim_box"):
        with gr.Row():
            c["optimizer"] = gr.Dropdown(optimizer_names(), value="AdamW", allow_custom_value=True, label="Optimizer",
                                         elem_id=f"{prefix}_optimizer")
            c["optimizer_args"] = gr.Textbox("", label="Optimizer arguments", placeholder="weight_decay=0.01",
                                             elem_id=f"{prefix}_optimizer_args")
            c["precision"] = gr.Radio(list(PRECISIONS), value="fp32", label="Precision", elem_id=f"{prefix}_precision")
            c["gradient_checkpointing"] = gr.Checkbox(False, label="Gradient checkpointing",
                                                      elem_id=f"{prefix}_grad_ckpt")
        with gr.Row():
            c["grad_clip"] = gr.Dropdown(list(CLIP_MODES), value="none", label="Gradient clipping",
                                         elem_id=f"{prefix}_clip")
            c["grad_clip_value"] = gr.Textbox("0.1", label="Clipping value (schedule allowed)",
                                              elem_id=f"{prefix}_clip_value")
            c["lr_scheduler"] = gr.Radio(list(LR_SCHEDULERS), value="schedule", label="Learning rate scheduler",
                                         elem_id=f"{prefix}_scheduler")
        with gr.Row():
            c["cosine_cycle_steps"] = gr.Number(64, precision=0, label="Cosine cycle steps",
                                                elem_id=f"{prefix}_cos_steps")
            c["cosine_cycle_mult"] = gr.Number(1.0, label="Cosine cycle multiplier", elem_id=f"{prefix}_cos_mult")
            c["cosine_warmup"] = gr.Number(5, precision=0, label="Cosine warmup steps", elem_id=f"{prefix}_cos_warmup")
            c["cosine_min_lr"] = gr.Number(6e-7, label="Cosine minimum learning rate", elem_id=f"{prefix}_cos_min")
            c["cosine_gamma"] = gr.Number(1.0, label="Cosine peak decay", elem_id=f"{prefix}_cos_gamma")


def _data(gr, c: dict, prefix: str) -> None:
    with gr.Accordion("Dataset and captions", open=False, elem_id=f"{prefix}_data_box"):
        with gr.Row():
            c["resize"] = gr.Radio(list(RESIZE_MODES), value="crop", label="Resize images", elem_id=f"{prefix}_resize")
            c["buckets"] = gr.Checkbox(False, label="Aspect-ratio buckets", elem_id=f"{prefix}_buckets")
            c["flip"] = gr.Checkbox(False, label="Random horizontal flips", elem_id=f"{prefix}_flip")
            c["recursive"] = gr.Checkbox(False, label="Include dataset sub-folders", elem_id=f"{prefix}_recursive")
            c["use_alpha_weight"] = gr.Checkbox(False, label="Use PNG alpha channel as loss weight",
                                                elem_id=f"{prefix}_alpha")
        with gr.Row():
            c["latent_sampling"] = gr.Radio(list(LATENT_SAMPLING), value="once", label="Latent sampling method",
                                            elem_id=f"{prefix}_latent")
            c["shuffle_tags"] = gr.Checkbox(False, label="Shuffle tags", elem_id=f"{prefix}_shuffle")
            c["keep_first_tags"] = gr.Number(0, precision=0, label="Keep first N tags in place",
                                             elem_id=f"{prefix}_keep_tags")
            c["tag_dropout"] = gr.Slider(0.0, 0.95, 0.0, step=0.05, label="Tag dropout", elem_id=f"{prefix}_tag_dropout")
        with gr.Row():
            c["filename_word_regex"] = gr.Textbox("", label="Filename word regex", elem_id=f"{prefix}_word_regex")
            c["filename_join_string"] = gr.Textbox(" ", label="Filename join string", elem_id=f"{prefix}_join")


def _outputs(gr, c: dict, prefix: str, d) -> None:
    with gr.Accordion("Outputs and safety", open=False, elem_id=f"{prefix}_out_box"):
        with gr.Row():
            c["save_optimizer_state"] = gr.Checkbox(d.save_optimizer_state, label="Save optimizer state for resuming",
                                                    elem_id=f"{prefix}_save_optim")
            c["save_final_to_source"] = gr.Checkbox(False, label="Write the result over the source file",
                                                    elem_id=f"{prefix}_to_source")
            c["tensorboard"] = gr.Checkbox(False, label="TensorBoard logging", elem_id=f"{prefix}_tensorboard")
            c["csv_every"] = gr.Number(1, precision=0, label="Write loss.csv every N steps", elem_id=f"{prefix}_csv")
        with gr.Row():
            c["loss_guard_threshold"] = gr.Number(0, label="Stop when loss stays above (0 = off)",
                                                  elem_id=f"{prefix}_guard")
            c["loss_guard_steps"] = gr.Number(20, precision=0, label="Loss guard steps", elem_id=f"{prefix}_guard_steps")


def _validation(gr, c: dict, prefix: str) -> None:
    """Validation loss and early stop (hand-written until panels are generated from the option declarations)."""
    from dataclasses import fields as dc_fields
    from ..option_spec import spec_of
    from ..training.options import TrainingOptions
    spec = {f.name: spec_of(f) for f in dc_fields(TrainingOptions) if spec_of(f) is not None}
    with gr.Accordion("Validation loss and early stop", open=False, elem_id=f"{prefix}_validation_box"):
        with gr.Row():
            c["validation_split"] = gr.Slider(0.0, 0.95, 0.0, step=0.05, label=spec["validation_split"].label,
                                              info=spec["validation_split"].help, elem_id=f"{prefix}_val_split")
            c["validation_dir"] = gr.Textbox("", label=spec["validation_dir"].label, info=spec["validation_dir"].help,
                                             elem_id=f"{prefix}_val_dir")
        with gr.Row():
            c["validation_every"] = gr.Number(0, precision=0, label=spec["validation_every"].label,
                                              info=spec["validation_every"].help, elem_id=f"{prefix}_val_every")
            c["early_stop"] = gr.Number(0, precision=0, label=spec["early_stop"].label, info=spec["early_stop"].help,
                                        elem_id=f"{prefix}_early_stop")


def _preview(gr, c: dict, prefix: str, ctx: PanelContext) -> None:
    with gr.Accordion("Preview images", open=False, elem_id=f"{prefix}_preview_box"):
        c["preview_from_txt2img"] = gr.Checkbox(
            False, label="Read parameters (prompt, etc...) from txt2img tab when making previews",
            visible=ctx.preview_inputs is not None, elem_id=f"{prefix}_from_txt2img")
        with gr.Row():
            c["preview_prompt"] = gr.Textbox("", label="Preview prompt (empty = first caption)",
                                             elem_id=f"{prefix}_preview_prompt")
            c["preview_negative"] = gr.Textbox("", label="Preview negative prompt", elem_id=f"{prefix}_preview_negative")
        with gr.Row():
            c["preview_steps"] = gr.Number(20, precision=0, label="Preview sampling steps",
                                           elem_id=f"{prefix}_preview_steps")
            c["preview_cfg"] = gr.Number(7.0, label="Preview CFG scale", elem_id=f"{prefix}_preview_cfg")
            c["preview_seed"] = gr.Number(-1, precision=0, label="Preview seed (-1 = random)",
                                          elem_id=f"{prefix}_preview_seed")


def _wire(gr, c: dict, ctx: PanelContext) -> None:
    extra = list(ctx.preview_inputs or [])
    inputs = [c["task_id"]] + [c[f] for f in FIELDS] + extra

    def start(task_id, *values):
        fields, txt2img = values[:len(FIELDS)], values[len(FIELDS):]
        return start_html(dict(zip(FIELDS, fields)), ctx, txt2img or None, task_id or "")
    c["start"].click(start, inputs=inputs, outputs=[c["status"]], _js="hypernetExtStartJob")
    c["interrupt"].click(lambda: interrupt_html(ctx), outputs=[c["status"]])
    c["refresh"].click(lambda: live_values(ctx.jobs), outputs=[c["status"], c["loss_plot"], c["preview_image"]],
                       show_progress="hidden")

    def refresh_list(current):
        names = hypernetwork_choices(ctx)
        return gr.Dropdown.update(choices=names, value=current if current in names else (names[0] if names else None))
    c["refresh_list"].click(refresh_list, inputs=[c["hypernetwork"]], outputs=[c["hypernetwork"]],
                            show_progress="hidden")
    c["refresh_list_fn"] = refresh_list
