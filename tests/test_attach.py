"""Attaching hypernetworks to a real (tiny) ldm UNet through to_k/to_v pre-hooks."""
import copy
import gc
import weakref

import pytest
import torch
import torch.utils.checkpoint
from torch import nn

import hypernet_ext as hx
from hypernet_ext.attach import (HypernetworkAttachment, attach_hypernetworks, attention_widths,
                                 find_attention_modules)
from helpers_unet import TINY_CONTEXT_DIM, all_hooks, count_calls, run_unet, tiny_ldm_unet, unet_inputs

WIDTHS = (TINY_CONTEXT_DIM, 32, 64)


def make_hn(name="a", seed=0, sizes=WIDTHS, std=0.2, **options):
    options.setdefault("activation", "relu")
    return hx.create_hypernetwork(name, sizes=sizes, init_std=std, seed=seed, **options)


class ReferenceProjection(nn.Module):
    """Independent reference: an explicit wrapper that chains the K (or V) modules before the Linear."""

    def __init__(self, linear, pairs, kind):
        super().__init__()
        self.linear, self.pairs, self.kind = linear, pairs, kind

    def forward(self, x):
        for hypernetwork, strength in self.pairs:
            pair = hypernetwork.pair(x.shape[-1])
            if pair is not None:
                x = getattr(pair, self.kind)(x, strength)
        return self.linear(x)


def reference_unet(unet, pairs):
    ref = copy.deepcopy(unet)
    for _, module in find_attention_modules(ref):
        module.to_k = ReferenceProjection(module.to_k, pairs, "k")
        module.to_v = ReferenceProjection(module.to_v, pairs, "v")
    return ref


@pytest.fixture(scope="module")
def unet():
    return tiny_ldm_unet()


@pytest.fixture(scope="module")
def inputs():
    return unet_inputs()


@torch.no_grad()
def test_attach_matches_reference_and_detach_restores(unet, inputs):
    plain = run_unet(unet, inputs)
    pairs = [(make_hn("a", 1), 0.8)]
    attachment = attach_hypernetworks(unet, pairs)
    try:
        assert attachment.hooked_projections == 2 * len(find_attention_modules(unet))
        attached = run_unet(unet, inputs)
    finally:
        attachment.detach()
    assert not torch.allclose(attached, plain, atol=1e-4)
    torch.testing.assert_close(attached, run_unet(reference_unet(unet, pairs), inputs), rtol=1e-5, atol=1e-6)
    assert all_hooks(unet) == []
    assert torch.equal(run_unet(unet, inputs), plain)


@torch.no_grad()
def test_empty_list_installs_no_hooks(unet, inputs):
    plain = run_unet(unet, inputs)
    with attach_hypernetworks(unet, []) as attachment:
        assert all_hooks(unet) == [] and attachment.hooked_projections == 0
        assert torch.equal(run_unet(unet, inputs), plain)
        attachment.set([(make_hn(), 1.0)])
        assert len(all_hooks(unet)) == attachment.hooked_projections + 2  # + root pre/post hooks
        attachment.set([])
        assert all_hooks(unet) == []


@torch.no_grad()
def test_chain_order_matters_and_matches_reference(unet, inputs):
    a, b = make_hn("a", 1), make_hn("b", 2, activation="tanh", layer_structure=(1, 1.5, 1))
    results = {}
    for order in ([(a, 1.0), (b, 0.7)], [(b, 0.7), (a, 1.0)]):
        with attach_hypernetworks(unet, order):
            out = run_unet(unet, inputs)
        torch.testing.assert_close(out, run_unet(reference_unet(unet, order), inputs), rtol=1e-5, atol=1e-6)
        results[order[0][0].name] = out
    assert not torch.allclose(results["a"], results["b"], atol=1e-5)


@torch.no_grad()
def test_strength_zero_is_identity_and_negative_strength(unet, inputs):
    hn = make_hn("a", 3)
    plain = run_unet(unet, inputs)
    with attach_hypernetworks(unet, [(hn, 0.0)]):
        assert torch.equal(run_unet(unet, inputs), plain)
    with attach_hypernetworks(unet, [(hn, -0.6)]):
        negative = run_unet(unet, inputs)
    with attach_hypernetworks(unet, [(hn, 0.6)]):
        positive = run_unet(unet, inputs)
    torch.testing.assert_close(negative, run_unet(reference_unet(unet, [(hn, -0.6)]), inputs),
                               rtol=1e-5, atol=1e-6)
    assert not torch.allclose(negative, positive, atol=1e-4)


