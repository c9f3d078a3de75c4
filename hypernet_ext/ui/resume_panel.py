"""Resume panel: pick a training run, see its checkpoints, resume from any of them in one click."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import HypernetError, InvalidOptionError
from ..service import describe_resume, start_resume, status
from ..training.run_folder import (CHECKPOINT_COLUMNS, CHECKPOINT_FOLDER, VALIDATION_CSV, CheckpointInfo,
                                   checkpoint_rows, list_checkpoints, list_runs)
from . import messages
from .context import PanelContext
from .live import live_outputs, live_values, status_html
from .page_events import on_page_load

TABLE_HEADERS = CHECKPOINT_COLUMNS


def find_checkpoint(run: str, label: str) -> CheckpointInfo:
    for checkpoint in list_checkpoints(run):
        if checkpoint.label() == label or checkpoint.path.name == label:
            return checkpoint
    raise InvalidOptionError(f"Checkpoint {label!r} is no longer in {run}; press 'Show checkpoints' and pick again.")


def resume_html(run: str, label: str, steps: Optional[float], ctx: PanelContext, task_id: str = "") -> str:
    """Start training again from the chosen checkpoint with the run's saved options."""
    try:
        if not run:
            raise InvalidOptionError("Pick a training run first.")
        if not label:
            raise InvalidOptionError("Pick a checkpoint to resume from.")
        checkpoint = find_checkpoint(run, label)
        options, job = start_resume(run, checkpoint, steps, ctx)
        job.data["task_id"] = task_id
    except HypernetError as exc:
        return messages.error(str(exc))
    return messages.ok(describe_resume(checkpoint, options))


def checkpoints_view(run: str) -> tuple[list[list], list[str], str]:
    """(table rows, checkpoint choices, message) for a run folder."""
    try:
        checkpoints = list_checkpoints(run) if run else []
    except HypernetError as exc:
        return [], [], messages.error(str(exc))
    if not checkpoints:
        return [], [], messages.note("No checkpoints in this run yet." if run else "Pick a training run.")
    problems = [f"{c.path.name}: {c.problem}" for c in checkpoints if c.problem]
    note = messages.error("\n".join(problems)) if problems else ""
    return checkpoint_rows(checkpoints), [c.label() for c in checkpoints], note


def checkpoints_signature(run: str, ctx: PanelContext) -> tuple:
    """What changes when the run's checkpoint table would: its checkpoint files, its validation log and
    the job's state (a job's last checkpoint and losses are in place once it ends). File stats only, so
    the live view's once-a-second poll stays cheap."""
    folder = Path(str(run or "")).expanduser()
    try:
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                       for p in (folder / CHECKPOINT_FOLDER).iterdir())
        validation = (folder / VALIDATION_CSV).stat().st_mtime_ns if (folder / VALIDATION_CSV).is_file() else None
    except OSError:
        files, validation = [], None
    job = status(ctx)
    return (str(run or ""), tuple(files), validation, job.get("id"), job.get("state"))


