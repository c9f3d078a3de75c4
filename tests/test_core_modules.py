"""Core hypernetwork modules: layer layout, option validation, forward semantics, apply chaining."""
import math

import pytest
import torch
from torch import nn

import hypernet_ext as hx
from hypernet_ext.config import (ACTIVATIONS, SELECTABLE_ACTIVATIONS, HypernetworkConfig,
                                 default_dropout_structure, parse_number_list)
from hypernet_ext.layers import HypernetworkModule, ResidualHypernetworkModule


def layer_types(module):
    return [type(layer).__name__ for layer in module.linear]


def test_a1111_layer_order_and_keys():
    hn = hx.create_hypernetwork("t", sizes=[768], activation="relu", layer_norm=True,
                                dropout_structure=[0, 0.3, 0])
    k = hn.pair(768).k
    assert layer_types(k) == ["Linear", "ReLU", "LayerNorm", "Dropout", "Linear", "LayerNorm"]
    assert list(k.state_dict()) == ["linear.0.weight", "linear.0.bias", "linear.2.weight", "linear.2.bias",
                                    "linear.4.weight", "linear.4.bias", "linear.5.weight", "linear.5.bias"]


def test_activate_output_and_deep_structure_layout():
    cfg = HypernetworkConfig(layer_structure=(1, 1.5, 0.5, 1), activation="swish", activate_output=True,
                             dropout_structure=(0, 0.1, 0.2, 0.05))
    module = HypernetworkModule(320, cfg)
    assert layer_types(module) == ["Linear", "Hardswish", "Dropout", "Linear", "Hardswish", "Dropout",
                                   "Linear", "Hardswish", "Dropout"]
    assert [m.out_features for m in module.linear if isinstance(m, nn.Linear)] == [480, 160, 320]


def test_linear_activation_adds_no_layer_and_prelu_has_weights():
    assert layer_types(HypernetworkModule(64, HypernetworkConfig(activation="linear"))) == ["Linear", "Linear"]
    assert layer_types(HypernetworkModule(64, HypernetworkConfig(activation=None))) == ["Linear", "Linear"]
    prelu = HypernetworkModule(64, HypernetworkConfig(activation="prelu"))
    assert "linear.1.weight" in prelu.state_dict()


def test_every_selectable_activation_builds_and_runs():
    x = torch.randn(2, 5, 16)
    for name in SELECTABLE_ACTIVATIONS:
        hn = hx.create_hypernetwork("a", sizes=[16], activation=name, seed=0)
        k, v = hx.apply_hypernetworks([(hn, 1.0)], x)
        assert k.shape == x.shape and torch.isfinite(k).all(), name
    assert set(SELECTABLE_ACTIVATIONS) <= set(ACTIVATIONS)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(layer_structure=[2, 2, 1]), "start and end with 1"),
    (dict(layer_structure=[1]), "at least two"),
    (dict(layer_structure=[1, -2, 1]), "out of range"),
    (dict(layer_structure=[1, float("nan"), 1]), "finite"),
    (dict(activation="glu"), "halves the layer width"),
    (dict(activation="threshold"), "constructor arguments"),
    (dict(activation="multiheadattention"), "not an element-wise"),
    (dict(activation="nope"), "Unknown activation"),
    (dict(weight_init="Orthogonal"), "Unknown weight initialization"),
    (dict(dropout_structure=[0, 1.0, 0]), "[0, 1)"),
    (dict(dropout_structure=[0, -0.1, 0]), "[0, 1)"),
    (dict(dropout_structure=[0, 0.3]), "one value per layer"),
    (dict(dropout_structure=[0, 0.3, 0, 0]), "one value per layer"),
    (dict(dropout_structure=[0.2, 0.3, 0]), "first value must be 0"),
    (dict(sizes=[]), "No attention widths"),
    (dict(sizes=[768, 768]), "listed twice"),
    (dict(sizes=[-5]), "invalid"),
    (dict(init_std=-1), "std"),
])
def test_invalid_options_rejected_with_fix(kwargs, fragment):
    with pytest.raises(hx.InvalidOptionError) as err:
        hx.create_hypernetwork("bad", **kwargs)
    assert fragment in str(err.value)


def test_lenient_config_accepts_webui_file_quirks():
    # The webui tolerates longer dropout lists and a non-zero first value in files it wrote.
    cfg = HypernetworkConfig(layer_structure=(1, 2, 1), dropout_structure=(0.1, 0.3, 0, 0.5), strict=False)
    assert layer_types(HypernetworkModule(8, cfg)) == ["Linear", "Dropout", "Linear"]


def test_name_sanitised_like_webui():
    assert hx.create_hypernetwork("my/net*:1", sizes=[8]).name == "mynet1"
    with pytest.raises(hx.InvalidOptionError):
        hx.create_hypernetwork("///", sizes=[8])


def test_default_dropout_structure_matches_webui_rule():
    assert default_dropout_structure([1, 2, 1], False, True) == [0, 0, 0]
    assert default_dropout_structure([1, 2, 1], True, False) == [0, 0, 0]
    assert default_dropout_structure([1, 2, 1], True, True) == [0, 0.3, 0]
    assert default_dropout_structure([1, 2, 2, 1], True, False) == [0, 0.3, 0, 0]
    assert default_dropout_structure([1, 2, 2, 2, 1], True, True) == [0, 0.3, 0.3, 0.3, 0]


