import re
import zipfile

import pytest
import torch

from hypernet_ext.errors import HypernetError, HypernetworkFileError
from hypernet_ext.storage import (convert_hypernetwork, file_sha256, legacy_model_hash, load_hypernetwork,
                                  load_optimizer_state, read_header, save_hypernetwork, save_optimizer_state,
                                  short_hash)
from helpers_files import RunsShell, inputs, linear_sd, outputs, tiny_hypernetwork, torch_bytes

# The webui v1.10 safe loader accepts only these zip entry names.
WEBUI_ZIP_NAMES = re.compile(r"^([^/]+)/((data/\d+)|version|byteorder|.data/serialization_id|(data\.pkl))$")


def _assert_same_outputs(a, b):
    x = inputs()
    for out_a, out_b in zip(outputs(a, x), outputs(b, x)):
        assert torch.equal(out_a, out_b)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("options", [
    dict(activation="prelu", layer_norm=True, dropout_structure=[0, 0.2, 0.1, 0], layer_structure=(1, 1.5, 0.5, 1)),
    dict(activation="relu", activate_output=True, skip_connection=True),
    dict(),
])
def test_save_load_round_trip(tmp_path, suffix, options):
    hn = tiny_hypernetwork(**options)
    hn.metadata = {"dataset": {"images": 12}}
    hn.extra = {"from_other_tool": "kept"}
    path = save_hypernetwork(hn, tmp_path / f"net{suffix}")
    assert hn.filename == str(path)
    back = load_hypernetwork(path)
    assert back.filename == str(path) and not back.training
    assert back.metadata == hn.metadata and back.extra == hn.extra and back.config == hn.config
    _assert_same_outputs(hn, back)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left behind


def test_pt_file_is_what_the_webui_safe_loader_accepts(tmp_path):
    path = save_hypernetwork(tiny_hypernetwork(activation="relu"), tmp_path / "net.pt")
    with zipfile.ZipFile(path) as archive:
        assert all(WEBUI_ZIP_NAMES.match(name) for name in archive.namelist())
        for info in archive.infolist():
            data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
            assert data_start % 64 == 0
    d = torch.load(path, weights_only=True)  # ComfyUI's loader
    assert [k for k in d if type(k) is int] == [16, 8]
    assert isinstance(d[16], tuple) and d["activation_func"] == "relu"


@pytest.mark.parametrize("zip_format", [True, False])
def test_plain_torch_saved_webui_dict_loads_with_defaults(tmp_path, zip_format):
    shapes = {0: (32, 16), 1: (16, 32)}
    path = tmp_path / "webui.pt"
    path.write_bytes(torch_bytes({16: (linear_sd(shapes), linear_sd(shapes, 1)), "step": 900,
                                  "sd_checkpoint": "abcdef0123", "sd_checkpoint_name": "v1-5"}, zip_format))
    hn = load_hypernetwork(path)
    assert hn.name == "webui" and hn.step == 900 and hn.sizes == (16,)
    assert hn.config.activate_output is True and hn.sd_checkpoint_name == "v1-5"
    x = torch.randn(2, 16)
    sd = linear_sd(shapes)
    expected = x + ((x @ sd["linear.0.weight"].T + sd["linear.0.bias"]) @ sd["linear.1.weight"].T
                    + sd["linear.1.bias"]) * 0.3
    assert torch.allclose(hn.pair(16).k(x, 0.3), expected, atol=1e-5)


def test_overwrite_protection_and_suffix(tmp_path):
    hn = tiny_hypernetwork()
    path = save_hypernetwork(hn, tmp_path / "a.pt")
    before = path.read_bytes()
    with pytest.raises(HypernetError, match="overwrite=True"):
        save_hypernetwork(tiny_hypernetwork(seed=3), path)
    assert path.read_bytes() == before
    save_hypernetwork(tiny_hypernetwork(seed=3), path, overwrite=True)
    assert path.read_bytes() != before
    with pytest.raises(HypernetError, match=r"\.pt.*\.safetensors"):
        save_hypernetwork(hn, tmp_path / "a.ckpt")


def test_convert_both_ways(tmp_path):
    hn = tiny_hypernetwork(activation="swish", layer_norm=True)
    hn.metadata = {"steps": 5}
    pt = save_hypernetwork(hn, tmp_path / "a.pt")
    st = convert_hypernetwork(pt, tmp_path / "a.safetensors")
    back = convert_hypernetwork(st, tmp_path / "b.pt")
    loaded = load_hypernetwork(back)
    _assert_same_outputs(hn, loaded)
    assert loaded.metadata == {"steps": 5}


