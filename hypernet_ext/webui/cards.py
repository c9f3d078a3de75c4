"""The Extra Networks "Hypernetworks" page: one card per file in the library.

Cards show the preview image and description found beside the file (webui conventions:
`<name>.png`, `<name>.preview.png`, `<name>.txt`, ...), plus a summary line with the base model,
attention widths and training step read from the file header. Clicking a card inserts
`<hypernet:NAME:STRENGTH>` with the default strength from our settings.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Optional

from modules import shared, ui_extra_networks

from ..errors import HypernetError
from ..storage import read_header
from . import settings
from .runtime import WebuiRuntime, runtime as default_runtime

PAGE_TITLE = "Hypernetworks"


def base_model_label(widths: list[int]) -> str:
    """SD1 / SD2 / SDXL from the text width a hypernetwork carries (or 'self-attention only')."""
    labels = [label for width, label in ((768, "SD1"), (1024, "SD2"), (2048, "SDXL")) if width in widths]
    return "/".join(labels) if labels else "self-attention only"


def summary(header: dict) -> str:
    """'SD1 · widths 768/320/640/1280 · step 5000 · trained on model [hash]'."""
    if header.get("format") == "hns":  # a mixing file (mix.py)
        return f"{header.get('optional_info') or 'mix'} (.hns)"
    widths = [int(w) for w in header.get("sizes", [])]
    parts = [base_model_label(widths), "widths " + "/".join(str(w) for w in widths),
             f"step {header.get('step') or 0}"]
    checkpoint = header.get("sd_checkpoint_name")
    if checkpoint:
        trained = f"trained on {checkpoint}"
        if header.get("sd_checkpoint"):
            trained += f" [{header['sd_checkpoint']}]"
        parts.append(trained)
    return " \u00b7 ".join(parts)


class HypernetworksPage(ui_extra_networks.ExtraNetworksPage):
    """Replaces the webui's built-in page of the same title."""

    def __init__(self, runtime: WebuiRuntime = default_runtime):
        super().__init__(PAGE_TITLE)
        self.runtime = runtime

    def refresh(self) -> None:
        self.runtime.refresh()
        reload_builtin = getattr(shared, "reload_hypernetworks", None)
        if callable(reload_builtin):  # keeps the legacy "Add hypernetwork to prompt" list current
            reload_builtin()

    def create_item(self, name: str, index: Optional[int] = None, enable_filter: bool = True) -> Optional[dict]:
        path = self.runtime.library.path(name)
        if path is None:
            return None
        full_path = str(path)
        stem = os.path.splitext(full_path)[0]
        header = self._header(full_path)
        user_text = self.find_description(stem)
        info = summary(header) if header else "unreadable file: " + header_error(full_path)
        description = f"{user_text.strip()}\n{info}" if user_text else info
        self.metadata[name] = _metadata(header) if header else {}
        search_terms = [self.search_terms_from_path(stem), info]
        return {
            "name": name,
            "filename": full_path,
            "shorthash": None,  # hashing every file on page build is slow; the infotext has hashes
            "preview": self.find_preview(stem),
            "description": description,
            "search_terms": [term for term in search_terms if term],
            "prompt": ui_extra_networks.quote_js(f"<hypernet:{name}:")
                      + " + opts.hypernet_ext_default_strength + " + ui_extra_networks.quote_js(">"),
            "local_preview": f"{stem}.preview.{getattr(shared.opts, 'samples_format', 'png')}",
            "metadata": self.metadata[name],
            "sort_keys": {"default": index, **self.get_sort_keys(full_path)},
        }

    def list_items(self) -> Iterator[dict]:
        for index, name in enumerate(list(self.runtime.library.names())):
            item = self.create_item(name, index)
            if item is not None:
                yield item

    def allowed_directories_for_previews(self) -> list[str]:
        return settings.hypernetwork_folders()

    @staticmethod
    def _header(path: str) -> Optional[dict]:
        try:
            return read_header(path)
        except (HypernetError, OSError):
            return None


def header_error(path: str) -> str:
    try:
        read_header(path)
    except (HypernetError, OSError) as exc:
        return str(exc)
    return ""


def _metadata(header: dict) -> dict[str, Any]:
    keep = ("sizes", "step", "layer_structure", "activation", "weight_init", "layer_norm",
            "dropout_structure", "activate_output", "skip_connection", "sd_checkpoint",
            "sd_checkpoint_name", "parameter_count", "format", "optional_info")
    out = {key: header[key] for key in keep if header.get(key) is not None}
    out["base model"] = base_model_label([int(w) for w in header.get("sizes", [])])
    return out


def install_page(runtime: WebuiRuntime = default_runtime) -> HypernetworksPage:
    """Register our page, removing any earlier page titled "Hypernetworks" (call from `on_before_ui`)."""
    ui_extra_networks.extra_pages[:] = [page for page in ui_extra_networks.extra_pages
                                        if getattr(page, "title", None) != PAGE_TITLE]
    page = HypernetworksPage(runtime)
    ui_extra_networks.register_page(page)
    return page