def test_parse_number_list_messages():
    assert parse_number_list("1, 2.5 ,1", "Layer structure") == [1, 2.5, 1]
    with pytest.raises(hx.InvalidOptionError, match="not a list of numbers"):
        parse_number_list("1, two, 1", "Layer structure")
    with pytest.raises(hx.InvalidOptionError, match="empty"):
        parse_number_list(" , ", "Dropout structure")


def test_weight_init_modes_statistics():
    torch.manual_seed(0)
    fan_in, fan_out = 640, 1280
    for mode, expected_std in [("Normal", 0.01),
                               ("XavierNormal", math.sqrt(2 / (fan_in + fan_out))),
                               ("XavierUniform", math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3)),
                               ("KaimingNormal", math.sqrt(2 / fan_in)),
                               ("KaimingUniform", math.sqrt(2 / fan_in))]:
        hn = hx.create_hypernetwork("w", sizes=[640], weight_init=mode, layer_norm=True, seed=1)
        first = hn.pair(640).k.linear[0]
        assert first.weight.std().item() == pytest.approx(expected_std, rel=0.05), mode
        assert torch.count_nonzero(first.bias) == 0
        norm = hn.pair(640).k.linear[1]
        assert isinstance(norm, nn.LayerNorm) and norm.weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_seeded_creation_is_deterministic_and_k_v_differ():
    a = hx.create_hypernetwork("s", sizes=[32, 64], seed=7)
    b = hx.create_hypernetwork("s", sizes=[32, 64], seed=7)
    c = hx.create_hypernetwork("s", sizes=[32, 64], seed=8)
    for (ka, va), (kb, vb), (kc, _) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(va, vb)
    assert not torch.equal(a.pair(32).k.linear[0].weight, a.pair(32).v.linear[0].weight)
    assert not torch.equal(a.pair(32).k.linear[0].weight, c.pair(32).k.linear[0].weight)


def test_forward_matches_hand_computation_and_strength_rules():
    hn = hx.create_hypernetwork("f", sizes=[16], activation="tanh", weight_init="XavierNormal", seed=3)
    k = hn.pair(16).k
    lin0, lin1 = k.linear[0], k.linear[2]
    x = torch.randn(3, 4, 16)
    mlp = lin1(torch.tanh(lin0(x)))
    assert torch.allclose(k(x, 0.7), x + 0.7 * mlp, atol=1e-6)
    assert torch.equal(k(x, 0.0), x)
    hn.train()
    assert torch.allclose(k(x, 0.7), x + mlp, atol=1e-6), "training mode ignores strength"
    hn.eval()
    hn.set_multiplier(0.25)
    assert torch.allclose(k(x), x + 0.25 * mlp, atol=1e-6)


def test_residual_variant_semantics():
    cfg = HypernetworkConfig(layer_structure=(1, 2, 1), activation="relu", skip_connection=True)
    module = ResidualHypernetworkModule(8, cfg).eval()
    x = torch.randn(2, 3, 8)
    first, second = module.linear
    h = torch.nn.functional.interpolate(x, size=16, mode="nearest-exact") + first.linear(x)
    out = torch.nn.functional.interpolate(h, size=8, mode="nearest-exact") + second.linear(h)
    assert torch.allclose(module(x, 0.5), x + 0.5 * (out - x), atol=1e-6)
    module.train()
    assert torch.allclose(module(x, 0.5), out, atol=1e-6)


def test_apply_chains_in_order_and_skips_other_widths():
    a = hx.create_hypernetwork("a", sizes=[16], activation="relu", weight_init="KaimingNormal", seed=1)
    b = hx.create_hypernetwork("b", sizes=[16, 32], activation="tanh", weight_init="KaimingNormal", seed=2)
    x = torch.randn(2, 5, 16)
    k_ab, v_ab = hx.apply_hypernetworks([(a, 1.0), (b, 0.5)], x)
    assert torch.allclose(k_ab, b.pair(16).k(a.pair(16).k(x, 1.0), 0.5))
    assert torch.allclose(v_ab, b.pair(16).v(a.pair(16).v(x, 1.0), 0.5))
    k_ba, _ = hx.apply_hypernetworks([(b, 0.5), (a, 1.0)], x)
    assert not torch.allclose(k_ab, k_ba)
    other = torch.randn(2, 5, 8)
    k, v = hx.apply_hypernetworks([(a, 1.0), (b, 1.0)], other)
    assert k is other and v is other
    assert hx.apply_hypernetworks([], x) == (x, x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_input_computes_in_module_dtype(dtype):
    hn = hx.create_hypernetwork("p", sizes=[16], activation="relu", weight_init="XavierNormal", seed=0)
    x = torch.randn(2, 3, 16)
    k, v = hx.apply_hypernetworks([(hn, 1.0)], x.to(dtype))
    assert k.dtype == dtype
    ref, _ = hx.apply_hypernetworks([(hn, 1.0)], x.to(dtype).float())
    assert torch.allclose(k.float(), ref, atol=1e-2)


def test_gradients_reach_hypernetwork():
    hn = hx.create_hypernetwork("g", sizes=[16], layer_norm=True, seed=0)
    hn.train()
    x = torch.randn(2, 3, 16)
    k, v = hx.apply_hypernetworks([(hn, 1.0)], x)
    (k.square().mean() + v.square().mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in hn.parameters())


def test_default_parameter_count_matches_common_files():
    hn = hx.create_hypernetwork("d")
    assert hn.parameter_count() == 21_939_840  # the usual ~85 MB webui hypernetwork
    assert hn.sizes == (768, 320, 640, 1280)
