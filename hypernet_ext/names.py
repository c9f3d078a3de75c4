"""Which name a hypernetwork goes by: its file name, everywhere a user sees or types one.

A `.pt` file also stores a `name` inside it, which the webui's own trainer, other tools or a
renamed copy leave different from the file name (`bk10.pt` may say "tinynet"). Users only ever
see and type file names (the `<hypernet:NAME>` tag is the file stem, Extra Networks shows files),
so:

- tags, lists, live views and messages use the file stem (`shown_name`);
- a training run is named after the file it started from (`bk10.pt` -> run folder `bk10/...`,
  checkpoints `bk10-<step>.pt`, previews `bk10-<step>.png`); resuming keeps the run's name even
  though it starts from `bk10-163.pt`;
- the name stored inside each file written is that file's stem, as the webui's trainer does, so
  a file read by another tool agrees too. The stored name of a file read is data, never used to
  find or label it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def shown_name(hypernetwork: Any) -> str:
    """The file stem of a loaded hypernetwork (its stored name only when it came from no file)."""
    filename = getattr(hypernetwork, "filename", None)
    return Path(str(filename)).stem if filename else str(getattr(hypernetwork, "name", "") or "?")


def run_name(hypernetwork_file: Any, given: str = "") -> str:
    """The name of a training run: the one it was given (a resumed run's), else the file's stem."""
    return str(given or "").strip() or Path(str(hypernetwork_file)).stem
