"""Optimizers by name, learning-rate setting, and gradient clipping.

Any `torch.optim` optimizer is accepted by its class name (case-insensitive), plus Lion
(`lion_pytorch`), D-Adaptation (`dadaptation`) and Prodigy (`prodigyopt`) when those packages are
installed. Optimizer-specific keyword arguments come from `args` (e.g. `{"weight_decay": 0.0}`).
"""
from __future__ import annotations

import importlib
import inspect
import math
from typing import Any, Iterable, Optional

import torch

from ..errors import InvalidOptionError

DEFAULT_OPTIMIZER = "AdamW"

# Optimizers that cannot train a hypernetwork with a plain step(): name -> reason.
_UNSUITABLE = {
    "lbfgs": "it needs a closure that re-evaluates the loss, which a sampled diffusion loss cannot give",
    "sparseadam": "it only works with sparse gradients",
    "muon": "it only handles 2-D weight matrices, and hypernetworks also have biases",
}

# name -> (module, class, pip package, fixed keyword arguments)
_OPTIONAL = {
    "lion": ("lion_pytorch", "Lion", "lion-pytorch", {}),
    "dadaptadam": ("dadaptation", "DAdaptAdam", "dadaptation", {}),
    "dadaptadamw": ("dadaptation", "DAdaptAdam", "dadaptation", {"decouple": True}),
    "dadaptsgd": ("dadaptation", "DAdaptSGD", "dadaptation", {}),
    "dadaptadagrad": ("dadaptation", "DAdaptAdaGrad", "dadaptation", {}),
    "dadaptadan": ("dadaptation", "DAdaptAdan", "dadaptation", {}),
    "dadaptlion": ("dadaptation", "DAdaptLion", "dadaptation", {}),
    "prodigy": ("prodigyopt", "Prodigy", "prodigyopt", {}),
}
_OPTIONAL_DISPLAY = {"lion": "Lion", "dadaptadam": "DAdaptAdam", "dadaptadamw": "DAdaptAdamW",
                     "dadaptsgd": "DAdaptSGD", "dadaptadagrad": "DAdaptAdaGrad", "dadaptadan": "DAdaptAdan",
                     "dadaptlion": "DAdaptLion", "prodigy": "Prodigy"}


def _torch_optimizers() -> dict[str, type]:
    return {name.lower(): cls for name, cls in inspect.getmembers(torch.optim)
            if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)
            and cls is not torch.optim.Optimizer and name.lower() not in _UNSUITABLE}


def optimizer_names() -> list[str]:
    """Every name `build_optimizer` may accept (optional ones need their package)."""
    torch_names = [cls.__name__ for cls in _torch_optimizers().values()]
    return sorted(torch_names) + list(_OPTIONAL_DISPLAY.values())


def resolve_optimizer(name: str) -> tuple[str, type, dict]:
    """(canonical name, class, fixed keyword arguments) for an optimizer name."""
    key = str(name or "").strip().lower()
    if key in _UNSUITABLE:
        raise InvalidOptionError(f"Optimizer {name!r} cannot be used: {_UNSUITABLE[key]}. Use AdamW (default), "
                                 f"Adam, SGD, Lion or Prodigy.")
    torch_classes = _torch_optimizers()
    if key in torch_classes:
        cls = torch_classes[key]
        return cls.__name__, cls, {}
    if key in _OPTIONAL:
        module_name, class_name, package, fixed = _OPTIONAL[key]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise InvalidOptionError(
                f"Optimizer {_OPTIONAL_DISPLAY[key]} needs the '{package}' package, which is not installed. "
                f"Install it with `pip install {package}` or pick another optimizer (e.g. AdamW).") from None
        return _OPTIONAL_DISPLAY[key], getattr(module, class_name), dict(fixed)
    raise InvalidOptionError(
        f"Unknown optimizer {name!r}. Use one of: {', '.join(optimizer_names())}.")


def build_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float,
                    args: Optional[dict[str, Any]] = None) -> tuple[str, torch.optim.Optimizer]:
    """Construct an optimizer by name; returns (canonical name, optimizer).

    torch optimizers get their fastest implementation the device supports (fused kernels, else
    `foreach`) unless `args` chooses one: on a CPU, fused AdamW steps a 22M-parameter hypernetwork
    about 30x faster than the default per-tensor loop.
    """
    canonical, cls, fixed = resolve_optimizer(name)
    kwargs = {**fixed, **(args or {}), "lr": float(lr)}
    params = list(params)
    for implementation in _implementations(cls, args or {}):
        try:
            return canonical, cls(params, **kwargs, **implementation)
        except (TypeError, ValueError, RuntimeError) as exc:
            if implementation:
                continue  # that kernel does not support these parameters/device: try the next one
            raise InvalidOptionError(
                f"Optimizer {canonical} rejected its arguments {dict(args or {})}: {exc}. Check the names "
                f"and values of the optimizer arguments.") from None
    raise AssertionError("unreachable: the last implementation is torch's default")


def _implementations(cls: type, args: dict) -> list[dict]:
    """Implementation keywords to try, fastest first, ending with torch's default `{}`."""
    if "fused" in args or "foreach" in args or not cls.__module__.startswith("torch.optim"):
        return [{}]
    accepted = inspect.signature(cls.__init__).parameters
    return [{key: True} for key in ("fused", "foreach") if key in accepted] + [{}]


MAX_OPTIMIZER_STEP = 1 << 40  # far beyond any real run; a larger count is a forged file


