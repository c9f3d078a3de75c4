"""The Resume tab's "Compare these checkpoints": a labelled grid of picked checkpoints x seeds, saved in the run.

The grid (compare.py) is rendered on the panel host's model and written to
`<run>/compare-<time>.png` with its infotext. It needs a host that can render images (the
standalone app); the model lock keeps it from running while a training job holds the model.
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Optional

from ..compare import CompareSettings, parse_seeds, render_grid, save_grid
from ..errors import HypernetError, InvalidOptionError
from . import messages
from .context import PanelContext

DEFAULT_SEEDS = "1,2,3"


def compare_checkpoints(run: str, labels, seeds: str, prompt: str, negative: str, with_baseline: bool,
                        ctx: PanelContext, size: Optional[tuple[int, int]] = None) -> tuple[Optional[str], str]:
    """(saved grid path or None, message HTML)."""
    from .resume_panel import find_checkpoint
    try:
        if not run:
            raise InvalidOptionError("Pick a training run first.")
        if not labels:
            raise InvalidOptionError("Tick the checkpoints to compare (press 'Show checkpoints' first).")
        if not (prompt or "").strip():
            raise InvalidOptionError("Write a prompt for the comparison grid.")
        if not ctx.generate_available:
            raise InvalidOptionError("This host cannot render images here; inside the webui use the X/Y/Z plot's "
                                     "'Hypernetwork' axis with the checkpoints copied to the hypernetworks folder.")
        checkpoints = sorted((find_checkpoint(run, label) for label in labels), key=lambda c: c.step)
        width, height = size or _run_size(ctx)
        settings = CompareSettings(prompt.strip(), parse_seeds(seeds or DEFAULT_SEEDS), negative or "",
                                   width=width, height=height, with_baseline=bool(with_baseline))
        if not ctx.model_lock.acquire(blocking=False):
            raise InvalidOptionError("The model is busy with a training job; wait for it or interrupt it first.")
        try:
            grid = render_grid(ctx.host(), [c.path for c in checkpoints], settings)
        finally:
            ctx.model_lock.release()
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = save_grid(grid, _free_path(Path(run) / f"compare-{stamp}.png"))
    except HypernetError as exc:
        return None, messages.error(str(exc))
    return str(path), messages.ok(f"Saved {path}: {len(grid.columns)} column(s) x {len(grid.seeds)} seed(s).")


def _run_size(ctx: PanelContext) -> tuple[int, int]:
    defaults = ctx.defaults or {}
    return int(defaults.get("width", 512)), int(defaults.get("height", 512))


def _free_path(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
    return candidate


def build_section(ctx: PanelContext, prefix: str, c: dict) -> None:
    """Components inside the Resume panel; `c["run"]` must exist. Adds `c["compare_pick"]` etc."""
    import gradio as gr
    with gr.Accordion("Compare checkpoints", open=False, elem_id=f"{prefix}_compare"):
        c["compare_pick"] = gr.CheckboxGroup([], label="Checkpoints to compare", elem_id=f"{prefix}_compare_pick")
        with gr.Row():
            c["compare_prompt"] = gr.Textbox(label="Prompt", elem_id=f"{prefix}_compare_prompt")
            c["compare_negative"] = gr.Textbox(label="Negative prompt", elem_id=f"{prefix}_compare_negative")
        with gr.Row():
            c["compare_seeds"] = gr.Textbox(DEFAULT_SEEDS, label="Seeds (one row each)",
                                            elem_id=f"{prefix}_compare_seeds")
            c["compare_baseline"] = gr.Checkbox(True, label="Add a 'none' column (no hypernetwork)",
                                                elem_id=f"{prefix}_compare_baseline")
        c["compare_start"] = gr.Button("Compare these checkpoints", elem_id=f"{prefix}_compare_start")
        c["compare_note"] = gr.HTML(elem_id=f"{prefix}_compare_note")
        c["compare_image"] = gr.Image(None, type="filepath", interactive=False, label="Comparison grid",
                                      elem_id=f"{prefix}_compare_image")

    def run_compare(run: str, labels: Any, prompt: str, negative: str, seeds: str, baseline: bool):
        return compare_checkpoints(run, labels, seeds, prompt, negative, baseline, ctx)
    c["compare_start"].click(run_compare, inputs=[c["run"], c["compare_pick"], c["compare_prompt"],
                                                  c["compare_negative"], c["compare_seeds"], c["compare_baseline"]],
                             outputs=[c["compare_image"], c["compare_note"]])
