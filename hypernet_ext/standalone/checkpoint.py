"""Reading SD single-file checkpoints safely and putting their weights into modules.

`.safetensors` is read with safetensors; `.ckpt`/`.pt`/`.pth` with the restricted unpickler
(`hypernet_ext.safe_unpickle`, profile "checkpoint"), so no pickled code ever runs.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping, Optional

import torch
from torch import nn

from ..errors import HypernetworkFileError

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth")
_SKIPPED = ("model_ema.",)  # EMA copies of the UNet: never used, not worth reading


def _missing_file(path: str) -> HypernetworkFileError:
    return HypernetworkFileError(
        f"model file not found: {path}; pass 'tiny' for the built-in test model or the path of an "
        "SD 1.x/2.x single-file checkpoint (.safetensors or .ckpt)")


def _read_safetensors(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys() if not key.startswith(_SKIPPED)}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise HypernetworkFileError(f"{path}: not a readable .safetensors file ({error}); the download is "
                                    "probably incomplete or the file is corrupt, fetch it again") from error
    return tensors, metadata


def _read_pickle(path: str) -> dict[str, torch.Tensor]:
    from ..safe_unpickle import safe_torch_load

    data = safe_torch_load(path, profile="checkpoint")
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping):
        raise HypernetworkFileError(f"{path}: holds a {type(data).__name__}, not a state dict of tensors; "
                                    "it is not a Stable Diffusion checkpoint")
    return {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}


def read_checkpoint(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict, safetensors metadata) of a single-file checkpoint; a top-level `state_dict` is unwrapped."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _missing_file(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path)
    if suffix in PICKLE_SUFFIXES:
        return _read_pickle(path), {}
    raise HypernetworkFileError(f"{path}: unknown checkpoint type {suffix or '(no suffix)'!r}; use a "
                                ".safetensors or .ckpt single-file checkpoint")


def with_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under `prefix`, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _fill_non_persistent(module: nn.Module) -> None:
    """Recreate buffers a state dict never carries (transformers' CLIP `position_ids`)."""
    for name, buffer in list(module.named_buffers()):
        if not buffer.is_meta:
            continue
        owner_name, _, leaf = name.rpartition(".")
        if leaf != "position_ids":
            raise HypernetworkFileError(f"internal: buffer {name} has no value after loading")
        owner = module.get_submodule(owner_name) if owner_name else module
        owner.register_buffer(leaf, torch.arange(buffer.shape[-1]).expand(buffer.shape), persistent=False)


def build_with_weights(factory: Callable[[], nn.Module], weights: Mapping[str, torch.Tensor],
                       label: str, source: str) -> nn.Module:
    """Build `factory()` on the meta device and adopt `weights` as its tensors (strict key match)."""
    with torch.device("meta"):
        module = factory()
    expected = set(module.state_dict().keys())
    missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or unexpected:
        detail = (f"missing {missing[:3]}{'...' if len(missing) > 3 else ''} "
                  f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
        raise HypernetworkFileError(f"{source}: the {label} weights do not match the structure inferred from "
                                    f"the checkpoint ({detail}); the file is damaged or a variant the "
                                    "standalone host does not know")
    try:
        module.load_state_dict(dict(weights), strict=True, assign=True)
    except RuntimeError as error:
        raise HypernetworkFileError(f"{source}: the {label} tensor shapes do not fit the inferred structure: "
                                    f"{str(error).splitlines()[-1].strip()}") from error
    _fill_non_persistent(module)
    return module


def sidecar_parameterization(path: Optional[str]) -> Optional[str]:
    """'v' or 'eps' from a webui-style `<checkpoint>.yaml` next to the file (`parameterization: "v"`)."""
    if not path:
        return None
    yaml_path = os.path.splitext(path)[0] + ".yaml"
    if not os.path.isfile(yaml_path):
        return None
    import yaml

    try:
        with open(yaml_path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        value = config["model"]["params"].get("parameterization", "eps")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise HypernetworkFileError(f"{yaml_path}: unreadable model config ({error}); fix or remove it") from error
    return normalize_prediction(str(value), yaml_path)


_PREDICTION_NAMES = {"v": "v", "v_prediction": "v", "v-prediction": "v", "eps": "eps", "epsilon": "eps"}
METADATA_PREDICTION_KEYS = ("modelspec.prediction_type", "prediction_type")


def normalize_prediction(value: str, source: str) -> str:
    """'eps' or 'v' from the usual spellings (epsilon, v_prediction, ...)."""
    name = _PREDICTION_NAMES.get(value.strip().lower())
    if name is None:
        raise HypernetworkFileError(f"{source}: prediction type {value!r} is not one of eps/epsilon/v/v_prediction")
    return name


def metadata_parameterization(metadata: Mapping[str, str]) -> Optional[str]:
    """'v' or 'eps' from safetensors metadata, when it says."""
    for key in METADATA_PREDICTION_KEYS:
        if metadata.get(key):
            return normalize_prediction(metadata[key], f"metadata {key}")
    return None
