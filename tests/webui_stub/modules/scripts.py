"""Stand-in of `modules.scripts`: the `Script` base class and the `scripts_data` registry.

As in the webui, `load_scripts()` imports every `scripts/*.py` file of the stand-in by path with
`importlib.util.spec_from_file_location(os.path.basename(path), path)` (so a script module's
`__name__` is its file name, e.g. "xyz_grid.py") and records one `ScriptClassData` per `Script`
subclass it defines. Extensions find the X/Y/Z plot module through this list.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
from collections import namedtuple

ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])
scripts_data: list = []
BASEDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Script:
    """What the webui's scripts subclass; only the parts the stand-in's scripts use."""

    def title(self):
        raise NotImplementedError

    def show(self, is_img2img):
        return True

    def ui(self, is_img2img):
        return []

    def run(self, p, *args):
        return None


def load_module(path: str):
    spec = importlib.util.spec_from_file_location(os.path.basename(path), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_scripts() -> None:
    """Import the stand-in's `scripts/*.py` (sorted) into `scripts_data`, replacing earlier loads."""
    scripts_data.clear()
    folder = os.path.join(BASEDIR, "scripts")
    for filename in sorted(os.listdir(folder)):
        if not filename.endswith(".py"):
            continue
        path = os.path.join(folder, filename)
        module = load_module(path)
        for script_class in module.__dict__.values():
            if inspect.isclass(script_class) and issubclass(script_class, Script) and script_class is not Script:
                scripts_data.append(ScriptClassData(script_class, path, BASEDIR, module))
