"""The extension's state inside the webui process: the hypernetwork library and the attachment.

One `WebuiRuntime` (module attribute `runtime`) owns the library built from the configured folders
and the hooks on the loaded model's UNet. Every change of hypernetworks goes through `apply` and
`detach`, so the model never carries stale hooks.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional, Sequence

from torch import nn

from ..attach import HypernetworkAttachment, attach_hypernetworks, attention_widths
from ..library import HypernetworkLibrary
from ..storage import short_hash
from . import settings

Pair = tuple[Any, float]


def model_unet(sd_model: Any) -> Optional[nn.Module]:
    """`sd_model.model.diffusion_model` (ldm and sgm models alike), or None when absent."""
    unet = getattr(getattr(sd_model, "model", None), "diffusion_model", None)
    return unet if isinstance(unet, nn.Module) else None


class WebuiRuntime:
    """Library + attachment for the webui's current model."""

    def __init__(self):
        self._lock = threading.RLock()
        self._library: Optional[HypernetworkLibrary] = None
        self._folders: tuple[str, ...] = ()
        self._attachment: Optional[HypernetworkAttachment] = None
        self._hashes: dict[tuple[str, float, int], str] = {}

    # -- library ----------------------------------------------------------------------------
    @property
    def library(self) -> HypernetworkLibrary:
        """The library over the configured folders; rebuilt when the folder settings change."""
        folders = tuple(settings.hypernetwork_folders())
        with self._lock:
            if self._library is None or folders != self._folders:
                self._library = HypernetworkLibrary(list(folders))
                self._folders = folders
            return self._library

    def refresh(self) -> HypernetworkLibrary:
        library = self.library
        library.refresh()
        return library

    def file_hash(self, path: str) -> Optional[str]:
        """Short (10 hex) SHA-256 of a file, cached by path, size and modification time."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        key = (os.path.abspath(path), stat.st_mtime, stat.st_size)
        with self._lock:
            if key not in self._hashes:
                self._hashes[key] = short_hash(path)
            return self._hashes[key]

    def name_for_hash(self, shorthash: str) -> Optional[str]:
        """The library name of a file with this short hash, or None."""
        shorthash = shorthash.strip().lower()
        library = self.library
        for name in library.names():
            path = library.path(name)
            if path is not None and self.file_hash(str(path)) == shorthash:
                return name
        return None

    # -- attachment -------------------------------------------------------------------------
    @property
    def attachment(self) -> Optional[HypernetworkAttachment]:
        return self._attachment

    @property
    def applied(self) -> tuple[Pair, ...]:
        """The `(hypernetwork, strength)` pairs currently attached to the model."""
        return self._attachment.pairs if self._attachment is not None else ()

    def apply(self, sd_model: Any, pairs: Sequence[Pair]) -> None:
        """Attach exactly `pairs` to the model's UNet (an empty list detaches)."""
        with self._lock:
            unet = model_unet(sd_model)
            if self._attachment is not None and self._attachment.unet is not unet:
                self.detach()
            if not pairs:
                self.detach()
                return
            if unet is None:
                raise RuntimeError("The loaded model has no UNet (model.diffusion_model); load a "
                                   "Stable Diffusion checkpoint to use hypernetworks.")
            self._attachment = attach_hypernetworks(unet, list(pairs))

    def detach(self) -> None:
        """Remove every hook this extension put on a model."""
        with self._lock:
            if self._attachment is not None:
                self._attachment.detach()
                self._attachment = None

    def on_model_loaded(self, sd_model: Any) -> None:
        """A new or reloaded checkpoint: hooks on the old UNet must go; tags re-attach next run."""
        self.detach()

    @staticmethod
    def model_widths(sd_model: Any) -> tuple[int, ...]:
        unet = model_unet(sd_model)
        return attention_widths(unet) if unet is not None else ()


runtime = WebuiRuntime()
