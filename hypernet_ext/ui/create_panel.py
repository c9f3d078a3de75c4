"""Create panel: every creation option, live parameter count and file size, overwrite protection."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from ..config import SELECTABLE_ACTIVATIONS, WEIGHT_INITS, HypernetworkConfig, parse_number_list
from ..errors import HypernetError, InvalidOptionError
from ..hypernetwork import Hypernetwork, create_hypernetwork, sanitize_name, validate_sizes
from ..storage import save_hypernetwork
from . import messages
from .context import PanelContext

FORMATS = ("pt", "safetensors")
BYTES_PER_TENSOR = 160   # zip entry / JSON header overhead per tensor, roughly
FILE_OVERHEAD = 4096


@dataclass
class CreateForm:
    """The Create panel's values, as typed."""

    name: str
    widths: Sequence
    layer_structure: str = "1, 2, 1"
    activation: str = "linear"
    weight_init: str = "Normal"
    init_std: float = 0.01
    init_seed: float = -1
    layer_norm: bool = False
    use_dropout: bool = False
    dropout_structure: str = "0, 0, 0"
    activate_output: bool = False
    skip_connection: bool = False
    optional_info: str = ""
    file_format: str = "pt"
    folder: str = ""
    overwrite: bool = False

    def sizes(self) -> tuple[int, ...]:
        return validate_sizes(int(w) for w in self.widths or ())

    def config(self) -> HypernetworkConfig:
        layers = tuple(parse_number_list(self.layer_structure, "Layer structure"))
        dropout = tuple(parse_number_list(self.dropout_structure, "Dropout structure")) if self.use_dropout else None
        return HypernetworkConfig(layer_structure=layers, activation=self.activation, weight_init=self.weight_init,
                                  layer_norm=bool(self.layer_norm), dropout_structure=dropout,
                                  activate_output=bool(self.activate_output),
                                  last_layer_dropout=bool(dropout and len(dropout) >= 2 and dropout[-2] != 0),
                                  skip_connection=bool(self.skip_connection))


def estimate(form: CreateForm) -> tuple[int, int]:
    """(parameter count, approximate file size in bytes) without allocating any weights."""
    config, sizes = form.config(), form.sizes()
    with torch.device("meta"):
        hn = Hypernetwork("estimate", sizes=sizes, config=config)
    tensors = list(hn.state_dict().values())
    count = sum(t.numel() for t in tensors)
    size = sum(t.numel() * t.element_size() for t in tensors) + BYTES_PER_TENSOR * len(tensors) + FILE_OVERHEAD
    return count, size


def estimate_html(form: CreateForm) -> str:
    """The live summary under the options, or what is wrong with them."""
    try:
        count, size = estimate(form)
    except HypernetError as exc:
        return messages.error(str(exc))
    widths = ", ".join(str(w) for w in form.sizes())
    return messages.note(f"{count:,} parameters for widths {widths}; the .{form.file_format} file will be "
                         f"about {format_bytes(size)}.")


def target_path(form: CreateForm, ctx: PanelContext) -> Path:
    folder = (form.folder or "").strip() or ctx.first_hypernetwork_dir()
    if form.file_format not in FORMATS:
        raise InvalidOptionError(f"File format {form.file_format!r} is not one of: {', '.join(FORMATS)}.")
    return Path(folder).expanduser() / f"{sanitize_name(form.name)}.{form.file_format}"