def build(ctx: PanelContext, prefix: str = "hnx_resume") -> dict:
    import gradio as gr
    c: dict = {}
    runs = list_runs(ctx.log_dir())
    with gr.Column(elem_id=prefix, elem_classes=["hnx-panel"]):
        with gr.Row():
            c["run"] = gr.Dropdown(runs, value=runs[0] if runs else None, allow_custom_value=True,
                                   label="Training run", elem_id=f"{prefix}_run")
            c["refresh_runs"] = gr.Button("Refresh runs", size="sm", elem_id=f"{prefix}_refresh_runs")
            c["show"] = gr.Button("Show checkpoints", size="sm", elem_id=f"{prefix}_show")
        from .tables import headed_table
        c["table"] = headed_table(gr, TABLE_HEADERS, label="Checkpoints", elem_id=f"{prefix}_table")
        c["note"] = gr.HTML(elem_id=f"{prefix}_note")
        with gr.Row():
            c["checkpoint"] = gr.Dropdown([], label="Resume from checkpoint", elem_id=f"{prefix}_checkpoint")
            c["steps"] = gr.Number(0, precision=0, label="Train until step (0 = as the run was set)",
                                   elem_id=f"{prefix}_steps")
        with gr.Row():
            c["resume"] = gr.Button("Resume training", variant="primary", elem_id=f"{prefix}_start")
        c["message"] = gr.HTML(elem_id=f"{prefix}_message")
        with gr.Row():
            c["refresh"] = gr.Button("Refresh status", size="sm", elem_id=f"{prefix}_live_refresh")
        c["status"] = gr.HTML(status_html(status(ctx)), elem_id=f"{prefix}_live_status",
                              elem_classes=["hnx-live-view"])
        with gr.Row():
            c["loss_plot"] = gr.Image(None, type="pil", interactive=False, label="Loss", elem_id=f"{prefix}_loss_plot")
            c["preview_image"] = gr.Image(None, type="filepath", interactive=False, label="Latest preview",
                                          elem_id=f"{prefix}_preview_image")
        c["task_id"] = gr.Textbox(visible=False, elem_id=f"{prefix}_task_id")
        c["shown_checkpoints"] = gr.State(None)  # checkpoints_signature of the table shown
        from .compare_section import build_section
        build_section(ctx, prefix, c)
        with gr.Accordion("Use a checkpoint for generating", open=False, elem_id=f"{prefix}_use"):
            from .use_checkpoint import build_section as build_use_section
            build_use_section(ctx, prefix, c, "refresh_runs",  # copy a checkpoint into the hypernetworks folder
                              follow=lambda run, label: find_checkpoint(run, label).path)

    def show(run):
        rows, labels, note = checkpoints_view(run)
        return (rows, gr.Dropdown.update(choices=labels, value=labels[-1] if labels else None), note,
                gr.CheckboxGroup.update(choices=labels, value=[]), checkpoints_signature(run, ctx))

    def refresh_runs(current):
        found = list_runs(ctx.log_dir())
        return gr.Dropdown.update(choices=found, value=current or (found[0] if found else None))

    def refresh(run, chosen, compared, shown_signature):
        """The live view, and the checkpoint table when the run's checkpoints changed (e.g. after a resume),
        keeping the checkpoints the user picked."""
        signature = checkpoints_signature(run, ctx)
        if not run or signature == shown_signature:
            return (*live_values(ctx.jobs), *[gr.update()] * 4, shown_signature)
        rows, labels, note = checkpoints_view(run)
        return (*live_values(ctx.jobs), rows,
                gr.Dropdown.update(choices=labels, value=chosen if chosen in labels else
                                   (labels[-1] if labels else None)), note,
                gr.CheckboxGroup.update(choices=labels, value=[label for label in compared or [] if label in labels]),
                signature)
    shown = [c["table"], c["checkpoint"], c["note"], c["compare_pick"], c["shown_checkpoints"]]
    c["show"].click(show, inputs=[c["run"]], outputs=shown)
    c["run"].change(show, inputs=[c["run"]], outputs=shown, show_progress="hidden")
    live = [c["run"], c["checkpoint"], c["compare_pick"], c["shown_checkpoints"]]
    c["refresh"].click(refresh, inputs=live, outputs=live_outputs(c) + shown, show_progress="hidden")
    c["refresh_runs"].click(refresh_runs, inputs=[c["run"]], outputs=[c["run"]], show_progress="hidden")

    def page_opened(current):
        runs_update = refresh_runs(current)
        return (runs_update, *show(runs_update["value"]), *live_values(ctx.jobs))
    on_page_load(page_opened, inputs=[c["run"]], outputs=[c["run"], *shown, *live_outputs(c)])

    def tab_opened(current, *rest):  # keeps the checkpoints picked, unlike a page that opens afresh
        *picked, use_choice = rest
        runs_update = refresh_runs(current)
        return (runs_update, *refresh(runs_update["value"], *picked),
                c["run_checkpoint_refresh_fn"](use_choice))  # "Use a checkpoint": runs made since the page opened
    c["on_tab_open"] = (tab_opened, [c["run"], *live[1:], c["run_checkpoint"]],
                        [c["run"], *live_outputs(c), *shown, c["run_checkpoint"]])
    c["resume"].click(lambda task, run, label, steps: (resume_html(run, label, steps, ctx, task or ""),
                                                      status_html(status(ctx))),
                      inputs=[c["task_id"], c["run"], c["checkpoint"], c["steps"]],
                      outputs=[c["message"], c["status"]], _js="hypernetExtStartJob")
    return c
