"""Strength 0 is free and the text-width pair is memoised across forwards (identical results)."""
import copy

import pytest
import torch

import hypernet_ext as hx
from hypernet_ext.apply import apply_hypernetworks
from hypernet_ext.attach import attach_hypernetworks
from helpers_unet import TINY_CONTEXT_DIM, all_hooks, count_calls, run_unet, tiny_ldm_unet, unet_inputs

WIDTHS = (TINY_CONTEXT_DIM, 32, 64)


def make_hn(name="a", seed=0, sizes=WIDTHS, **options):
    options.setdefault("activation", "relu")
    return hx.create_hypernetwork(name, sizes=sizes, init_std=0.2, seed=seed, **options)


@pytest.fixture(scope="module")
def unet():
    return tiny_ldm_unet()


@pytest.fixture(scope="module")
def inputs():
    return unet_inputs()


# -- strength 0 ------------------------------------------------------------------------------
@torch.no_grad()
def test_all_strengths_zero_install_no_hooks_and_match_no_tag(unet, inputs):
    plain = run_unet(unet, inputs)
    a, b = make_hn("a", 1), make_hn("b", 2)
    with attach_hypernetworks(unet, [(a, 0.0), (b, 0)]) as attachment:
        assert attachment.hooked_projections == 0 and all_hooks(unet) == []
        assert attachment.pairs == ((a, 0.0), (b, 0.0))  # still reported as asked
        assert torch.equal(run_unet(unet, inputs), plain)
        # a zero strength is skipped even in training mode, where modules otherwise ignore strength
        a.train()
        attachment.set([(a, 0.0)])
        assert all_hooks(unet) == []
        a.eval()


@torch.no_grad()
def test_zero_strength_pair_is_skipped_in_a_chain(unet, inputs):
    a, b = make_hn("a", 1), make_hn("b", 2)
    calls = count_calls(b.pair(32).k)
    with attach_hypernetworks(unet, [(a, 0.7)]):
        only_a = run_unet(unet, inputs)
    with attach_hypernetworks(unet, [(b, 0.0), (a, 0.7), (b, 0.0)]):
        mixed = run_unet(unet, inputs)
    assert calls == [] and torch.equal(mixed, only_a)
    context = inputs[2]
    assert all(torch.equal(x, y) for x, y in zip(apply_hypernetworks([(a, 0.0)], context), (context, context)))


# -- memo ------------------------------------------------------------------------------------
@torch.no_grad()
def test_memo_reuses_text_pair_with_identical_results(unet, inputs):
    hn = make_hn("m", 3)
    text_k = count_calls(hn.pair(TINY_CONTEXT_DIM).k)
    with attach_hypernetworks(unet, [(hn, 0.8)], memoize=False):
        uncached = [run_unet(unet, inputs) for _ in range(3)]
    assert len(text_k) == 3
    text_k.clear()
    with attach_hypernetworks(unet, [(hn, 0.8)]) as attachment:
        # a fresh but equal context each step, as a sampler builds it
        cached = [run_unet(unet, (inputs[0], inputs[1], inputs[2].clone())) for _ in range(3)]
        assert attachment.memo_stats[TINY_CONTEXT_DIM] == (2, 1)
    assert len(text_k) == 1
    for a, b in zip(cached, uncached):
        assert torch.equal(a, b)


@torch.no_grad()
def test_memo_recomputes_when_context_changes(unet, inputs):
    hn = make_hn("m", 4)
    text_k = count_calls(hn.pair(TINY_CONTEXT_DIM).k)
    first, second = inputs[2], inputs[2].clone()
    second[0, 3, 5] += 0.25  # prompt editing: one token's embedding differs
    with attach_hypernetworks(unet, [(hn, 1.0)], memoize=False):
        expected = [run_unet(unet, (inputs[0], inputs[1], c)) for c in (first, second)]
        expected_long = run_unet(unet, (inputs[0], inputs[1], torch.cat([first, first], 1)))
    text_k.clear()
    with attach_hypernetworks(unet, [(hn, 1.0)]):
        got = [run_unet(unet, (inputs[0], inputs[1], c)) for c in (first, second, first.clone())]
        got_long = run_unet(unet, (inputs[0], inputs[1], torch.cat([first, first], 1)))  # 154 tokens
    assert len(text_k) == 3  # first, second, long; the third forward reused the first
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]) and torch.equal(got[2], expected[0])
    assert torch.equal(got_long, expected_long)


