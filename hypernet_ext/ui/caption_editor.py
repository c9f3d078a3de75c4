"""A small caption editor: a folder's images one at a time with their `.txt` caption; edit, save, next.

Captions are written atomically beside the image (`<stem>.txt`, UTF-8), only when "Save" is pressed.
"""
from __future__ import annotations

from pathlib import Path

from ..atomic_files import atomic_write_bytes
from ..errors import InvalidOptionError
from ..images import list_image_files
from . import messages


def caption_path(image: Path) -> Path:
    return image.with_suffix(".txt")


def folder_images(folder: str) -> list[Path]:
    """The folder's images (sorted), or InvalidOptionError naming the problem."""
    text = str(folder or "").strip()
    if not text:
        raise InvalidOptionError("Enter the folder of images whose captions to edit.")
    root = Path(text).expanduser()
    if not root.is_dir():
        raise InvalidOptionError(f"The caption folder {text!r} does not exist or is not a folder.")
    images = list_image_files(root)
    if not images:
        raise InvalidOptionError(f"The caption folder {text!r} holds no images.")
    return images


def read_caption(image: Path) -> str:
    path = caption_path(image)
    return path.read_text(encoding="utf-8", errors="replace").strip() if path.is_file() else ""


def show(folder: str, index) -> tuple[str, str, int, str]:
    """(image path, caption, index, status) of the index-th image; the index wraps around."""
    images = folder_images(folder)
    index = int(index or 0) % len(images)
    image = images[index]
    return str(image), read_caption(image), index, f"{index + 1} / {len(images)}: {image.name}"


def save(folder: str, index, caption: str) -> str:
    """Write `caption` for the index-th image (atomically); returns a status line."""
    images = folder_images(folder)
    index = int(index or 0)
    if not 0 <= index < len(images):
        raise InvalidOptionError("The folder changed since it was loaded; press Load again.")
    path = caption_path(images[index])
    atomic_write_bytes(path, (caption or "").strip().encode("utf-8"))
    return f"Saved {path.name}"


def step(folder: str, index, delta: int) -> tuple:
    """Panel callback: (image, caption, index, status HTML) `delta` images away from `index`."""
    try:
        image, caption, index, status = show(folder, int(index or 0) + delta)
        return image, caption, index, messages.note(status)
    except InvalidOptionError as exc:
        return None, "", 0, messages.error(str(exc))


def save_and_step(folder: str, index, caption: str, delta: int) -> tuple:
    """Panel callback: save the caption, then move `delta` images (0: stay; the shown values are kept)."""
    try:
        saved = save(folder, index, caption)
    except (InvalidOptionError, OSError) as exc:
        return _keep(), _keep(), index, messages.error(str(exc))
    if not delta:
        return _keep(), _keep(), index, messages.ok(saved)
    image, text, index, status = step(folder, index, delta)
    return image, text, index, messages.ok(saved) + status


def _keep():
    import gradio as gr
    return gr.update()


def build(prefix: str = "hnx_captions") -> dict:
    """The editor inside the current gradio layout; returns its components."""
    import gradio as gr
    c: dict = {}
    with gr.Accordion("Caption editor", open=False, elem_id=f"{prefix}_box"):
        with gr.Row():
            c["folder"] = gr.Textbox(label="Caption folder", placeholder="folder of images with .txt captions",
                                     elem_id=f"{prefix}_folder")
            c["load"] = gr.Button("Load", size="sm", elem_id=f"{prefix}_load")
        with gr.Row():
            c["image"] = gr.Image(type="filepath", label="Image", interactive=False, height=320,
                                  elem_id=f"{prefix}_image")
            with gr.Column():
                c["caption"] = gr.Textbox(label="Caption", lines=6, elem_id=f"{prefix}_caption")
                with gr.Row():
                    c["previous"] = gr.Button("Previous", size="sm", elem_id=f"{prefix}_previous")
                    c["save"] = gr.Button("Save caption", variant="primary", size="sm", elem_id=f"{prefix}_save")
                    c["save_next"] = gr.Button("Save and next", size="sm", elem_id=f"{prefix}_save_next")
                    c["next"] = gr.Button("Next", size="sm", elem_id=f"{prefix}_next")
                c["status"] = gr.HTML("", elem_id=f"{prefix}_status")
        c["index"] = gr.State(0)

    outputs = [c["image"], c["caption"], c["index"], c["status"]]
    c["load"].click(lambda f: step(f, 0, 0), inputs=[c["folder"]], outputs=outputs)
    c["previous"].click(lambda f, i: step(f, i, -1), inputs=[c["folder"], c["index"]], outputs=outputs)
    c["next"].click(lambda f, i: step(f, i, 1), inputs=[c["folder"], c["index"]], outputs=outputs)
    c["save"].click(lambda f, i, t: save_and_step(f, i, t, 0), inputs=[c["folder"], c["index"], c["caption"]],
                    outputs=outputs)
    c["save_next"].click(lambda f, i, t: save_and_step(f, i, t, 1),
                         inputs=[c["folder"], c["index"], c["caption"]], outputs=outputs)
    return c
