import importlib.util

import pytest
import torch

from hypernet_ext import create_hypernetwork
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.training.optim import (build_optimizer, clip_and_step, clip_gradients, effective_learning_rate,
                                         optimizer_names, resolve_optimizer, set_learning_rate)


def _params():
    return list(create_hypernetwork("o", sizes=(8,), seed=0).parameters())


@pytest.mark.parametrize("name,cls", [("AdamW", torch.optim.AdamW), ("adam", torch.optim.Adam),
                                      ("SGD", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop),
                                      ("Adagrad", torch.optim.Adagrad)])
def test_torch_optimizers_by_name(name, cls):
    canonical, optimizer = build_optimizer(name, _params(), 1e-3)
    assert isinstance(optimizer, cls) and canonical == cls.__name__
    assert optimizer.param_groups[0]["lr"] == 1e-3


def test_optimizer_arguments_and_bad_arguments():
    _, optimizer = build_optimizer("AdamW", _params(), 1e-3, {"weight_decay": 0.0, "betas": (0.9, 0.99)})
    assert optimizer.param_groups[0]["weight_decay"] == 0.0 and optimizer.param_groups[0]["betas"] == (0.9, 0.99)
    with pytest.raises(InvalidOptionError, match="rejected its arguments"):
        build_optimizer("AdamW", _params(), 1e-3, {"no_such_option": 1})


def test_unknown_and_unsuitable_optimizers():
    with pytest.raises(InvalidOptionError, match="Unknown optimizer 'Adamm'.*AdamW"):
        resolve_optimizer("Adamm")
    with pytest.raises(InvalidOptionError, match="closure"):
        resolve_optimizer("LBFGS")
    assert "AdamW" in optimizer_names() and "Prodigy" in optimizer_names()


@pytest.mark.parametrize("name,module,package", [("Lion", "lion_pytorch", "lion-pytorch"),
                                                 ("DAdaptAdamW", "dadaptation", "dadaptation"),
                                                 ("Prodigy", "prodigyopt", "prodigyopt")])
def test_optional_optimizers(name, module, package):
    if importlib.util.find_spec(module) is None:
        with pytest.raises(InvalidOptionError, match=f"pip install {package}"):
            resolve_optimizer(name)
    else:
        canonical, optimizer = build_optimizer(name, _params(), 1.0)
        assert canonical == name and effective_learning_rate(optimizer) > 0


def test_set_learning_rate():
    _, optimizer = build_optimizer("SGD", _params(), 1e-3)
    set_learning_rate(optimizer, 0.5)
    assert effective_learning_rate(optimizer) == 0.5


def _with_grad(values):
    p = torch.nn.Parameter(torch.zeros(len(values)))
    p.grad = torch.tensor(values, dtype=torch.float32)
    return p


def test_clip_by_value_and_by_norm():
    p = _with_grad([3.0, -4.0, 0.05])
    clip_gradients([p], "value", 0.1)
    assert torch.equal(p.grad, torch.tensor([0.1, -0.1, 0.05]))
    p = _with_grad([3.0, 4.0])
    assert clip_gradients([p], "norm", 1.0) == pytest.approx(5.0)
    assert float(p.grad.norm()) == pytest.approx(1.0, rel=1e-5)
    p = _with_grad([3.0, 4.0])
    clip_gradients([p], "none", 1.0)
    assert torch.equal(p.grad, torch.tensor([3.0, 4.0]))


@pytest.mark.parametrize("mode,expected", [("norm", 0.5), ("value", 0.5 * 2 ** 0.5)])
def test_clipping_applies_to_unscaled_gradients(mode, expected):
    # SGD with lr 1 moves the weights by exactly the clipped gradient; with a GradScaler at scale
    # 1024 the clip must act on the true gradient (norm 5 -> 0.5), not on the scaled one.
    w = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([w], lr=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    loss = (w * torch.tensor([3.0, 4.0])).sum()
    scaler.scale(loss).backward()
    assert float(w.grad.norm()) == pytest.approx(5.0 * 1024)
    clip_and_step(optimizer, scaler, [w], mode, 0.5)
    assert float(w.detach().norm()) == pytest.approx(expected, rel=1e-5)


def test_fastest_implementation_is_chosen_and_matches_the_default():
    import torch
    from hypernet_ext.training.optim import build_optimizer

    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(8, 8)), torch.nn.Parameter(torch.randn(8))]
    reference = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    _, fast = build_optimizer("AdamW", weights, 1e-2)
    plain = torch.optim.AdamW(reference, lr=1e-2, foreach=False)
    assert fast.param_groups[0]["fused"] is True
    for _ in range(3):
        for w, r in zip(weights, reference):
            w.grad = torch.ones_like(w) * 0.1
            r.grad = torch.ones_like(r) * 0.1
        fast.step()
        plain.step()
    for w, r in zip(weights, reference):
        assert torch.allclose(w, r, atol=1e-6)


def test_explicit_implementation_argument_is_respected():
    import torch
    from hypernet_ext.training.optim import build_optimizer

    _, opt = build_optimizer("AdamW", [torch.nn.Parameter(torch.zeros(2))], 1e-3, {"foreach": False})
    assert not opt.param_groups[0]["fused"] and opt.param_groups[0]["foreach"] is False


def test_loading_a_plain_state_keeps_the_fused_kernel():
    import torch
    from hypernet_ext.training.optim import build_optimizer, load_optimizer_state_dict

    params = [torch.nn.Parameter(torch.zeros(3))]
    webui_style = torch.optim.AdamW(params, lr=1e-3)  # the webui saves torch's default implementation
    params[0].grad = torch.ones(3)
    webui_style.step()
    _, opt = build_optimizer("AdamW", params, 1e-3)
    load_optimizer_state_dict(opt, webui_style.state_dict())
    assert opt.param_groups[0]["fused"] is True
    assert torch.equal(opt.state[params[0]]["exp_avg"], webui_style.state[params[0]]["exp_avg"])
