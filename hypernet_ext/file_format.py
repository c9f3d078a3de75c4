"""Convert a `Hypernetwork` to and from the webui's `.pt` dict and our `.safetensors` layout.

`.pt` (a torch pickle of one dict, the layout the webui v1.10 and MonkeyPatch write):
  `<int width>: (k_state_dict, v_state_dict)` (OrderedDicts of float32 tensors, keys `linear.<i>.*`),
  `step`, `name`, `layer_structure`, `activation_func`, `is_layer_norm`, `weight_initialization`,
  `sd_checkpoint`, `sd_checkpoint_name`, `activate_output`, `use_dropout`, `dropout_structure`,
  `last_layer_dropout`, `optional_info`, MonkeyPatch's `skip_connection` and `upsample_linear`, then
  `hypernet_ext` (a JSON string `{"version": 1, "metadata": hn.metadata}`) and the unknown keys of the
  file the network came from (`hn.extra`), written back unchanged. Both loaders ignore non-int keys
  they do not know. Reading applies the webui's defaults for missing keys (`activate_output` True,
  `last_layer_dropout` False, `layer_structure` [1, 2, 1], derived dropout structure), renames old
  `linear1/linear2` keys and keeps only `int` width keys, as the webui does. An unknown
  `weight_initialization` (informational after creation) reads as "Normal".

`.safetensors`: tensors named `<width>.<k|v>.<state-dict key>` (e.g. `768.k.linear.0.weight`); the
header's `__metadata__` holds `format` = "hypernet_ext/hypernetwork", `format_version` = "1",
`sizes` (JSON list, in order) and every `.pt` key above JSON-encoded under its own name, plus
`extra` (JSON object of the JSON-able unknown keys).
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any, Mapping, Optional

import torch

from .config import WEIGHT_INITS, HypernetworkConfig, default_dropout_structure
from . import limits
from .errors import HypernetError, HypernetworkFileError, InvalidOptionError
from .hypernetwork import Hypernetwork
from .layers import build_module

METADATA_KEY = "hypernet_ext"
METADATA_VERSION = 1
SAFETENSORS_FORMAT = "hypernet_ext/hypernetwork"
SAFETENSORS_VERSION = "1"
MAX_TEXT_CHARS = 1 << 20
OLD_KEYS = {"linear1.weight": "linear.0.weight", "linear1.bias": "linear.0.bias",
            "linear2.weight": "linear.1.weight", "linear2.bias": "linear.1.bias"}
STANDARD_KEYS = ("step", "name", "layer_structure", "activation_func", "is_layer_norm",
                 "weight_initialization", "sd_checkpoint", "sd_checkpoint_name", "activate_output",
                 "use_dropout", "dropout_structure", "last_layer_dropout", "optional_info",
                 "skip_connection", "upsample_linear")
KNOWN_KEYS = frozenset(STANDARD_KEYS + (METADATA_KEY,))


# -- writing ----------------------------------------------------------------------------------
def hypernetwork_to_dict(hn: Hypernetwork) -> dict:
    """The exact webui dict for `hn` (+ our metadata key and `hn.extra`)."""
    out: dict[Any, Any] = {}
    for size in hn.sizes:
        pair = hn.pair(size)
        out[int(size)] = (_clean_state_dict(pair.k), _clean_state_dict(pair.v))
    out.update(_settings_dict(hn))
    out[METADATA_KEY] = metadata_json(hn.metadata)
    for key, value in hn.extra.items():
        if type(key) is int or key in KNOWN_KEYS:
            raise HypernetError(f"hn.extra key {key!r} clashes with a standard file key; remove it from hn.extra.")
        out[key] = value
    return out


def _clean_state_dict(module: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((key, t.detach().to("cpu", torch.float32).contiguous().clone())
                       for key, t in module.state_dict().items())


def _settings_dict(hn: Hypernetwork) -> dict:
    c = hn.config
    n = len(c.layer_structure)
    dropout = [float(p) for p in c.effective_dropout[:n]]  # MonkeyPatch asserts equal lengths
    return {
        "step": int(hn.step),
        "name": hn.name,
        "layer_structure": [float(m) for m in c.layer_structure],
        "activation_func": c.activation,
        "is_layer_norm": bool(c.layer_norm),
        "weight_initialization": c.weight_init,
        "sd_checkpoint": hn.sd_checkpoint,
        "sd_checkpoint_name": hn.sd_checkpoint_name,
        "activate_output": bool(c.activate_output),
        "use_dropout": any(p > 0 for p in dropout),
        "dropout_structure": dropout,
        "last_layer_dropout": dropout[-2] != 0,
        "optional_info": hn.optional_info or None,
        "skip_connection": bool(c.skip_connection),
        "upsample_linear": c.upsample_linear or None,
    }


def metadata_json(metadata: Mapping) -> str:
    """Our metadata as the JSON string stored under `hypernet_ext`."""
    try:
        return json.dumps({"version": METADATA_VERSION, "metadata": dict(metadata)}, allow_nan=False,
                          sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise HypernetError(f"hn.metadata must be JSON-serialisable (str/int/float/bool/None/list/dict): {exc}") from None


# -- reading ----------------------------------------------------------------------------------
def hypernetwork_from_dict(d: dict, fallback_name: str) -> Hypernetwork:
    """Build a validated Hypernetwork from a webui/MonkeyPatch dict; raises HypernetworkFileError."""
    if not isinstance(d, dict):
        raise HypernetworkFileError(f"not a hypernetwork: the file holds a {type(d).__name__}, not a dict.")
    widths = [key for key in d if type(key) is int]
    if not widths:
        raise HypernetworkFileError(_no_widths_message(d))
    if len(widths) > limits.current().widths or any(not 0 < w <= 65536 for w in widths):
        raise HypernetworkFileError(f"the file declares {len(widths)} attention width(s) ({_short(widths)}); "
                                    f"hypernetworks have a few widths between 1 and 65536.")
    config = config_from_dict(d)
    _check_declared_size(widths, config)
    pairs = {w: _checked_pair(d[w], w, config) for w in widths}
    try:
        hn = Hypernetwork(_text(d, "name") or fallback_name, sizes=widths, config=config, step=_step(d))
    except InvalidOptionError as exc:
        raise HypernetworkFileError(f"invalid hypernetwork: {exc}") from None
    with torch.no_grad():
        for w, (k_sd, v_sd) in pairs.items():
            hn.pair(w).k.load_state_dict(k_sd)
            hn.pair(w).v.load_state_dict(v_sd)
    hn.optional_info = _text(d, "optional_info")
    hn.sd_checkpoint = _text(d, "sd_checkpoint")
    hn.sd_checkpoint_name = _text(d, "sd_checkpoint_name")
    hn.metadata = parse_metadata(d.get(METADATA_KEY))
    hn.extra = {k: v for k, v in d.items() if type(k) is not int and k not in KNOWN_KEYS}
    hn.eval()
    return hn


def _no_widths_message(d: dict) -> str:
    text_widths = [k for k in d if isinstance(k, str) and k.isdigit()]
    hint = (f" Its width keys are strings ({', '.join(text_widths[:4])}); the webui ignores those, so the "
            f"writer must store them as Python ints." if text_widths else "")
    return ("not a hypernetwork: no attention widths (integer keys such as 768 or 320 holding the K/V "
            "weights)." + hint)


def config_from_dict(d: Mapping) -> HypernetworkConfig:
    """The structure a webui loader builds from this dict, with its defaults for missing keys."""
    layer_structure = d.get("layer_structure", [1, 2, 1])
    if layer_structure is None:
        layer_structure = [1, 2, 1]
    layer_structure = _number_list(layer_structure, "layer_structure")
    dropout = d.get("dropout_structure")
    if dropout is not None:
        dropout = _number_list(dropout, "dropout_structure")
    use_dropout = bool(dropout is not None and any(dropout)) or _flag(d, "use_dropout", False)
    last_layer_dropout = _flag(d, "last_layer_dropout", False)
    if dropout is None:
        dropout = default_dropout_structure(layer_structure, use_dropout, last_layer_dropout)
    activation = d.get("activation_func")
    if activation is not None and not isinstance(activation, str):
        raise HypernetworkFileError(f"activation_func must be a string or None, not {activation!r}.")
    weight_init = d.get("weight_initialization")
    upsample = d.get("upsample_linear") or None
    try:
        return HypernetworkConfig(
            layer_structure=layer_structure, activation=activation,
            weight_init=weight_init if weight_init in WEIGHT_INITS else "Normal",
            layer_norm=_flag(d, "is_layer_norm", False), dropout_structure=dropout if any(dropout) else None,
            activate_output=_flag(d, "activate_output", True), last_layer_dropout=last_layer_dropout,
            skip_connection=_flag(d, "skip_connection", False), upsample_linear=upsample, strict=False)
    except InvalidOptionError as exc:
        raise HypernetworkFileError(f"invalid hypernetwork structure: {exc}") from None


def _checked_pair(value, width: int, config: HypernetworkConfig) -> tuple[dict, dict]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise HypernetworkFileError(
            f"width {width}: expected a pair (K state dict, V state dict), got {type(value).__name__}"
            f"{'' if not isinstance(value, (tuple, list)) else f' of length {len(value)}'}.")
    expected = _expected_shapes(width, config)
    return tuple(_checked_state_dict(sd, expected, f"width {width} {kv}") for sd, kv in zip(value, "KV"))


def _check_declared_size(widths: list[int], config: HypernetworkConfig) -> None:
    """The structure's parameter count, before any module is built for it, within the `parameters` limit."""
    total = 0
    for width in widths:
        total += sum(math.prod(shape) for shape in _expected_shapes(width, config).values()) * 2
    if total > limits.current().parameters:
        raise HypernetworkFileError(f"the declared structure (layer_structure {_short(config.layer_structure)}, "
                                    f"widths {_short(widths)}) implies {total:,} parameters, over the limit of "
                                    f"{limits.current().parameters:,}; the file is forged or damaged.")