def create(form: CreateForm, ctx: PanelContext) -> Path:
    """Create and save the hypernetwork; refuses to replace a file unless `overwrite` is ticked."""
    if not str(form.name or "").strip():
        raise InvalidOptionError("Enter a name for the new hypernetwork.")
    path = target_path(form, ctx)
    if path.exists() and not form.overwrite:
        raise InvalidOptionError(f"{path} already exists. Tick 'Overwrite an existing file' to replace it, "
                                 f"or choose another name.")
    config = form.config()
    seed: Optional[int] = None if form.init_seed is None or int(form.init_seed) < 0 else int(form.init_seed)
    hn = create_hypernetwork(form.name, sizes=form.sizes(), layer_structure=config.layer_structure,
                             activation=config.activation, weight_init=config.weight_init,
                             layer_norm=config.layer_norm, dropout_structure=config.dropout_structure,
                             activate_output=config.activate_output, last_layer_dropout=config.last_layer_dropout,
                             skip_connection=config.skip_connection, optional_info=(form.optional_info or None),
                             init_std=float(form.init_std), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_hypernetwork(hn, path, overwrite=bool(form.overwrite))


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


FIELDS = ("name", "widths", "layer_structure", "activation", "weight_init", "init_std", "init_seed", "layer_norm",
          "use_dropout", "dropout_structure", "activate_output", "skip_connection", "optional_info", "file_format",
          "folder", "overwrite")


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
        with gr.Row():
            c["layer_structure"] = gr.Textbox("1, 2, 1", label="Layer structure", elem_id=f"{prefix}_layers")
            c["activation"] = gr.Dropdown(list(SELECTABLE_ACTIVATIONS), value="linear", label="Activation function",
                                          elem_id=f"{prefix}_activation")
            c["weight_init"] = gr.Dropdown(list(WEIGHT_INITS), value="Normal", label="Weight initialization",
                                           elem_id=f"{prefix}_init")
        with gr.Row():
            c["init_std"] = gr.Number(0.01, label="Normal initialization std", elem_id=f"{prefix}_std")
            c["init_seed"] = gr.Number(-1, precision=0, label="Initialization seed (-1 = random)",
                                       elem_id=f"{prefix}_seed")
        with gr.Row():
            c["layer_norm"] = gr.Checkbox(False, label="Add layer normalization", elem_id=f"{prefix}_layer_norm")
            c["use_dropout"] = gr.Checkbox(False, label="Use dropout", elem_id=f"{prefix}_use_dropout")
            c["activate_output"] = gr.Checkbox(False, label="Activate the output layer too",
                                               elem_id=f"{prefix}_activate_output")
            c["skip_connection"] = gr.Checkbox(False, label="Use skip connection (MonkeyPatch residual)",
                                               elem_id=f"{prefix}_skip")
        c["dropout_structure"] = gr.Textbox("0, 0, 0", label="Dropout structure", elem_id=f"{prefix}_dropout")
        c["optional_info"] = gr.Textbox(label="Notes stored in the file", elem_id=f"{prefix}_info")
        with gr.Row():
            c["file_format"] = gr.Radio(list(FORMATS), value="pt", label="File format", elem_id=f"{prefix}_format")
            c["folder"] = gr.Dropdown(folders, value=folders[0] if folders else None, allow_custom_value=True,
                                      label="Save into folder", elem_id=f"{prefix}_folder")
            c["overwrite"] = gr.Checkbox(False, label="Overwrite an existing file", elem_id=f"{prefix}_overwrite")
        c["estimate"] = gr.HTML(estimate_html(CreateForm("", widths)), elem_id=f"{prefix}_estimate")
        c["create"] = gr.Button("Create hypernetwork", variant="primary", elem_id=f"{prefix}_button")
        c["result"] = gr.HTML(elem_id=f"{prefix}_result")
    inputs = [c[f] for f in FIELDS]

    def form_of(*values) -> CreateForm:
        return CreateForm(**dict(zip(FIELDS, values)))

    for f in FIELDS:
        if f not in ("name", "optional_info", "folder", "overwrite", "weight_init", "init_std", "init_seed"):
            c[f].change(lambda *v: estimate_html(form_of(*v)), inputs=inputs, outputs=[c["estimate"]],
                        show_progress="hidden")
    c["create"].click(lambda *v: create_html(form_of(*v), ctx), inputs=inputs, outputs=[c["result"]])

    def refresh_widths():
        offered = [str(w) for w in ctx.widths_offered()]
        return gr.CheckboxGroup.update(choices=offered, value=offered)
    c["refresh_widths"].click(refresh_widths, outputs=[c["widths"]], show_progress="hidden")
    return c
