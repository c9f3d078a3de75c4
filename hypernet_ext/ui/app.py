"""The standalone UI: Create / Preprocess / Train / Resume panels plus Generate, on 127.0.0.1 only."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..jobs import JobManager
from ..model_arguments import EMBEDDED_MODELS, default_image_side
from . import generate_panel
from .context import PanelContext
from .panels import build_panel_tabs, panels_javascript, panels_stylesheet, refresh_on_select

HOST_ADDRESS = "127.0.0.1"
TITLE = "hypernet-ext"


@dataclass
class StandaloneSettings:
    model: str = "tiny"
    hypernetwork_dir: str = "hypernetworks"
    log_dir: str = "training-runs"
    device: str = "cpu"
    prediction: Optional[str] = None
    text_conditioning: Optional[Any] = None  # standalone.text_options.TextConditioningOptions; None = defaults


def standalone_context(settings: StandaloneSettings, host: Optional[Any] = None) -> PanelContext:
    """A PanelContext over one standalone host (loaded now unless given)."""
    if host is None:
        from ..standalone import load_host
        text = settings.text_conditioning.load_host_arguments() if settings.text_conditioning else {}
        host = load_host(settings.model, device=settings.device, prediction=settings.prediction, **text)
    Path(settings.hypernetwork_dir).expanduser().mkdir(parents=True, exist_ok=True)
    model_lock = threading.Lock()
    size = default_image_side(settings.model, host)
    defaults = {"width": size, "height": size, "steps": 1000 if settings.model in EMBEDDED_MODELS else 10000}
    return PanelContext(
        hypernetwork_dirs=lambda: [str(Path(settings.hypernetwork_dir).expanduser())],
        log_dir=lambda: str(Path(settings.log_dir).expanduser()),
        host=lambda: host, model_widths=lambda: tuple(host.attention_widths),
        jobs=JobManager(job_lock=lambda: model_lock), defaults=defaults, model_lock=model_lock,
        generate_available=True)


def build_app(ctx: PanelContext, generate_size: int = 64):
    """The gradio Blocks of the standalone UI."""
    import gradio as gr
    # The webui loads style.css by itself; here it is handed to gradio, or errors look like plain text.
    with gr.Blocks(title=TITLE, analytics_enabled=False, elem_id="hnx_app", css=panels_stylesheet()) as demo:
        gr.Markdown(f"## {TITLE}: create, preprocess, train and apply hypernetworks")
        with gr.Tabs(elem_id="hnx_tabs"):
            panels = build_panel_tabs(ctx)
            with gr.Tab("Generate", elem_id="hnx_tab_generate") as generate_tab:
                generate = generate_panel.build(ctx, size=generate_size)
        refresh_on_select(generate_tab, generate)
        tags, tags_inputs, tags_outputs = generate["on_tab_open"]
        panels["create"]["create_event"].then(tags, inputs=tags_inputs, outputs=tags_outputs, show_progress="hidden")
        demo.load(None, None, None, _js="() => {" + panels_javascript() + "\n}")
    return demo


def serve(settings: StandaloneSettings, port: int = 7861, block: bool = True, address: str = HOST_ADDRESS,
          share: bool = False, auth: Optional[list] = None):
    """Load the model, build the UI and serve it on `address`:`port` (see ui/command.py for --listen/--share)."""
    ctx = standalone_context(settings)
    demo = build_app(ctx, generate_size=default_image_side(settings.model, ctx.host()))
    demo.queue(concurrency_count=4)
    demo.launch(server_name=address, server_port=int(port), prevent_thread_lock=not block, share=share,
                auth=auth, show_api=False, quiet=False, inbrowser=False)
    return demo