def _expected_shapes(width: int, config: HypernetworkConfig) -> dict[str, tuple]:
    with torch.device("meta"):
        module = build_module(width, config)
    return {key: tuple(t.shape) for key, t in module.state_dict().items()}


def _checked_state_dict(sd, expected: dict[str, tuple], where: str) -> dict:
    if not isinstance(sd, dict):
        raise HypernetworkFileError(f"{where}: expected a state dict, got {type(sd).__name__}.")
    sd = {OLD_KEYS.get(k, k): v for k, v in sd.items()}
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        raise HypernetworkFileError(
            f"{where}: weights do not match the stored structure (missing {missing}, unexpected "
            f"{unexpected}); layer_structure/activation/is_layer_norm/dropout_structure/activate_output "
            f"disagree with the weights.")
    out = {}
    for key, shape in expected.items():
        t = sd[key]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise HypernetworkFileError(f"{where}: {key} must be a floating-point tensor, got "
                                        f"{getattr(t, 'dtype', type(t).__name__)}.")
        if tuple(t.shape) != shape:
            raise HypernetworkFileError(f"{where}: {key} has shape {list(t.shape)}, expected {list(shape)}.")
        if not bool(torch.isfinite(t).all()):
            raise HypernetworkFileError(f"{where}: {key} contains NaN or infinite values; the file is damaged "
                                        f"(training diverged). Use an earlier checkpoint.")
        out[key] = t.to(torch.float32)
    return out


