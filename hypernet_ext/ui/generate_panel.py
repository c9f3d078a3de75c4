"""Generate panel (standalone only): render with `<hypernet:NAME:WEIGHT>` tags on the standalone host."""
from __future__ import annotations

from typing import Any, Optional

from ..errors import HypernetError, InvalidOptionError
from ..prompt_tags import format_tag
from ..tagged_generation import generate_with_tags
from . import messages
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
    notes = "\n".join(f"warning: {w}" for w in result.warnings)
    return result.image, messages.ok(f"Hypernetworks applied: {result.applied_text()}" + (f"\n{notes}" if notes else ""))


def add_tag(prompt: str, name: Optional[str], weight: float) -> str:
    if not name:
        return prompt
    try:
        tag = format_tag(name, float(weight))
    except HypernetError:
        return prompt
    return f"{prompt.rstrip()} {tag}".strip()


def build(ctx: PanelContext, prefix: str = "hnx_generate", size: int = 512) -> dict:
    import gradio as gr
    c: dict = {}
    names = ctx.library().names()
    with gr.Row(elem_id=prefix, elem_classes=["hnx-panel"]):
        with gr.Column(scale=3):
            c["prompt"] = gr.Textbox("", lines=2, label="Prompt", elem_id=f"{prefix}_prompt")
            c["negative"] = gr.Textbox("", label="Negative prompt", elem_id=f"{prefix}_negative")
            with gr.Row():
                c["tag_name"] = gr.Dropdown(names, value=names[0] if names else None, label="Hypernetwork tag",
                                            elem_id=f"{prefix}_tag_name")
                c["tag_weight"] = gr.Slider(-1.0, 2.0, 1.0, step=0.05, label="Tag strength",
                                            elem_id=f"{prefix}_tag_weight")
                c["add_tag"] = gr.Button("Add tag to prompt", size="sm", elem_id=f"{prefix}_add_tag")
                c["refresh"] = gr.Button("Refresh list", size="sm", elem_id=f"{prefix}_refresh")
            with gr.Row():
                c["steps"] = gr.Number(20, precision=0, label="Sampling steps", elem_id=f"{prefix}_steps")
                c["cfg"] = gr.Number(7.0, label="CFG scale", elem_id=f"{prefix}_cfg")
                c["seed"] = gr.Number(0, precision=0, label="Seed", elem_id=f"{prefix}_seed")
                c["width"] = gr.Number(size, precision=0, label="Width", elem_id=f"{prefix}_width")
                c["height"] = gr.Number(size, precision=0, label="Height", elem_id=f"{prefix}_height")
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
