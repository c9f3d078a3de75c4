"""What a host (the webui or the standalone app) gives the panels: folders, the model, the job runner."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import HypernetError
from ..hypernetwork import KNOWN_SIZES
from ..jobs import JobManager
from ..library import HypernetworkLibrary
from ..preprocess.captioners import REGISTRY, CaptionerRegistry


@dataclass
class TrainDefaults:
    """Initial values of the Train panel (the webui reads them from its settings)."""

    learning_rate: str = "0.00001"
    batch_size: int = 1
    steps: int = 10000
    save_every: int = 500
    preview_every: int = 500
    save_optimizer_state: bool = True
    width: int = 512
    height: int = 512


@dataclass
class PanelContext:
    """Everything the panels need from their host; callables are re-read on every use.

    hypernetwork_dirs: folders of hypernetworks (Create writes into the first unless told otherwise).
    log_dir: root folder of training runs (a run lives in `<log_dir>/<hypernetwork name>`).
    host: returns the TrainingHost to train on (raises HypernetError naming the fix when none).
    model_widths: attention widths of the loaded model (empty when unknown).
    preview_inputs: the webui's 8 txt2img components [prompt, negative, steps, sampler_name, cfg,
    seed, width, height]; None outside the webui.
    """

    hypernetwork_dirs: Callable[[], Sequence[str]]
    log_dir: Callable[[], str]
    host: Callable[[], Any]
    model_widths: Callable[[], Sequence[int]]
    jobs: JobManager = field(default_factory=JobManager)
    captioners: CaptionerRegistry = REGISTRY
    defaults: TrainDefaults = field(default_factory=TrainDefaults)
    preview_inputs: Optional[list] = None
    library_factory: Optional[Callable[[], HypernetworkLibrary]] = None
    model_lock: threading.Lock = field(default_factory=threading.Lock)
    generate_available: bool = False
    _library: Optional[HypernetworkLibrary] = field(default=None, repr=False)

    def library(self) -> HypernetworkLibrary:
        """The hypernetwork library over `hypernetwork_dirs()` (refreshed: new files show up)."""
        if self.library_factory is not None:
            library = self.library_factory()
        else:
            folders = [str(Path(f).expanduser()) for f in self.hypernetwork_dirs()]
            if self._library is None or [str(f) for f in self._library.folders] != folders:
                self._library = HypernetworkLibrary(folders)
            library = self._library
        library.refresh()
        return library

    def widths_offered(self) -> list[int]:
        """The loaded model's attention widths, or the usual SD widths when no model is known."""
        try:
            widths = [int(w) for w in self.model_widths() or ()]
        except HypernetError:
            widths = []
        return widths or list(KNOWN_SIZES)

    def first_hypernetwork_dir(self) -> str:
        folders = list(self.hypernetwork_dirs())
        if not folders:
            raise HypernetError("No hypernetwork folder is configured; start with --hypernetwork-dir DIR "
                                "(or set the webui's --hypernetwork-dir).")
        return str(folders[0])