def _number_list(value, key: str) -> list:
    if not isinstance(value, (list, tuple)) or len(value) > 1000 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise HypernetworkFileError(f"{key} must be a short list of finite numbers, got {_short(value)}.")
    return list(value)


def _short(value) -> str:
    """A bounded description of a hostile value (repr of deep nesting would recurse)."""
    if isinstance(value, (list, tuple, dict)):
        inner = ", ".join(type(v).__name__ if isinstance(v, (list, tuple, dict)) else repr(v)[:20]
                          for v in list(value)[:8])
        return f"a {type(value).__name__} of {len(value)} item(s) [{inner}{', ...' if len(value) > 8 else ''}]"
    return repr(value)[:200]


def _flag(d: Mapping, key: str, default: bool) -> bool:
    value = d.get(key, default)
    if value is None or isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise HypernetworkFileError(f"{key} must be true or false, got {value!r:.100}.")


def _step(d: Mapping) -> int:
    step = d.get("step", 0)
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise HypernetworkFileError(f"step must be a non-negative integer, got {step!r:.100}.")
    return step


def _text(d: Mapping, key: str) -> Optional[str]:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise HypernetworkFileError(f"{key} must be a string or None, got {type(value).__name__}.")
    if value is not None and len(value) > MAX_TEXT_CHARS:
        raise HypernetworkFileError(f"{key} is {len(value):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
    return value


def parse_metadata(value) -> dict:
    """Our metadata from the `hypernet_ext` key (missing -> {})."""
    if value is None:
        return {}
    if not isinstance(value, str) or len(value) > 16 * MAX_TEXT_CHARS:
        raise HypernetworkFileError(f"the '{METADATA_KEY}' key must be a JSON string, got {type(value).__name__}.")
    envelope = bounded_json(value, f"the '{METADATA_KEY}' key")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("metadata", {}), dict):
        raise HypernetworkFileError(f"the '{METADATA_KEY}' key must hold a JSON object with a 'metadata' object.")
    return envelope.get("metadata", {})


