import io
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from hypernet_ext.errors import HypernetworkFileError
from hypernet_ext.safe_unpickle import InertPickledObject, TensorInfo, peek_torch_file, safe_torch_load
from helpers_files import RunsEval, RunsShell, torch_bytes

PAYLOAD = {
    768: (OrderedDict({"linear.0.weight": torch.randn(3, 2)}), {"linear.0.bias": torch.randn(3).half()}),
    "step": 7, "flags": [True, None, 1.5, "x"], "shape": (1, 2),
    "rng": torch.arange(5, dtype=torch.uint8), "steps": torch.tensor([3], dtype=torch.int64),
}


@pytest.mark.parametrize("zip_format", [True, False])
def test_loads_tensors_and_primitives_from_path_bytes_and_file(tmp_path, zip_format):
    data = torch_bytes(PAYLOAD, zip_format)
    path = tmp_path / "x.pt"
    path.write_bytes(data)
    for source in (path, str(path), data, io.BytesIO(data)):
        out = safe_torch_load(source)
        assert torch.equal(out[768][0]["linear.0.weight"], PAYLOAD[768][0]["linear.0.weight"])
        assert out[768][1]["linear.0.bias"].dtype == torch.float16
        assert out["rng"].dtype == torch.uint8 and out["steps"].dtype == torch.int64
        assert out["flags"] == [True, None, 1.5, "x"] and out["shape"] == (1, 2)


@pytest.mark.parametrize("zip_format", [True, False])
def test_os_system_payload_never_runs(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    data = torch_bytes({"step": 1, "nested": [{"deep": (RunsShell(marker),)}]}, zip_format)
    with pytest.raises(HypernetworkFileError, match=r"'posix\.system'|'nt\.system'"):
        safe_torch_load(data)
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_eval_payload_is_named(zip_format):
    with pytest.raises(HypernetworkFileError, match=r"builtins\.eval"):
        safe_torch_load(torch_bytes({768: RunsEval()}, zip_format))


def test_checkpoint_profile_is_not_looser_about_code():
    with pytest.raises(HypernetworkFileError, match=r"builtins\.eval"):
        safe_torch_load(torch_bytes([RunsEval()]), profile="checkpoint")


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"this is not a model at all", "not a torch file"),
    (b"PK\x03\x04 broken zip", "truncated"),
])
def test_empty_and_garbage(data, message):
    with pytest.raises(HypernetworkFileError, match=message):
        safe_torch_load(data)


@pytest.mark.parametrize("zip_format", [True, False])
def test_every_truncation_raises_the_one_error_type(zip_format):
    data = torch_bytes(PAYLOAD, zip_format)
    for cut in (1, 2, 9, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        with pytest.raises(HypernetworkFileError):
            safe_torch_load(data[:cut])


def test_zero_byte_file(tmp_path):
    path = tmp_path / "zero.pt"
    path.write_bytes(b"")
    with pytest.raises(HypernetworkFileError, match="empty"):
        safe_torch_load(path)


def test_missing_file(tmp_path):
    with pytest.raises(HypernetworkFileError, match="no such file"):
        safe_torch_load(tmp_path / "nope.pt")


def test_zip_with_foreign_entry_is_rejected():
    src = zipfile.ZipFile(io.BytesIO(torch_bytes({"step": 1})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("archive/payload.py", "print('hi')")
    with pytest.raises(HypernetworkFileError, match="payload.py"):
        safe_torch_load(out.getvalue())


def _pickle_with_fake_lightning_callback() -> bytes:
    module = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        def __init__(self):
            self.monitor = "val/loss"
            self.best_model_score = torch.tensor(0.25)

    ModelCheckpoint.__module__ = module.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint
    fakes = {"pytorch_lightning": types.ModuleType("pytorch_lightning"),
             "pytorch_lightning.callbacks": types.ModuleType("pytorch_lightning.callbacks"),
             module.__name__: module}
    sys.modules.update(fakes)
    try:
        return torch_bytes({"global_step": 470000, "epoch": np.int64(6), "score": np.float64(0.5),
                            "callbacks": {"cb": ModelCheckpoint()}, "state_dict": {"w": torch.ones(2)}})
    finally:
        for name in fakes:
            del sys.modules[name]


def test_checkpoint_profile_replaces_lightning_callbacks_with_inert_objects():
    data = _pickle_with_fake_lightning_callback()
    out = safe_torch_load(data, profile="checkpoint")
    callback = out["callbacks"]["cb"]
    assert isinstance(callback, InertPickledObject)
    assert callback.state["monitor"] == "val/loss"
    assert float(callback.state["best_model_score"]) == 0.25
    assert out["epoch"] == 6 and out["score"] == 0.5 and out["global_step"] == 470000
    assert "pytorch_lightning" not in sys.modules and "pytorch_lightning.callbacks" not in sys.modules


def test_hypernetwork_profile_rejects_checkpoint_only_globals():
    with pytest.raises(HypernetworkFileError, match="ModelCheckpoint|numpy"):
        safe_torch_load(_pickle_with_fake_lightning_callback())


def test_peek_reads_structure_without_tensor_data(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(torch_bytes(PAYLOAD))
    out = peek_torch_file(path)
    info = out[768][0]["linear.0.weight"]
    assert isinstance(info, TensorInfo) and info.shape == (3, 2) and info.numel() == 6
    assert out["step"] == 7


def test_peek_refuses_hostile_globals(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(torch_bytes({"x": RunsEval()}))
    with pytest.raises(HypernetworkFileError, match=r"builtins\.eval"):
        peek_torch_file(path)


@pytest.mark.parametrize("zip_format", [True, False])
def test_works_when_the_host_replaced_pickle_unpickler(monkeypatch, zip_format):
    """Inside some host processes `pickle.Unpickler` is the pure-Python class; loading must not depend on it."""
    import pickle

    monkeypatch.setattr(pickle, "Unpickler", pickle._Unpickler)
    data = torch_bytes({"w": torch.arange(6.0).reshape(2, 3)}, zip_format=zip_format)
    assert torch.equal(safe_torch_load(data)["w"], torch.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("zip_format", [True, False])
def test_pure_python_unpickler_base_is_supported_and_still_restricted(monkeypatch, tmp_path, zip_format):
    import pickle

    from hypernet_ext import safe_unpickle

    monkeypatch.setattr(safe_unpickle, "_BaseUnpickler", pickle._Unpickler)
    data = torch_bytes({"w": torch.ones(4)}, zip_format=zip_format)
    assert torch.equal(safe_torch_load(data)["w"], torch.ones(4))
    marker = tmp_path / "pwned"
    with pytest.raises(HypernetworkFileError, match="posix.system|os.system"):
        safe_torch_load(torch_bytes({"x": RunsShell(marker)}, zip_format=zip_format))
    assert not marker.exists()
