import itertools
import json
from collections import OrderedDict

import pytest
import torch

from hypernet_ext.errors import HypernetError, HypernetworkFileError
from hypernet_ext.file_format import (hypernetwork_from_dict, hypernetwork_from_safetensors, hypernetwork_to_dict,
                                      hypernetwork_to_safetensors)
from helpers_files import inputs, linear_sd, outputs, tiny_hypernetwork

COMBOS = [
    dict(activation=a, layer_norm=ln, dropout_structure=ds, activate_output=ao,
         layer_structure=ls, skip_connection=skip)
    for a, ln, ds, ao, ls, skip in itertools.product(
        ("relu", "prelu"), (False, True), (None, "on"), (False, True),
        ((1, 2, 1), (1, 1.5, 0.75, 1)), (False, True))
] + [  # activations without parameters behave alike; cover the others more lightly
    dict(activation=a, layer_norm=ln, dropout_structure="on", activate_output=False,
         layer_structure=(1, 1.5, 0.75, 1), skip_connection=skip)
    for a, ln, skip in itertools.product(("linear", None, "swish", "gelu"), (False, True), (False, True))
]
for combo in COMBOS:
    if combo["dropout_structure"] == "on":
        combo["dropout_structure"] = [0, 0.25, 0] if len(combo["layer_structure"]) == 3 else [0, 0.2, 0.1, 0]


def _same(a, b):
    x = inputs()
    for out_a, out_b in zip(outputs(a, x), outputs(b, x)):
        assert torch.equal(out_a, out_b)
    assert a.config == b.config and a.sizes == b.sizes and a.name == b.name and a.step == b.step


@pytest.mark.parametrize("options", COMBOS, ids=lambda o: "-".join(f"{v}" for v in o.values()))
def test_round_trip_both_layouts(options):
    hn = tiny_hypernetwork(**options)
    hn.step, hn.optional_info, hn.sd_checkpoint = 42, "notes", "0123456789"
    hn.metadata = {"base_model": "tiny", "lr": [0.001, 100]}
    back = hypernetwork_from_dict(hypernetwork_to_dict(hn), "fallback")
    _same(hn, back)
    assert back.metadata == hn.metadata and back.optional_info == "notes" and back.sd_checkpoint == "0123456789"
    tensors, header = hypernetwork_to_safetensors(hn)
    assert all(isinstance(v, str) for v in header.values())
    _same(hn, hypernetwork_from_safetensors(tensors, header, "fallback"))


def test_dict_has_the_exact_webui_layout():
    hn = tiny_hypernetwork(activation="relu", layer_norm=True, dropout_structure=[0, 0.3, 0])
    d = hypernetwork_to_dict(hn)
    assert [k for k in d if type(k) is int] == [16, 8]
    k_sd, v_sd = d[16]
    assert isinstance(d[16], tuple) and isinstance(k_sd, OrderedDict)
    # 0 Linear, 1 ReLU, 2 LayerNorm, 3 Dropout, 4 Linear, 5 LayerNorm
    assert list(k_sd) == ["linear.0.weight", "linear.0.bias", "linear.2.weight", "linear.2.bias",
                          "linear.4.weight", "linear.4.bias", "linear.5.weight", "linear.5.bias"]
    assert all(t.dtype == torch.float32 for t in k_sd.values())
    assert d["layer_structure"] == [1.0, 2.0, 1.0] and d["activation_func"] == "relu"
    assert d["is_layer_norm"] is True and d["activate_output"] is False and d["use_dropout"] is True
    assert d["dropout_structure"] == [0.0, 0.3, 0.0] and d["last_layer_dropout"] is True
    assert d["weight_initialization"] == "Normal" and d["name"] == "tiny" and d["step"] == 0
    assert json.loads(d["hypernet_ext"])["metadata"] == {}


def _webui_dict(**keys):
    d = {16: (linear_sd({0: (32, 16), 1: (16, 32)}, 1), linear_sd({0: (32, 16), 1: (16, 32)}, 2))}
    d.update(keys)
    return d


def test_missing_keys_get_webui_defaults():
    shapes = {0: (32, 16), 2: (16, 32)}  # 0 Linear 1 ReLU 2 Linear 3 ReLU
    d = {16: (linear_sd(shapes), linear_sd(shapes, 1)), "activation_func": "relu"}
    hn = hypernetwork_from_dict(d, "from_file_name")
    c = hn.config
    assert c.activate_output is True  # files from before activate_output existed activated every layer
    assert c.last_layer_dropout is False and list(c.layer_structure) == [1, 2, 1]
    assert not c.uses_dropout and c.layer_norm is False and c.weight_init == "Normal"
    assert hn.name == "from_file_name" and hn.step == 0
    # relu after the last Linear: the module output is never negative
    x = torch.randn(4, 16)
    assert (hn.pair(16).k.linear(x) >= 0).all()


def test_name_key_overrides_file_name_and_extra_keys_survive():
    d = _webui_dict(name="inner", activate_output=False, optimizer_name="AdamW", custom={"a": [1, 2]})
    hn = hypernetwork_from_dict(d, "outer")
    assert hn.name == "inner"
    assert hn.extra == {"optimizer_name": "AdamW", "custom": {"a": [1, 2]}}
    again = hypernetwork_to_dict(hn)
    assert again["custom"] == {"a": [1, 2]} and again["optimizer_name"] == "AdamW"