# -- safetensors ----------------------------------------------------------------------------
def hypernetwork_to_safetensors(hn: Hypernetwork) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, string metadata) for `safetensors.torch.save_file`."""
    d = hypernetwork_to_dict(hn)
    tensors: dict[str, torch.Tensor] = {}
    for size in hn.sizes:
        for kv, sd in zip("kv", d[int(size)]):
            tensors.update({f"{size}.{kv}.{key}": t for key, t in sd.items()})
    header = {"format": SAFETENSORS_FORMAT, "format_version": SAFETENSORS_VERSION,
              "sizes": json.dumps([int(s) for s in hn.sizes]), METADATA_KEY: d[METADATA_KEY]}
    header.update({key: json.dumps(d[key]) for key in STANDARD_KEYS})
    try:
        header["extra"] = json.dumps(hn.extra, allow_nan=False)
    except (TypeError, ValueError):
        raise HypernetError(
            f"hn.extra holds values that .safetensors cannot store ({', '.join(map(repr, hn.extra))}); "
            f"save as .pt instead or remove them.") from None
    return tensors, header


def hypernetwork_from_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]],
                                  fallback_name: str) -> Hypernetwork:
    """Rebuild and validate a Hypernetwork from our safetensors layout."""
    metadata = dict(metadata or {})
    if metadata.get("format") != SAFETENSORS_FORMAT:
        raise HypernetworkFileError(
            "not a hypernet_ext hypernetwork: the .safetensors header has no "
            f"format={SAFETENSORS_FORMAT!r} marker (LoRA and other safetensors files cannot be loaded here).")
    d: dict[Any, Any] = {key: _json_field(metadata, key) for key in STANDARD_KEYS if key in metadata}
    sizes = _json_field(metadata, "sizes")
    if not isinstance(sizes, list) or not all(type(s) is int for s in sizes):
        raise HypernetworkFileError("the safetensors 'sizes' entry must be a JSON list of integers.")
    per_module = {(s, kv): OrderedDict() for s in sizes for kv in "kv"}
    for name, tensor in tensors.items():
        width, _, rest = name.partition(".")
        kv, _, key = rest.partition(".")
        if not width.isdigit() or (int(width), kv) not in per_module or not key:
            raise HypernetworkFileError(f"unexpected tensor {name!r} in the safetensors file.")
        per_module[(int(width), kv)][key] = tensor
    for s in sizes:
        d[s] = (per_module[(s, "k")], per_module[(s, "v")])
    if METADATA_KEY in metadata:
        d[METADATA_KEY] = metadata[METADATA_KEY]
    extra = _json_field(metadata, "extra") if "extra" in metadata else {}
    if not isinstance(extra, dict):
        raise HypernetworkFileError("the safetensors 'extra' entry must be a JSON object.")
    d.update({k: v for k, v in extra.items() if k not in KNOWN_KEYS})
    return hypernetwork_from_dict(d, fallback_name)


def _json_field(metadata: Mapping[str, str], key: str):
    if key not in metadata:
        raise HypernetworkFileError(f"the safetensors header lacks the '{key}' entry.")
    return bounded_json(metadata[key], f"the safetensors header entry '{key}'")


def bounded_json(text, what: str):
    """JSON from a file, refused (HypernetworkFileError) when invalid, too long or nested too deep."""
    if not isinstance(text, str) or len(text) > 16 * MAX_TEXT_CHARS:
        raise HypernetworkFileError(f"{what} must be JSON text of at most {16 * MAX_TEXT_CHARS:,} characters.")
    if _bracket_depth(text) > limits.current().nesting_depth:
        raise HypernetworkFileError(f"{what} is nested more than {limits.current().nesting_depth} levels deep; "
                                    f"the file is forged or damaged.")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise HypernetworkFileError(f"{what} is not valid JSON: {str(exc)[:200]}.") from None


def _bracket_depth(text: str) -> int:
    """Upper bound of the nesting depth of JSON text (brackets inside strings count too), without parsing."""
    if text.count("[") + text.count("{") <= limits.current().nesting_depth:
        return 0
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
