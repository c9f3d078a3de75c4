"""X/Y/Z plot axes "Hypernetwork" and "Hypernetwork strength", added to the webui's own xyz-grid script.

The webui loads `scripts/xyz_grid.py` by path, so its module is named "xyz_grid.py" and is reachable
only through `modules.scripts.scripts_data`; extensions append `AxisOption`s (that module's own class,
so they show in txt2img and img2img) to its `axis_options` list before the UI is built, i.e. from the
`before_ui` callback. Registering twice (UI reload) adds nothing.

- "Hypernetwork": values are library names, optionally `name:strength`; "None" (or empty) adds
  nothing. Each cell's prompt gets `<hypernet:name:strength>`, so the cell is rendered exactly as
  that prompt would be (and its infotext says so). Unknown names stop the plot before rendering
  with the webui's "Unknown ..." error, like the checkpoint axis.
- "Hypernetwork strength": sets the strength of every `<hypernet:...>` tag in the cell's prompt and
  of the tag the Hypernetwork axis adds without an explicit `:strength`, in whichever axis order.
"""
from __future__ import annotations

import re
from typing import Any, Optional

HYPERNETWORK_AXIS = "Hypernetwork"
STRENGTH_AXIS = "Hypernetwork strength"
NONE_VALUES = ("", "none")
_TAG = re.compile(r"<hypernet:([^:>]+)(?::([^>]*))?>")
_EXPLICIT = "hypernet_ext_xyz_explicit"    # attributes kept on the cell's processing object
_STRENGTH = "hypernet_ext_xyz_strength"


def split_value(value: str) -> tuple[str, Optional[float]]:
    """'anime:0.8' -> ('anime', 0.8); 'anime' -> ('anime', None)."""
    text = str(value).strip()
    name, sep, tail = text.rpartition(":")
    if sep and name:
        try:
            return name.strip(), float(tail)
        except ValueError:
            pass
    return text, None


def apply_hypernetwork(p: Any, value: str, values: list) -> None:
    name, strength = split_value(value)
    if name.lower() in NONE_VALUES:
        return
    explicit = strength is not None
    if strength is None:
        strength = getattr(p, _STRENGTH, 1.0)
    tag = f"<hypernet:{name}:{strength:g}>"
    p.prompt = f"{p.prompt} {tag}" if p.prompt else tag
    if explicit:
        setattr(p, _EXPLICIT, getattr(p, _EXPLICIT, ()) + (tag,))


def apply_strength(p: Any, value: float, values: list) -> None:
    strength = float(value)
    setattr(p, _STRENGTH, strength)
    keep = set(getattr(p, _EXPLICIT, ()))

    def rewrite(match: re.Match) -> str:
        return match.group(0) if match.group(0) in keep else f"<hypernet:{match.group(1)}:{strength:g}>"

    p.prompt = _TAG.sub(rewrite, p.prompt or "")


def _names() -> list[str]:
    from .runtime import runtime
    return runtime.library.names()


def confirm_hypernetworks(p: Any, values: list) -> None:
    known = set(_names())
    for value in values:
        name, _ = split_value(value)
        if name.lower() not in NONE_VALUES and name not in known:
            raise RuntimeError(f"Unknown hypernetwork: {name}")


def choices() -> list[str]:
    return ["None", *_names()]


def xyz_grid_module() -> Optional[Any]:
    """The loaded xyz-grid script module, or None when the webui has none (or it is disabled)."""
    from modules import scripts
    for data in getattr(scripts, "scripts_data", []):
        if getattr(data.script_class, "__module__", "") == "xyz_grid.py":
            return data.module
    return None


def register_axes() -> bool:
    """Add our two axes to the xyz-grid script; False when the script is not there."""
    module = xyz_grid_module()
    if module is None or not hasattr(module, "AxisOption"):
        return False
    labels = {getattr(option, "label", None) for option in module.axis_options}
    if HYPERNETWORK_AXIS not in labels:
        module.axis_options.append(module.AxisOption(HYPERNETWORK_AXIS, str, apply_hypernetwork,
                                                     confirm=confirm_hypernetworks, choices=choices))
    if STRENGTH_AXIS not in labels:
        module.axis_options.append(module.AxisOption(STRENGTH_AXIS, float, apply_strength))
    return True