@torch.no_grad()
def test_width_sharing_computes_text_pair_once_with_identical_results(unet, inputs):
    hn = make_hn("a", 4)
    text_k, self_k = count_calls(hn.pair(TINY_CONTEXT_DIM).k), count_calls(hn.pair(32).k)
    cross_layers = sum(m.to_k.in_features == TINY_CONTEXT_DIM for _, m in find_attention_modules(unet))
    self_layers = sum(m.to_k.in_features == 32 for _, m in find_attention_modules(unet))
    with attach_hypernetworks(unet, [(hn, 1.0)], share_text_context=True):
        shared = run_unet(unet, inputs)
    assert (len(text_k), len(self_k)) == (1, self_layers)
    text_k.clear(), self_k.clear()
    with attach_hypernetworks(unet, [(hn, 1.0)], share_text_context=False):
        per_layer = run_unet(unet, inputs)
    assert cross_layers > 1 and (len(text_k), len(self_k)) == (cross_layers, self_layers)
    assert torch.equal(shared, per_layer)


def test_training_dropout_is_per_layer_and_matches_reference(unet, inputs):
    hn = make_hn("d", 5, dropout_structure=(0, 0.3, 0)).train()
    calls = count_calls(hn.pair(TINY_CONTEXT_DIM).k)
    cross_layers = sum(m.to_k.in_features == TINY_CONTEXT_DIM for _, m in find_attention_modules(unet))
    with torch.no_grad(), attach_hypernetworks(unet, [(hn, 1.0)]):
        torch.manual_seed(7)
        out = run_unet(unet, inputs)
    assert len(calls) == cross_layers
    ref = reference_unet(unet, [(hn, 1.0)])
    with torch.no_grad():
        torch.manual_seed(7)
        torch.testing.assert_close(out, run_unet(ref, inputs), rtol=1e-5, atol=1e-6)


def frozen_copy(unet):
    frozen = copy.deepcopy(unet)
    frozen.requires_grad_(False)
    return frozen


def hn_gradients(unet, inputs, hn, strength=1.0):
    hn.zero_grad(set_to_none=True)
    with attach_hypernetworks(unet, [(hn, strength)]):
        run_unet(unet, inputs).square().mean().backward()
    return [p.grad.clone() for p in hn.parameters()]


def test_gradients_reach_hypernetwork_not_frozen_unet(unet, inputs):
    frozen = frozen_copy(unet)
    hn = make_hn("g", 6).train()
    grads = hn_gradients(frozen, inputs, hn)
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in frozen.parameters())
    ref = reference_unet(frozen, [(hn, 1.0)])
    hn.zero_grad(set_to_none=True)
    run_unet(ref, inputs).square().mean().backward()
    for mine, theirs in zip(grads, (p.grad for p in hn.parameters())):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpointed_blocks_give_same_output_and_gradients(unet, inputs, reentrant):
    frozen = frozen_copy(unet)
    hn = make_hn("c", 7).train()
    expected = hn_gradients(frozen, inputs, hn)
    for module in frozen.modules():
        if type(module).__name__ == "BasicTransformerBlock":
            module.forward = (lambda block: lambda x, context=None: torch.utils.checkpoint.checkpoint(
                block._forward, x, context, use_reentrant=reentrant))(module)
    latents = inputs[0].clone().requires_grad_(reentrant)  # reentrant checkpoint needs a grad input
    got = hn_gradients(frozen, (latents, *inputs[1:]), hn)
    for mine, theirs in zip(got, expected):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("unet_dtype,hn_dtype", [(torch.bfloat16, torch.float32),
                                                 (torch.bfloat16, torch.bfloat16),
                                                 (torch.float16, torch.float32)])
@torch.no_grad()
def test_low_precision_unet(unet, inputs, unet_dtype, hn_dtype):
    """A half-precision UNet run under autocast (ldm embeds timesteps in fp32; its GroupNorm32 computes
    in fp32, so those stay fp32 on CPU)."""
    low = copy.deepcopy(unet).to(unet_dtype)
    for module in low.modules():
        if isinstance(module, nn.GroupNorm):
            module.float()
    low_inputs = (inputs[0].to(unet_dtype), inputs[1], inputs[2].to(unet_dtype))
    hn = make_hn("p", 8).to(hn_dtype)
    with torch.autocast("cpu", dtype=unet_dtype):
        plain = run_unet(low, low_inputs)
        with attach_hypernetworks(low, [(hn, 1.0)]):
            out = run_unet(low, low_inputs)
        reference = run_unet(reference_unet(low, [(hn, 1.0)]), low_inputs)
    assert out.dtype == unet_dtype and hn.dtype == hn_dtype
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
    assert not torch.equal(out, plain)


