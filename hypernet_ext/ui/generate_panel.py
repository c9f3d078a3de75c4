"""Generate panel (standalone only): render with `<hypernet:NAME:WEIGHT>` tags on the standalone host."""
from __future__ import annotations

from typing import Any, Optional

from ..errors import HypernetError, InvalidOptionError
from ..prompt_tags import format_tag
from ..tagged_generation import generate_with_tags
from . import messages, use_checkpoint
from .context import PanelContext
from .page_events import on_page_load
from ..service import whole


def generate(ctx: PanelContext, prompt: str, negative: str, steps, cfg, seed, width, height) -> tuple[Any, str]:
    """(PIL image or None, message HTML); refuses politely while a training job holds the model."""
    try:
        sampling = dict(steps=whole(steps, "Steps"), cfg_scale=float(cfg), seed=whole(seed, "Seed"),
                        width=whole(width, "Width"), height=whole(height, "Height"))
        library = ctx.library()
        if not ctx.model_lock.acquire(blocking=False):
            raise InvalidOptionError("The model is busy with a training job; wait for it or interrupt it first.")
        try:
            result = generate_with_tags(ctx.host(), library, prompt, negative, **sampling)
        finally:
            ctx.model_lock.release()
    except HypernetError as exc:
        return None, messages.error(str(exc))
    notes = "\n".join(f"warning: {w}" for w in result.warnings + use_checkpoint.unused_checkpoint_notes(ctx, prompt))
    return result.image, messages.ok(f"Hypernetworks applied: {result.applied_text()}" + (f"\n{notes}" if notes else ""))


def add_tag(prompt: str, name: Optional[str], weight: float) -> str:
    if not name:
        return prompt
    try:
        tag = format_tag(name, float(weight))
    except HypernetError:
        return prompt
    return f"{prompt.rstrip()} {tag}".strip()


SIDE_STEP = 8  # every size the hosts draw is a multiple of 8 (the VAE's scale)
SIDE_MIN, SIDE_MAX = 64, 2048
FIELD_MIN_WIDTH = 200  # a slider's label, its number box and its track fit side by side


def _side(size: int) -> int:
    """`size` as the nearest value the Width/Height sliders can hold."""
    return min(max(int(round(size / SIDE_STEP)) * SIDE_STEP, SIDE_MIN), SIDE_MAX)


def build(ctx: PanelContext, prefix: str = "hnx_generate", size: int = 512) -> dict:
    import gradio as gr
    c: dict = {}
    names = ctx.library().names()
    with gr.Row(elem_id=prefix, elem_classes=["hnx-panel"]):
        with gr.Column(scale=3):
            c["prompt"] = gr.Textbox("", lines=2, label="Prompt", elem_id=f"{prefix}_prompt")
            c["negative"] = gr.Textbox("", label="Negative prompt", elem_id=f"{prefix}_negative")
            # One grid of three equal columns: each row is two fields (one gradio form) and one column,
            # so the columns line up from row to row and no label is squeezed over its input.
            with gr.Row(elem_id=f"{prefix}_fields", elem_classes=["hnx-grid"]):
                c["tag_name"] = gr.Dropdown(names, value=names[0] if names else None, label="Hypernetwork tag",
                                            elem_id=f"{prefix}_tag_name", min_width=FIELD_MIN_WIDTH)
                c["tag_weight"] = gr.Slider(-1.0, 2.0, 1.0, step=0.05, label="Tag strength",
                                            elem_id=f"{prefix}_tag_weight", min_width=FIELD_MIN_WIDTH)
                with gr.Column(scale=1, min_width=FIELD_MIN_WIDTH):
                    c["add_tag"] = gr.Button("Add tag to prompt", size="sm", elem_id=f"{prefix}_add_tag")
                    c["refresh"] = gr.Button("Refresh list", size="sm", elem_id=f"{prefix}_refresh")
            use_checkpoint.build_section(ctx, prefix, c, "refresh", "tag_name")  # a run's checkpoints, copied to be a tag
            with gr.Row(elem_classes=["hnx-grid"]):
                c["steps"] = gr.Number(20, precision=0, label="Sampling steps", elem_id=f"{prefix}_steps", min_width=FIELD_MIN_WIDTH)
                c["cfg"] = gr.Number(7.0, label="CFG scale", elem_id=f"{prefix}_cfg", min_width=FIELD_MIN_WIDTH)
                with gr.Column(scale=1, min_width=FIELD_MIN_WIDTH):
                    c["seed"] = gr.Number(0, precision=0, label="Seed", elem_id=f"{prefix}_seed", min_width=FIELD_MIN_WIDTH)
            with gr.Row(elem_classes=["hnx-grid"]):
                # sliders snap to the sizes the model can draw: multiples of 8 from a multiple of 8
                c["width"] = gr.Slider(SIDE_MIN, SIDE_MAX, _side(size), step=SIDE_STEP, label="Width",
                                       elem_id=f"{prefix}_width", min_width=FIELD_MIN_WIDTH)
                c["height"] = gr.Slider(SIDE_MIN, SIDE_MAX, _side(size), step=SIDE_STEP, label="Height",
                                        elem_id=f"{prefix}_height", min_width=FIELD_MIN_WIDTH)
                with gr.Column(scale=1, min_width=FIELD_MIN_WIDTH):
                    c["generate"] = gr.Button("Generate", variant="primary", elem_id=f"{prefix}_button")
            c["info"] = gr.HTML(elem_id=f"{prefix}_info")
        with gr.Column(scale=2):
            c["image"] = gr.Image(None, type="pil", interactive=False, label="Result", elem_id=f"{prefix}_image")
    c["generate"].click(lambda *v: generate(ctx, *v), inputs=[c[k] for k in ("prompt", "negative", "steps", "cfg",
                                                                            "seed", "width", "height")],
                        outputs=[c["image"], c["info"]])
    c["add_tag"].click(add_tag, inputs=[c["prompt"], c["tag_name"], c["tag_weight"]], outputs=[c["prompt"]],
                       show_progress="hidden")

    def refresh_tags(current):
        names = ctx.library().names()
        return gr.Dropdown.update(choices=names, value=current if current in names else (names[0] if names else None))
    c["refresh"].click(refresh_tags, inputs=[c["tag_name"]], outputs=[c["tag_name"]], show_progress="hidden")
    on_page_load(refresh_tags, inputs=[c["tag_name"]], outputs=[c["tag_name"]])
    c["on_tab_open"] = (refresh_tags, [c["tag_name"]], [c["tag_name"]])
    return c