def test_hostile_pt_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(torch_bytes({16: (RunsShell(marker), {}), "name": "evil"}))
    with pytest.raises(HypernetworkFileError, match="system"):
        load_hypernetwork(path)
    with pytest.raises(HypernetworkFileError, match="system"):
        read_header(path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_damaged_files(tmp_path, suffix):
    good = save_hypernetwork(tiny_hypernetwork(), tmp_path / f"good{suffix}").read_bytes()
    for name, data in (("empty", b""), ("garbage", b"\x00garbage" * 10), ("cut", good[: len(good) // 2]),
                       ("tail_cut", good[:-7])):
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        with pytest.raises(HypernetworkFileError, match=str(path)):
            load_hypernetwork(path)
    with pytest.raises(HypernetworkFileError, match="no such file"):
        load_hypernetwork(tmp_path / f"missing{suffix}")


def test_not_a_hypernetwork(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(torch_bytes({"state_dict": {"w": torch.ones(2)}}))
    with pytest.raises(HypernetworkFileError, match="no attention widths"):
        load_hypernetwork(path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_read_header(tmp_path, suffix):
    hn = tiny_hypernetwork(activation="relu", layer_norm=True)
    hn.step, hn.metadata = 77, {"base_model_hash": "abc"}
    path = save_hypernetwork(hn, tmp_path / f"h{suffix}")
    header = read_header(path)
    assert header["name"] == "tiny" and header["step"] == 77 and header["sizes"] == [16, 8]
    assert header["activation"] == "relu" and header["layer_norm"] is True
    assert header["parameter_count"] == hn.parameter_count()
    assert header["metadata"] == {"base_model_hash": "abc"} and header["has_optimizer_state"] is False


def _optimizer_state(hn):
    optimizer = torch.optim.AdamW(hn.parameters(), lr=1e-3)
    hn.train()
    sum(o.sum() for o in outputs(hn, inputs())).backward()
    optimizer.step()
    return optimizer.state_dict()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_optimizer_sidecar_hash_follows_the_file_beside_it(tmp_path, suffix):
    hn = tiny_hypernetwork()
    path = save_hypernetwork(hn, tmp_path / f"net{suffix}")
    state = _optimizer_state(hn)
    rng = torch.get_rng_state()
    sidecar = save_optimizer_state(path, "AdamW", state, {"rng": rng, "scheduler": {"last": 3}})
    assert sidecar.name == f"net{suffix}.optim"
    loaded = load_optimizer_state(path)
    assert loaded.matches and loaded.stored_hash == short_hash(path) == file_sha256(path)[:10]
    assert loaded.optimizer_name == "AdamW" and torch.equal(loaded.extra["rng"], rng)
    assert loaded.extra["scheduler"] == {"last": 3}
    assert torch.equal(loaded.state_dict["state"][0]["exp_avg"], state["state"][0]["exp_avg"])
    assert read_header(path)["has_optimizer_state"] is True
    hn.step = 5
    save_hypernetwork(hn, path, overwrite=True)
    assert load_optimizer_state(path).matches is False


def test_optimizer_sidecar_accepts_old_8_hex_hash_and_handles_absence(tmp_path):
    hn = tiny_hypernetwork()
    path = save_hypernetwork(hn, tmp_path / "net.pt")
    assert load_optimizer_state(path) is None
    (tmp_path / "net.pt.optim").write_bytes(torch_bytes(
        {"optimizer_name": "SGD", "hash": legacy_model_hash(path),
         "optimizer_state_dict": {"state": {}, "param_groups": []}}))
    loaded = load_optimizer_state(path)
    assert loaded.matches and loaded.optimizer_name == "SGD" and loaded.extra == {}


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"nonsense", "not a torch file"),
    ("hostile", "system"),
    ({"optimizer_name": "AdamW", "hash": "x"}, "optimizer_state_dict"),
])
def test_bad_sidecars_raise(tmp_path, content, message):
    path = save_hypernetwork(tiny_hypernetwork(), tmp_path / "net.pt")
    marker = tmp_path / "pwned"
    if content == "hostile":
        content = torch_bytes({"optimizer_state_dict": RunsShell(marker)})
    elif isinstance(content, dict):
        content = torch_bytes(content)
    (tmp_path / "net.pt.optim").write_bytes(content)
    with pytest.raises(HypernetworkFileError, match=message):
        load_optimizer_state(path)
    assert not marker.exists()


def test_sidecar_needs_the_hypernetwork_file_and_portable_values(tmp_path):
    with pytest.raises(HypernetError, match="save the hypernetwork"):
        save_optimizer_state(tmp_path / "missing.pt", "AdamW", {"state": {}, "param_groups": []})
    path = save_hypernetwork(tiny_hypernetwork(), tmp_path / "net.pt")
    with pytest.raises(HypernetError, match="bool"):
        save_optimizer_state(path, "AdamW", {"state": {}, "param_groups": []}, {"mask": torch.ones(2, dtype=torch.bool)})
