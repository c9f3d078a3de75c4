"""Create panel: every creation option, live parameter count and file size, overwrite protection."""
from __future__ import annotations

from pathlib import Path

from ..create_options import CreateOptions, create_file, estimate
from ..errors import HypernetError
from ..option_spec import converted, declared_options
from . import messages
from .context import PanelContext
from .option_components import build_options, titles_html

CreateForm = CreateOptions  # the panel's values, as typed
SPECS = declared_options(CreateOptions, "panel")
LAYOUT = (("", None),)
FIELDS = ("name", "widths", "folder", *(spec.name for spec in SPECS))
NOT_ESTIMATED = ("name", "optional_info", "folder", "overwrite", "weight_init", "init_std", "init_seed")


def form_of(values: dict) -> CreateForm:
    """The form from the panel's values (numbers converted; messages use the panel's labels)."""
    return CreateForm(str(values.get("name") or ""), list(values.get("widths") or ()), str(values.get("folder") or ""),
                      **converted(CreateOptions, values))


def estimate_html(form: CreateForm) -> str:
    """The live summary under the options, or what is wrong with them."""
    try:
        count, size = estimate(form)
    except HypernetError as exc:
        return messages.error(str(exc))
    widths = ", ".join(str(w) for w in form.sizes())
    return messages.note(f"{count:,} parameters for widths {widths}; the .{form.file_format} file will be "
                         f"about {format_bytes(size)}.")


def create(form: CreateForm, ctx: PanelContext) -> Path:
    """Create and save the hypernetwork; refuses to replace a file unless 'Overwrite an existing file' is ticked."""
    default = "" if (form.folder or "").strip() else ctx.first_hypernetwork_dir()
    return create_file(form, default, overwrite_hint="tick 'Overwrite an existing file'")


def create_html(form: CreateForm, ctx: PanelContext) -> str:
    try:
        path = create(form, ctx)
    except HypernetError as exc:
        return messages.error(str(exc))
    count, _ = estimate(form)
    return messages.ok(f"Created {path} ({count:,} parameters, {format_bytes(path.stat().st_size)}).")


def format_bytes(size: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"


def build(ctx: PanelContext, prefix: str = "hnx_create") -> dict:
    """Lay out the panel in the current gradio context; returns its components by field name."""
    import gradio as gr
    widths = ctx.widths_offered()
    folders = [str(f) for f in ctx.hypernetwork_dirs()]
    c: dict = {}
    with gr.Column(elem_id=prefix, elem_classes=["hnx-panel"]):
        c["name"] = gr.Textbox(label="Hypernetwork name", elem_id=f"{prefix}_name")
        with gr.Row():
            c["widths"] = gr.CheckboxGroup([str(w) for w in widths], value=[str(w) for w in widths],
                                           label="Attention widths to train", elem_id=f"{prefix}_widths")
            c["refresh_widths"] = gr.Button("Read widths from the model", elem_id=f"{prefix}_refresh_widths",
                                            size="sm")
            c["folder"] = gr.Dropdown(folders, value=folders[0] if folders else None, allow_custom_value=True,
                                      label="Save into folder", elem_id=f"{prefix}_folder")
        c.update(build_options(gr, SPECS, {}, prefix, LAYOUT))
        c["option_titles"] = gr.HTML(titles_html(SPECS), elem_id=f"{prefix}_option_titles")
        c["estimate"] = gr.HTML(estimate_html(CreateForm("", widths)), elem_id=f"{prefix}_estimate")
        c["create"] = gr.Button("Create hypernetwork", variant="primary", elem_id=f"{prefix}_button")
        c["result"] = gr.HTML(elem_id=f"{prefix}_result")
    inputs = [c[f] for f in FIELDS]

    def shown(render):
        def handler(*values):
            try:
                return render(form_of(dict(zip(FIELDS, values))))
            except HypernetError as exc:
                return messages.error(str(exc))
        return handler

    for f in FIELDS:
        if f not in NOT_ESTIMATED:
            c[f].change(shown(estimate_html), inputs=inputs, outputs=[c["estimate"]], show_progress="hidden")

    def create_clicked(*values):
        """(result, estimate): an error shows once, under the button; the estimate steps aside when it
        would repeat it (it shows the same option error while typing)."""
        result = shown(lambda form: create_html(form, ctx))(*values)
        estimate_now = shown(estimate_html)(*values)
        return result, ("" if estimate_now == result else estimate_now)
    c["create_event"] = c["create"].click(create_clicked, inputs=inputs, outputs=[c["result"], c["estimate"]])

    def refresh_widths():
        offered = [str(w) for w in ctx.widths_offered()]
        return gr.CheckboxGroup.update(choices=offered, value=offered)
    c["refresh_widths"].click(refresh_widths, outputs=[c["widths"]], show_progress="hidden")
    return c