def check_optimizer_state(groups: list[list[torch.Tensor]], state: Any, source: str = "the optimizer state") -> None:
    """Refuse (HypernetworkFileError) a saved state that does not fit the parameter `groups`.

    torch trusts a loaded state: a moment tensor of the wrong shape makes fused kernels read out
    of bounds (SIGSEGV) or broadcast into huge tensors. So before torch sees it, check the group
    and parameter counts, that every per-parameter tensor is a finite floating-point scalar or has
    exactly its parameter's shape, that step counts are finite whole numbers in range, and that
    group hyper-parameters are plain finite numbers.
    """
    from ..errors import HypernetworkFileError

    def refuse(problem: str) -> None:
        raise HypernetworkFileError(f"{source} does not fit this hypernetwork: {problem}. Delete the .optim "
                                    f"sidecar (or train without resume) to start with a fresh optimizer.")

    if not isinstance(state, dict) or not isinstance(state.get("state"), dict) \
            or not isinstance(state.get("param_groups"), list):
        refuse("it needs a 'state' dict and a 'param_groups' list")
    groups, ours = state["param_groups"], [{"params": list(g)} for g in groups]
    if len(groups) != len(ours):
        refuse(f"it has {len(groups)} parameter group(s), this optimizer {len(ours)}")
    params: dict[Any, torch.Tensor] = {}
    for index, (group, mine) in enumerate(zip(groups, ours)):
        ids = group.get("params") if isinstance(group, dict) else None
        if not isinstance(ids, list) or len(ids) != len(mine["params"]):
            refuse(f"group {index} lists {len(ids) if isinstance(ids, list) else 'no'} parameters, this "
                   f"hypernetwork has {len(mine['params'])}")
        for key, value in group.items():
            if key != "params":
                _check_group_value(value, f"group {index} {key}", refuse)
        for pid, param in zip(ids, mine["params"]):
            if isinstance(pid, bool) or not isinstance(pid, (int, str)) or pid in params:
                refuse(f"parameter id {pid!r} is not a unique number")
            params[pid] = param
    for pid, entries in state["state"].items():
        if pid not in params:
            refuse(f"it holds state for parameter {pid!r}, which no group lists")
        if not isinstance(entries, dict):
            refuse(f"the state of parameter {pid!r} is a {type(entries).__name__}, not a dict")
        for key, value in entries.items():
            _check_state_value(value, params[pid], f"parameter {pid} {key}", key == "step", refuse)


def _check_group_value(value: Any, where: str, refuse) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            refuse(f"{where} is {value}")
        return
    if isinstance(value, (tuple, list)) and len(value) <= 8:
        for item in value:
            _check_group_value(item, where, refuse)
        return
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        _check_group_value(float(value), where, refuse)
        return
    refuse(f"{where} is a {type(value).__name__}, not a number")


def _check_state_value(value: Any, param: torch.Tensor, where: str, is_step: bool, refuse) -> None:
    if isinstance(value, torch.Tensor):
        if is_step or value.dim() == 0:
            if value.numel() != 1:
                refuse(f"{where} must be a single number, has shape {list(value.shape)}")
            number = float(value)
        else:
            if tuple(value.shape) != tuple(param.shape):
                refuse(f"{where} has shape {list(value.shape)}, its parameter {list(param.shape)}")
            if not value.is_floating_point():
                refuse(f"{where} has dtype {value.dtype}, not floating point")
            if not bool(torch.isfinite(value).all()):
                refuse(f"{where} holds NaN or infinite values")
            return
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif value is None or isinstance(value, (bool, str)):
        return
    else:
        refuse(f"{where} is a {type(value).__name__}, not a tensor or number")
    if not math.isfinite(number):
        refuse(f"{where} is {number}")
    if is_step and (number < 0 or number > MAX_OPTIMIZER_STEP or not float(number).is_integer()):
        refuse(f"{where} is {number:g}, not a step count")


def load_optimizer_state_dict(optimizer: torch.optim.Optimizer, state: dict, source: str = "the optimizer state") -> None:
    """Check a saved state (ours or the webui's) against the parameters, load it, keep fused/foreach."""
    check_optimizer_state([g["params"] for g in optimizer.param_groups], state, source)
    chosen = [{k: g.get(k) for k in ("fused", "foreach") if k in g} for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, keys in zip(optimizer.param_groups, chosen):
        group.update(keys)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = float(lr)


def effective_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The step size actually used: `lr`, times `d` for D-Adaptation/Prodigy."""
    group = optimizer.param_groups[0]
    return float(group["lr"]) * float(group.get("d", 1.0))


CLIP_MODES = ("none", "value", "norm")


def clip_gradients(params: Iterable[torch.nn.Parameter], mode: str, value: float) -> Optional[float]:
    """Clip gradients in place by value or by total L2 norm; returns the norm before clipping for 'norm'.

    Call it on unscaled gradients (after `GradScaler.unscale_`).
    """
    params = [p for p in params if p.grad is not None]
    if mode == "none" or not params:
        return None
    if mode == "value":
        torch.nn.utils.clip_grad_value_(params, value)
        return None
    if mode == "norm":
        return float(torch.nn.utils.clip_grad_norm_(params, value))
    raise InvalidOptionError(f"Gradient clipping mode {mode!r} is unknown; use one of {', '.join(CLIP_MODES)}.")


def clip_and_step(optimizer: torch.optim.Optimizer, scaler: "torch.amp.GradScaler", params: Iterable[torch.nn.Parameter],
                  mode: str = "none", value: float = 0.0) -> None:
    """Unscale (when the GradScaler is enabled), clip the now unscaled gradients, step, update the scale."""
    scaler.unscale_(optimizer)
    clip_gradients(params, mode, value)
    scaler.step(optimizer)
    scaler.update()
