"""'Use this checkpoint': copy a training run's checkpoint into the hypernetworks folder from a panel.

Two places offer it, with a list of every run's checkpoints (ours, and in the webui its own trainer's):
the standalone Generate panel, beside the tag list, which then offers the copy's name at once; and
the Resume panel, the webui's way in (its Train tab holds our Resume panel). Both call
`service.use_run_checkpoint`, which copies, never moves, and replaces a file only when
"Overwrite an existing file" is ticked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import HypernetError, InvalidOptionError
from ..service import OVERWRITE_LABEL, list_run_checkpoints, use_run_checkpoint
from . import messages
from .context import PanelContext

NAME_LABEL = "Name for the copy (the tag name)"


def checkpoint_choices(ctx: PanelContext) -> list[str]:
    """Labels of every run's checkpoints (newest run first); a broken log folder lists nothing."""
    try:
        return [c.label() for c in list_run_checkpoints(ctx)]
    except (HypernetError, OSError):
        return []


def chosen_path(ctx: PanelContext, choice: Optional[str]) -> Path:
    """The checkpoint file for a list label, or for a typed path of a checkpoint file."""
    if not choice:
        raise InvalidOptionError("Pick a run checkpoint first (train a hypernetwork to get some; press "
                                 "'Refresh list' after training).")
    for checkpoint in list_run_checkpoints(ctx):
        if checkpoint.label() == choice:
            return checkpoint.path
    typed = Path(str(choice).strip()).expanduser()
    if typed.is_file():
        return typed
    raise InvalidOptionError(f"Run checkpoint {choice!r} is not there any more; press 'Refresh list' and pick again.")


def suggested_name(ctx: PanelContext, choice: Optional[str]) -> str:
    try:
        return chosen_path(ctx, choice).stem
    except HypernetError:
        return ""


def use(ctx: PanelContext, path: Path, name: str, overwrite: bool) -> tuple[Optional[str], str]:
    """(the copy's tag name or None, message HTML); an empty name means the checkpoint's own, `<name>-<step>`."""
    try:
        used = use_run_checkpoint(ctx, path, str(name or "").strip() or path.stem, bool(overwrite), wording="panel")
    except HypernetError as exc:
        return None, messages.error(str(exc))
    except OSError as exc:
        return None, messages.error(f"Could not copy {path}: {exc.strerror or exc}. Check the folder's permissions "
                                    f"and free space.")
    return used.name, messages.ok(used.describe())


def build_section(ctx: PanelContext, prefix: str, c: dict, refresh_key: str, tag_key: Optional[str] = None) -> None:
    """Pick any run checkpoint, name it, copy it. `c[refresh_key]` (a button) also refreshes the list;
    `c[tag_key]` (a tag dropdown), when given, is refreshed and set to the copy's name after a copy."""
    import gradio as gr
    choices = checkpoint_choices(ctx)
    with gr.Row(elem_id=f"{prefix}_use_row"):
        c["run_checkpoint"] = gr.Dropdown(choices, value=None, allow_custom_value=True, label="Run checkpoints",
                                          info="checkpoints of your training runs; copy one to use it as a tag",
                                          scale=4, elem_id=f"{prefix}_run_checkpoint")
        c["use_name"] = gr.Textbox("", label=NAME_LABEL, scale=2, elem_id=f"{prefix}_use_name")
        c["use_overwrite"] = gr.Checkbox(False, label=OVERWRITE_LABEL, scale=1, elem_id=f"{prefix}_use_overwrite")
        c["use_button"] = gr.Button("Use this checkpoint", size="sm", scale=1, elem_id=f"{prefix}_use_button")
    c["use_info"] = gr.HTML(elem_id=f"{prefix}_use_info")

    def use_chosen(choice, name, overwrite, *current_tag):
        try:
            used, message = use(ctx, chosen_path(ctx, choice), name, overwrite)
        except HypernetError as exc:
            used, message = None, messages.error(str(exc))
        if tag_key is None:
            return message
        if used is None:
            return gr.Dropdown.update(), message
        return gr.Dropdown.update(choices=ctx.library().names(), value=used), message

    c["run_checkpoint"].select(lambda choice: suggested_name(ctx, choice), inputs=[c["run_checkpoint"]],
                               outputs=[c["use_name"]], show_progress="hidden")
    tag = [c[tag_key]] if tag_key else []
    c["use_button"].click(use_chosen, inputs=[c["run_checkpoint"], c["use_name"], c["use_overwrite"], *tag],
                          outputs=[*tag, c["use_info"]])
    c[refresh_key].click(lambda: gr.Dropdown.update(choices=checkpoint_choices(ctx)), outputs=[c["run_checkpoint"]],
                         show_progress="hidden")