@torch.no_grad()
def test_hypernetwork_dtype_is_used_and_unet_dtype_returned():
    linear = nn.Linear(48, 16, bias=False)
    root = nn.ModuleDict({"attn": nn.ModuleDict({"to_k": linear, "to_v": nn.Linear(48, 16, bias=False)})})
    root.to(torch.bfloat16)
    hn = make_hn("q", 11, sizes=(48,))
    context = torch.randn(2, 5, 48).to(torch.bfloat16)
    seen = []
    hn.pair(48).k.linear[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].dtype))
    with attach_hypernetworks(root, [(hn, 1.0)]):
        out = linear(context)
    assert seen == [torch.float32] and out.dtype == torch.bfloat16
    torch.testing.assert_close(out, linear(hn.pair(48).k(context.float(), 1.0).to(torch.bfloat16)), rtol=0, atol=0)


@torch.no_grad()
def test_memory_efficient_attention_and_duck_typed_module_are_hooked():
    from ldm.modules.attention import MemoryEfficientCrossAttention

    class TinyAttention(nn.Module):
        def __init__(self, dim, context_dim):
            super().__init__()
            self.to_q = nn.Linear(dim, dim, bias=False)
            self.to_k = nn.Linear(context_dim, dim, bias=False)
            self.to_v = nn.Linear(context_dim, dim, bias=False)

        def forward(self, x, context):
            return nn.functional.scaled_dot_product_attention(self.to_q(x), self.to_k(context), self.to_v(context))

    root = nn.ModuleDict({"mem": MemoryEfficientCrossAttention(32, context_dim=48, heads=2, dim_head=16),
                          "duck": TinyAttention(32, 48)})
    hn = make_hn("m", 9)
    context = torch.randn(1, 5, 48)
    x = torch.randn(1, 6, 32)
    pair = hn.pair(48)
    with attach_hypernetworks(root, [(hn, 0.5)]) as attachment:
        assert attachment.hooked_projections == 4
        mem = root["mem"]
        torch.testing.assert_close(mem.to_k(context), nn.functional.linear(pair.k(context, 0.5), mem.to_k.weight))
        torch.testing.assert_close(mem.to_v(context), nn.functional.linear(pair.v(context, 0.5), mem.to_v.weight))
        duck = root["duck"]
        hooked = duck(x, context)
    expected = nn.functional.scaled_dot_product_attention(
        duck.to_q(x), duck.to_k(pair.k(context, 0.5)), duck.to_v(pair.v(context, 0.5)))
    torch.testing.assert_close(hooked, expected)
    assert all_hooks(root) == []


def test_attention_widths_text_first(unet):
    assert attention_widths(unet) == (TINY_CONTEXT_DIM, 32, 64)
    assert attention_widths(nn.Linear(3, 3)) == ()


@torch.no_grad()
def test_unmatched_widths_install_nothing(unet, inputs):
    plain = run_unet(unet, inputs)
    with attach_hypernetworks(unet, [(make_hn("w", sizes=(768, 320)), 1.0)]) as attachment:
        assert attachment.widths == () and all_hooks(unet) == []
        assert torch.equal(run_unet(unet, inputs), plain)


def test_one_attachment_per_unet_and_bad_input(unet):
    hn = make_hn()
    first = attach_hypernetworks(unet, [(hn, 1.0)])
    try:
        assert attach_hypernetworks(unet, [(hn, 0.5)]) is first and first.pairs == ((hn, 0.5),)
        with pytest.raises(hx.HypernetError, match="already has hypernetworks attached"):
            HypernetworkAttachment(unet)
        for bad, message in (([hn], "pairs"), ([(hn, float("nan"))], "finite"), ([("x", 1.0)], "not a Hypernetwork"),
                             ([(hn, True)], "finite")):
            with pytest.raises(hx.HypernetError, match=message):
                first.set(bad)
    finally:
        first.detach()
    assert all_hooks(unet) == []
    second = HypernetworkAttachment(unet, [(hn, 1.0)])
    second.detach()


def test_no_tensors_kept_after_inference_forward(unet, inputs):
    context = inputs[2].clone()
    alive = weakref.ref(context)
    with attach_hypernetworks(unet, [(make_hn(), 1.0)]):
        with torch.no_grad():
            run_unet(unet, (inputs[0], inputs[1], context))
        del context
        gc.collect()
        assert alive() is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@torch.no_grad()
# the webui runs a half-precision UNet under autocast (ldm's timestep embedding stays fp32)
@torch.autocast("cuda", dtype=torch.float16)
def test_cuda_moves_hypernetwork_lazily(unet, inputs):
    gpu = copy.deepcopy(unet).cuda().half()
    gpu_inputs = (inputs[0].cuda().half(), inputs[1].cuda(), inputs[2].cuda().half())
    hn = make_hn("cuda", 10)
    with attach_hypernetworks(gpu, [(hn, 1.0)]):
        out = run_unet(gpu, gpu_inputs)
    assert hn.device.type == "cuda" and out.dtype == torch.float16
    reference = run_unet(reference_unet(gpu, [(hn, 1.0)]), gpu_inputs)
    torch.testing.assert_close(out, reference)