@torch.no_grad()
def test_memo_never_stale_across_weights_strength_mode_and_dtype(unet, inputs):
    hn = make_hn("m", 5, dropout_structure=(0, 0.2, 0))
    other = copy.deepcopy(unet)  # its own attachment: the reference never touches the one under test

    def fresh(strength=1.0):
        with attach_hypernetworks(other, [(hn, strength)], memoize=False):
            return run_unet(other, inputs)

    with attach_hypernetworks(unet, [(hn, 1.0)]) as attachment:
        before = run_unet(unet, inputs)
        for p in hn.parameters():  # an optimizer step: in-place update bumps the version counter
            p.add_(0.01)
        assert torch.equal(run_unet(unet, inputs), fresh())
        hn.load_state_dict({k: v + 0.01 for k, v in hn.state_dict().items()})
        after_load = run_unet(unet, inputs)
        assert torch.equal(after_load, fresh()) and not torch.equal(after_load, before)
        attachment.set([(hn, 0.5)])  # strength change
        assert torch.equal(run_unet(unet, inputs), fresh(0.5))
        hn.train()  # training mode ignores strength (and would use dropout): never from the memo
        torch.manual_seed(1)
        trained = run_unet(unet, inputs)
        hn.eval()
        assert not torch.equal(trained, fresh(0.5))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = run_unet(unet, inputs)
        assert auto.dtype == torch.bfloat16 or not torch.equal(auto, fresh(0.5))
        assert torch.equal(run_unet(unet, inputs), fresh(0.5))


@pytest.mark.parametrize("kind", ["fused", "foreach", "plain"])
def test_memo_not_stale_after_an_optimizer_step(unet, inputs, kind):
    """Training previews: memoised text pair, optimizer steps, preview again. torch's fused AdamW
    writes the weights without bumping their version counters, so the memo must not rely on them
    alone (found in the real webui: every SDXL preview after the first showed the first one's text
    pair)."""
    hn = make_hn("o", 8)
    other = copy.deepcopy(unet)
    optimizer = torch.optim.AdamW(hn.parameters(), lr=0.05, **({kind: True} if kind != "plain" else {}))
    with attach_hypernetworks(unet, [(hn, 1.0)]) as attachment:
        with torch.no_grad():
            first = run_unet(unet, inputs)  # the first preview: stores the text pair
        hn.train()
        run_unet(unet, inputs).square().mean().backward()
        optimizer.step()
        hn.eval()
        with torch.no_grad():
            second = run_unet(unet, inputs)
        assert attachment.memo_stats[TINY_CONTEXT_DIM][0] == 0  # no hit: recomputed after the step
    with torch.no_grad(), attach_hypernetworks(other, [(hn, 1.0)], memoize=False):
        assert torch.equal(second, run_unet(other, inputs)) and not torch.equal(second, first)


def test_training_forward_never_uses_the_memo(unet, inputs):
    hn = make_hn("t", 6).train()
    text_k = count_calls(hn.pair(TINY_CONTEXT_DIM).k)
    with attach_hypernetworks(unet, [(hn, 1.0)]) as attachment:
        for _ in range(2):
            run_unet(unet, inputs).square().mean().backward()
        assert attachment.memo_stats == {}
    assert len(text_k) == 2 and all(p.grad is not None for p in hn.parameters())


@torch.no_grad()
def test_memo_not_stale_across_in_place_context_reuse(unet, inputs):
    hn = make_hn("r", 7)
    context = inputs[2].clone()
    with attach_hypernetworks(unet, [(hn, 1.0)], memoize=False):
        expected = run_unet(unet, (inputs[0], inputs[1], context * 2))
    with attach_hypernetworks(unet, [(hn, 1.0)]):
        run_unet(unet, (inputs[0], inputs[1], context))
        context.mul_(2)  # the caller overwrites its buffer with the next prompt
        assert torch.equal(run_unet(unet, (inputs[0], inputs[1], context)), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@torch.no_grad()
# the webui runs a half-precision UNet under autocast (ldm's timestep embedding stays fp32)
@torch.autocast("cuda", dtype=torch.float16)
def test_cuda_memo_and_strength_zero(unet, inputs):
    gpu = copy.deepcopy(unet).cuda().half()
    gpu_inputs = (inputs[0].cuda().half(), inputs[1].cuda(), inputs[2].cuda().half())
    hn = make_hn("cuda", 8)
    plain = run_unet(gpu, gpu_inputs)
    with attach_hypernetworks(gpu, [(hn, 0.0)]):
        assert all_hooks(gpu) == [] and torch.equal(run_unet(gpu, gpu_inputs), plain)
    with attach_hypernetworks(gpu, [(hn, 1.0)], memoize=False):
        uncached = run_unet(gpu, gpu_inputs)
    with attach_hypernetworks(gpu, [(hn, 1.0)]):
        cached = [run_unet(gpu, gpu_inputs) for _ in range(2)]
    assert torch.equal(cached[0], uncached) and torch.equal(cached[1], uncached)