def test_old_linear1_linear2_keys():
    g = torch.Generator().manual_seed(3)
    w1, b1, w2, b2 = (torch.randn(s, generator=g) for s in ((32, 16), (32,), (16, 32), (16,)))
    old = {"linear1.weight": w1, "linear1.bias": b1, "linear2.weight": w2, "linear2.bias": b2}
    hn = hypernetwork_from_dict({16: (old, dict(old))}, "old")
    x = torch.randn(3, 16)
    expected = x + ((x @ w1.T + b1) @ w2.T + b2) * 0.5
    assert torch.allclose(hn.pair(16).k(x, 0.5), expected, atol=1e-5)


def test_use_dropout_without_structure_derives_it_and_shifts_indices():
    # [1, 2, 2, 1], relu, use_dropout, last_layer_dropout -> [0, 0.3, 0.3, 0]:
    # 0 Linear 1 ReLU 2 Dropout 3 Linear 4 ReLU 5 Dropout 6 Linear
    shapes = {0: (32, 16), 3: (32, 32), 6: (16, 32)}
    d = {16: (linear_sd(shapes), linear_sd(shapes, 1)), "layer_structure": [1, 2, 2, 1],
         "activation_func": "relu", "use_dropout": True, "last_layer_dropout": True, "activate_output": False}
    hn = hypernetwork_from_dict(d, "x")
    assert list(hn.config.effective_dropout) == [0, 0.3, 0.3, 0]


def test_longer_dropout_structure_is_tolerated_and_written_at_the_right_length():
    d = _webui_dict(dropout_structure=[0, 0, 0, 0], activate_output=False)
    hn = hypernetwork_from_dict(d, "x")
    assert hypernetwork_to_dict(hn)["dropout_structure"] == [0.0, 0.0, 0.0]


def test_string_width_keys_are_ignored_like_the_webui():
    d = _webui_dict()
    d["320"] = d.pop(16)
    with pytest.raises(HypernetworkFileError, match="no attention widths.*strings"):
        hypernetwork_from_dict(d, "x")
    mixed = _webui_dict(activate_output=False)
    mixed["768"] = "ignored"
    assert hypernetwork_from_dict(mixed, "x").extra == {"768": "ignored"}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[16][0].__setitem__("linear.0.weight", torch.zeros(31, 16)),
     r"width 16 K: linear\.0\.weight has shape \[31, 16\], expected \[32, 16\]"),
    (lambda d: d[16][1].pop("linear.1.bias"), r"width 16 V: .*missing \['linear\.1\.bias'\]"),
    (lambda d: d[16][0].__setitem__("linear.1.bias", torch.full((16,), float("nan"))), "NaN"),
    (lambda d: d[16][0].__setitem__("linear.1.bias", torch.zeros(16, dtype=torch.int64)), "floating-point"),
    (lambda d: d.__setitem__("activation_func", "nosuchact"), "Unknown activation"),
    (lambda d: d.__setitem__("layer_structure", [2, 1]), "start and end with 1"),
    (lambda d: d.__setitem__("step", "ten"), "step"),
    (lambda d: d.__setitem__("is_layer_norm", "yes"), "is_layer_norm"),
    (lambda d: d.__setitem__("name", 5), "name must be a string"),
    (lambda d: d.__setitem__("hypernet_ext", "{not json"), "not valid JSON"),
    (lambda d: d.__setitem__(16, (d[16][0],)), "expected a pair"),
])
def test_invalid_dicts_name_the_problem(mutate, message):
    d = _webui_dict(activate_output=False)
    mutate(d)
    with pytest.raises(HypernetworkFileError, match=message):
        hypernetwork_from_dict(d, "x")


def test_not_a_dict():
    with pytest.raises(HypernetworkFileError, match="not a hypernetwork"):
        hypernetwork_from_dict([1, 2], "x")


def test_safetensors_layout_and_errors():
    hn = tiny_hypernetwork(activation="relu")
    tensors, header = hypernetwork_to_safetensors(hn)
    assert "16.k.linear.0.weight" in tensors and "8.v.linear.2.bias" in tensors
    assert header["format"] == "hypernet_ext/hypernetwork" and json.loads(header["sizes"]) == [16, 8]
    with pytest.raises(HypernetworkFileError, match="format"):
        hypernetwork_from_safetensors(tensors, {}, "x")
    with pytest.raises(HypernetworkFileError, match="unexpected tensor"):
        hypernetwork_from_safetensors({**tensors, "lora_up.weight": torch.zeros(1)}, header, "x")


def test_unstorable_metadata_and_extra_are_reported():
    hn = tiny_hypernetwork()
    hn.metadata = {"bad": object()}
    with pytest.raises(HypernetError, match="JSON"):
        hypernetwork_to_dict(hn)
    hn.metadata = {}
    hn.extra = {"t": torch.zeros(2)}
    assert torch.equal(hypernetwork_to_dict(hn)["t"], torch.zeros(2))
    with pytest.raises(HypernetError, match=r"save as \.pt"):
        hypernetwork_to_safetensors(hn)
