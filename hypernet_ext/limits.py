"""Bounds for values no real job needs, checked at the edge (options, requests, loaded files).

A value past a bound is not wrong in itself, but it turns a job into one that cannot be
interrupted in any useful time (grad_accum 10^9 micro-batches before the first cancellation
check), that overflows a library (seed 10^30), or that makes a small file ask for gigabytes. The
defaults are far beyond any real use; a user who needs more raises one:

- in the webui: Settings > Hypernetworks > "Raise safety limits" (`key=value` per line), which
  calls `configure(...)`;
- anywhere: the environment variable `HYPERNET_EXT_LIMITS="grad_accum=4096,steps=50000000"`;
- in code: `limits.configure(grad_accum=4096)`.

`check_int(name, value, label)` raises `InvalidOptionError` naming the field, the bound and how to
raise it; `check_depth(obj)` bounds the nesting of loaded metadata and pickled objects.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import HypernetError, HypernetworkFileError, InvalidOptionError

ENVIRONMENT_VARIABLE = "HYPERNET_EXT_LIMITS"


@dataclass
class Limits:
    steps: int = 10_000_000
    grad_accum: int = 1024
    batch_size: int = 1024
    save_every: int = 10_000_000
    preview_every: int = 10_000_000
    csv_every: int = 10_000_000
    loss_guard_steps: int = 10_000_000
    cosine_cycle_steps: int = 10_000_000
    cosine_warmup: int = 10_000_000
    keep_first_tags: int = 10_000
    preview_steps: int = 1000
    seed: int = 2 ** 63 - 1
    image_side: int = 16384
    name_chars: int = 200
    text_chars: int = 100_000
    init_std: float = 100.0
    nesting_depth: int = 32
    widths: int = 64
    parameters: int = 1 << 31

    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]


_lock = threading.Lock()
_current = Limits()
_source: Optional[Callable[[], str]] = None
_source_text: Optional[str] = None


def current() -> Limits:
    """The limits in force: defaults, the environment variable, `configure`, then the settings source."""
    global _source_text
    if _source is not None:
        try:
            text = str(_source() or "")
        except Exception:  # the host's settings are not ready: keep what is in force
            text = _source_text
        if text is not None and text != _source_text:
            _source_text = text
            reset()
            overrides = parse_overrides(text)
            if overrides:
                configure(**overrides)
    return _current


def use_settings_source(source: Optional[Callable[[], str]]) -> None:
    """Read `name=value` overrides from `source()` (e.g. a webui setting) whenever limits are checked."""
    global _source, _source_text
    _source, _source_text = source, None


def configure(**values: Any) -> Limits:
    """Raise (or lower) limits by name; unknown names or non-positive values raise HypernetError."""
    global _current
    with _lock:
        updated = dataclasses.replace(_current)
        for name, value in values.items():
            if name not in updated.names():
                raise HypernetError(f"Unknown limit {name!r}; known limits: {', '.join(updated.names())}.")
            kind = type(getattr(Limits(), name))
            try:
                number = kind(float(value)) if kind is int else kind(value)
            except (TypeError, ValueError, OverflowError):
                raise HypernetError(f"Limit {name} must be a number, got {value!r}.") from None
            if not number > 0:
                raise HypernetError(f"Limit {name} must be positive, got {value!r}.")
            setattr(updated, name, number)
        _current = updated
    return _current


def parse_overrides(text: str) -> dict[str, str]:
    """`"a=1, b=2"` or one `key=value` per line -> {"a": "1", "b": "2"}."""
    out = {}
    for item in str(text or "").replace("\n", ",").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise HypernetError(f"Limit override {item.strip()!r} must be name=value, e.g. grad_accum=4096.")
        out[key.strip()] = value.strip()
    return out


def reset() -> Limits:
    """Back to the defaults plus the environment variable (tests use this)."""
    global _current
    with _lock:
        _current = Limits()
    overrides = parse_overrides(os.environ.get(ENVIRONMENT_VARIABLE, ""))
    return configure(**overrides) if overrides else _current


def _how_to_raise(name: str) -> str:
    return (f"raise the limit with {ENVIRONMENT_VARIABLE}=\"{name}=N\" or, in the webui, Settings > "
            f"Hypernetworks > Raise safety limits")


def check_int(name: str, value: Any, label: str, minimum: int = 0) -> int:
    """`value` as an int within [minimum, limit `name`]; else InvalidOptionError naming `label`."""
    bound = getattr(current(), name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidOptionError(f"{label} must be a whole number, got {value!r:.60}.")
    if isinstance(value, float) and (value in (float("inf"), float("-inf")) or not value.is_integer()):
        raise InvalidOptionError(f"{label} must be a whole number, got {value!r:.60}.")
    if value < minimum:
        raise InvalidOptionError(f"{label} must be at least {minimum}, got {value!r:.60}.")
    if value > bound:
        raise InvalidOptionError(f"{label} is {value:.6g}, over the limit of {bound:,}; use a smaller value or "
                                 f"{_how_to_raise(name)}.")
    return int(value)


def check_number(name: str, value: Any, label: str) -> float:
    """A finite float with |value| <= limit `name`."""
    bound = getattr(current(), name)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidOptionError(f"{label} must be a number, got {value!r:.60}.") from None
    if not number == number or abs(number) > bound:
        raise InvalidOptionError(f"{label} is {value!r:.30}, outside -{bound:g}..{bound:g}; use a smaller value "
                                 f"or {_how_to_raise(name)}.")
    return number


def check_text(name: str, value: Any, label: str) -> str:
    """Text no longer than limit `name` characters and without NUL."""
    bound = getattr(current(), name)
    if not isinstance(value, str):
        raise InvalidOptionError(f"{label} must be text, got {type(value).__name__}.")
    if len(value) > bound:
        raise InvalidOptionError(f"{label} is {len(value):,} characters long, over the limit of {bound:,}; shorten "
                                 f"it or {_how_to_raise(name)}.")
    if "\x00" in value:
        raise InvalidOptionError(f"{label} contains a NUL character; remove it.")
    return value


TRAINING_INTS = (("steps", "steps", 1), ("grad_accum", "grad_accum", 1), ("save_every", "save_every", 0),
                 ("preview_every", "preview_every", 0), ("csv_every", "csv_every", 0),
                 ("loss_guard_steps", "loss_guard_steps", 1), ("cosine_cycle_steps", "cosine_cycle_steps", 1),
                 ("cosine_warmup", "cosine_warmup", 0))
DATA_INTS = (("batch_size", "batch_size", 1), ("keep_first_tags", "keep_first_tags", 0))


def check_training_options(options: Any) -> None:
    """Bound every count of a TrainingOptions (and its DataOptions and preview) by the limits."""
    for field, name, minimum in TRAINING_INTS:
        if hasattr(options, field):
            check_int(name, getattr(options, field), field, minimum)
    data = getattr(options, "data", None)
    for field, name, minimum in DATA_INTS:
        if data is not None and hasattr(data, field):
            check_int(name, getattr(data, field), field, minimum)
    if data is not None and hasattr(data, "seed"):
        check_int("seed", abs(data.seed) if isinstance(data.seed, (int, float)) else data.seed, "seed")
    preview = getattr(options, "preview", None)
    if preview is not None:
        check_int("preview_steps", getattr(preview, "steps", 1), "preview steps", 1)
        seed = getattr(preview, "seed", 0)
        check_int("seed", abs(seed) if isinstance(seed, (int, float)) else seed, "preview seed")
        for side in ("width", "height"):
            check_int("image_side", getattr(preview, side, 64), f"preview {side}", 1)
        check_text("text_chars", getattr(preview, "prompt", "") or "", "preview prompt")


def nesting_depth(obj: Any, stop_after: int) -> int:
    """Depth of nested lists/tuples/dicts/sets in `obj`, counted without recursion (stops past `stop_after`)."""
    deepest = 0
    stack = [(obj, 1)]
    seen: set[int] = set()
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (list, tuple, dict, set, frozenset)) or id(item) in seen:
            continue
        seen.add(id(item))
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        children = list(item.keys()) + list(item.values()) if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(obj: Any, what: str = "the file's data") -> Any:
    """`obj` unchanged, or HypernetworkFileError when nested deeper than the `nesting_depth` limit."""
    bound = current().nesting_depth
    if nesting_depth(obj, bound) > bound:
        raise HypernetworkFileError(f"{what} is nested more than {bound} levels deep; no hypernetwork file needs "
                                    f"that (the file is forged or damaged).")
    return obj


reset()
