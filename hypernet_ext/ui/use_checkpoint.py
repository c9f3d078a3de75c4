"""'Use this checkpoint': copy a training run's checkpoint into the hypernetworks folder from a panel.

Two places offer it, with a list of every run's checkpoints (ours, and in the webui its own trainer's):
the standalone Generate panel, beside the tag list, which then offers the copy's name at once; and
the Resume panel, the webui's way in (its Train tab holds our Resume panel). Both call
`service.use_run_checkpoint`, which copies, never moves, and replaces a file only when
"Overwrite an existing file" is ticked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ..errors import HypernetError, InvalidOptionError
from ..service import OVERWRITE_LABEL, list_run_checkpoints, use_run_checkpoint
from . import messages
from .context import PanelContext

NAME_LABEL = "Name for the copy (the tag name)"


def checkpoint_choices(ctx: PanelContext) -> list[str]:
    """Labels of every run's checkpoints (newest run first); a broken log folder lists nothing."""
    return [c.label() for c in checkpoint_list(ctx)]


def chosen_path(ctx: PanelContext, choice: Optional[str], refresh: str = "Refresh list") -> Path:
    """The checkpoint file for a list label, or for a typed path of a checkpoint file (`refresh`: the
    label of the button that reads the list again)."""
    if not choice:
        raise InvalidOptionError(f"Pick one of the Run checkpoints first (training saves them; press '{refresh}' "
                                 f"after training).")
    for checkpoint in list_run_checkpoints(ctx):
        if checkpoint.label() == choice:
            return checkpoint.path
    typed = Path(str(choice).strip()).expanduser()
    if typed.is_file():
        return typed
    raise InvalidOptionError(f"Run checkpoint {choice!r} is not there any more; press '{refresh}' and pick again.")


def unused_checkpoint_notes(ctx: PanelContext, prompt: str) -> list[str]:
    """For each tag naming no library file but a run checkpoint (`<hypernet:style-30>` right after training):
    where that checkpoint is and how to use it (instead of only 'did you mean style?', the untrained file)."""
    from ..prompt_tags import parse_prompt
    library = ctx.library()
    missing = [t.name for t in parse_prompt(prompt or "").tags if library.path(t.name) is None]
    if not missing:
        return []
    by_stem = {c.path.stem.lower(): c for c in reversed(checkpoint_list(ctx))}  # the newest run wins
    return [f"{name!r} is a checkpoint of run {by_stem[name.lower()].run_name}, not a file in the hypernetworks "
            f"folder: pick it under Run checkpoints and press 'Use this checkpoint'."
            for name in dict.fromkeys(missing) if name.lower() in by_stem]


def checkpoint_list(ctx: PanelContext) -> list:
    try:
        return list_run_checkpoints(ctx)
    except (HypernetError, OSError):
        return []


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


def build_section(ctx: PanelContext, prefix: str, c: dict, refresh_key: str, tag_key: Optional[str] = None,
                  follow: Optional[Callable[[str, str], Path]] = None) -> None:
    """Pick any run checkpoint, name it, copy it. `c[refresh_key]` (a button) also refreshes the list;
    `c[tag_key]` (a tag dropdown), when given, is refreshed and set to the copy's name after a copy;
    `follow(run, label)` (the Resume panel's lookup), when given, preselects the checkpoint chosen in
    `c["run"]` and `c["checkpoint"]`."""
    import gradio as gr
    choices = checkpoint_choices(ctx)
    refresh_label = str(c[refresh_key].value)
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
            used, message = use(ctx, chosen_path(ctx, choice, refresh_label), name, overwrite)
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
    if follow is not None:
        def preselect(run, label):
            try:
                path = follow(run, label).resolve() if run and label else None
            except HypernetError:
                path = None
            listed = checkpoint_list(ctx)
            match = next((x for x in listed if path is not None and x.path.resolve() == path), None)
            if match is None:
                return gr.Dropdown.update(), gr.Textbox.update()
            return gr.Dropdown.update(choices=[x.label() for x in listed], value=match.label()), match.suggested_name()
        c["checkpoint"].change(preselect, inputs=[c["run"], c["checkpoint"]],
                               outputs=[c["run_checkpoint"], c["use_name"]], show_progress="hidden")
