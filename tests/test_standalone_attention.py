"""SDPA attention, ldm checkpoint flags, attention widths and the SD1.5-shaped benchmark UNet."""
import types

import pytest
import torch

from hypernet_ext.standalone.attention import (attention_widths, disable_ldm_checkpointing,
                                               sdpa_cross_attention_forward, use_sdpa_attention)
from hypernet_ext.standalone.model_config import infer_unet_config
from hypernet_ext.standalone.unet import SD15_UNET, SD21_UNET, build_sd15_unet, build_unet
from hypernet_ext.standalone.tiny import TINY_SD1, _randomize


def _attention(context_dim=None, heads=4, dim_head=8, query_dim=32, seed=0):
    from ldm.modules.attention import CrossAttention

    torch.manual_seed(seed)
    return CrossAttention(query_dim, context_dim=context_dim, heads=heads, dim_head=dim_head).eval()


@pytest.mark.parametrize("context_dim", [None, 48])
def test_sdpa_forward_equals_einsum(context_dim):
    module = _attention(context_dim)
    x = torch.randn(2, 37, 32)
    context = None if context_dim is None else torch.randn(2, 11, context_dim)
    reference = module(x, context=context)
    use_sdpa_attention(module)
    assert isinstance(module.forward, types.MethodType)
    torch.testing.assert_close(module(x, context=context), reference, rtol=1e-5, atol=1e-6)


def test_sdpa_forward_honours_mask():
    module = _attention(48)
    x, context = torch.randn(2, 5, 32), torch.randn(2, 7, 48)
    mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4])
    reference = module(x, context=context, mask=mask)
    out = sdpa_cross_attention_forward(module, x, context=context, mask=mask)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)


def test_only_instances_change_and_hooks_still_fire():
    from ldm.modules.attention import CrossAttention

    class_forward = CrossAttention.forward
    module = _attention(48)
    use_sdpa_attention(module)
    assert CrossAttention.forward is class_forward and _attention(48).forward.__func__ is class_forward
    seen = []
    module.to_k.register_forward_pre_hook(lambda m, args: seen.append(("k", args[0].shape[-1])))
    module.to_v.register_forward_pre_hook(lambda m, args: seen.append(("v", args[0].shape[-1])))
    module(torch.randn(1, 4, 32), context=torch.randn(1, 3, 48))
    assert seen == [("k", 48), ("v", 48)]


def test_whole_unet_sdpa_equals_einsum():
    from ldm.modules.attention import CrossAttention

    torch.manual_seed(0)
    unet = _randomize(build_unet(TINY_SD1.unet)).eval()
    x, t, context = torch.randn(2, 4, 8, 8), torch.tensor([3, 700]), torch.randn(2, 77, 768)
    with torch.no_grad():
        fast = unet(x, t, context=context)
        for module in unet.modules():
            if isinstance(module, CrossAttention):
                del module.forward  # back to the class's einsum forward
        slow = unet(x, t, context=context)
    assert fast.abs().mean() > 1e-3
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)


def test_checkpoint_flags_off():
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(**{**TINY_SD1.unet.ldm_kwargs(), "use_checkpoint": True})
    flags = [m.checkpoint for m in unet.modules() if hasattr(m, "checkpoint") and isinstance(m.checkpoint, bool)]
    assert flags and all(flags)
    disable_ldm_checkpointing(unet)
    assert not any(getattr(m, "use_checkpoint", False) or getattr(m, "checkpoint", False) is True
                   for m in unet.modules())


def test_sd15_shapes_and_config_inference():
    with torch.device("meta"):
        sd15, sd21 = build_unet(SD15_UNET), build_unet(SD21_UNET)
    assert attention_widths(sd15) == (768, 320, 640, 1280)
    assert attention_widths(sd21) == (1024, 320, 640, 1280)
    assert sum(p.numel() for p in sd15.parameters()) == 859_520_964
    prefix = "model.diffusion_model."
    assert infer_unet_config({prefix + k: v for k, v in sd15.state_dict().items()}, "sd1") == SD15_UNET
    assert infer_unet_config({prefix + k: v for k, v in sd21.state_dict().items()}, "sd2") == SD21_UNET


def test_build_sd15_unet_is_frozen_sdpa():
    unet = build_sd15_unet(device="meta")
    assert not any(p.requires_grad for p in unet.parameters()) and not unet.training
    assert all(m.forward.__func__ is sdpa_cross_attention_forward
               for m in unet.modules() if type(m).__name__ == "CrossAttention")
