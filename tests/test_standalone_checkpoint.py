"""Single-file checkpoints: writing the tiny models, loading them back, config inference, errors."""
import hashlib
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

from hypernet_ext.errors import HypernetError, HypernetworkFileError
from hypernet_ext.standalone import load_host
from hypernet_ext.standalone.host import host_from_state_dict
from hypernet_ext.standalone.model_config import UnsupportedModelError, infer_model_config
from hypernet_ext.standalone.tiny import TINY_SD1, TINY_SD2, write_checkpoint
from hypernet_ext.standalone.unet import predicts_v
from helpers_models import sample_inputs, tiny_host, tiny_weights, write_tiny_checkpoint


def _assert_same_outputs(loaded, reference):
    latents, timesteps, cond = sample_inputs(reference)
    torch.testing.assert_close(loaded.encode_text(["a photo of a cat"]), reference.encode_text(["a photo of a cat"]),
                               rtol=0, atol=0)
    torch.testing.assert_close(loaded.predict(latents, timesteps, cond), reference.predict(latents, timesteps, cond),
                               rtol=0, atol=0)
    pixels = torch.linspace(-1, 1, 3 * 64 * 64).reshape(1, 3, 64, 64)
    for a, b in zip(loaded.encode_latent_distribution(pixels), reference.encode_latent_distribution(pixels)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_tiny_sd1_file_round_trip(tmp_path, suffix):
    path = write_tiny_checkpoint(tmp_path, "sd1", suffix)
    host = load_host(path)
    reference = tiny_host()
    assert host.model_name == "tiny-sd1"
    assert host.model_hash == hashlib.sha256(open(path, "rb").read()).hexdigest()[:10]
    assert host.attention_widths == reference.attention_widths and host.parameterization == "eps"
    assert host.config == TINY_SD1
    _assert_same_outputs(host, reference)


def test_write_checkpoint_never_overwrites(tmp_path):
    path = write_tiny_checkpoint(tmp_path, "sd1", ".safetensors")
    with pytest.raises(HypernetworkFileError, match="already exists"):
        write_checkpoint(path, {"a": torch.zeros(1)})
    assert os.listdir(tmp_path) == ["tiny-sd1.safetensors"]


def _openclip_reference(weights, tokens, layers_run):
    """SD2 conditioning computed straight from OpenCLIP-named tensors with torch's MultiheadAttention."""
    p = "cond_stage_model.model."
    x = weights[p + "token_embedding.weight"][tokens] + weights[p + "positional_embedding"]
    width = x.shape[-1]
    mask = torch.full((77, 77), float("-inf")).triu(1)
    for i in range(layers_run):
        b = f"{p}transformer.resblocks.{i}."
        attn = torch.nn.MultiheadAttention(width, width // 64, batch_first=True)
        attn.load_state_dict({"in_proj_weight": weights[b + "attn.in_proj_weight"],
                              "in_proj_bias": weights[b + "attn.in_proj_bias"],
                              "out_proj.weight": weights[b + "attn.out_proj.weight"],
                              "out_proj.bias": weights[b + "attn.out_proj.bias"]})
        h = F.layer_norm(x, (width,), weights[b + "ln_1.weight"], weights[b + "ln_1.bias"])
        x = x + attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        h = F.layer_norm(x, (width,), weights[b + "ln_2.weight"], weights[b + "ln_2.bias"])
        h = F.gelu(F.linear(h, weights[b + "mlp.c_fc.weight"], weights[b + "mlp.c_fc.bias"]))
        x = x + F.linear(h, weights[b + "mlp.c_proj.weight"], weights[b + "mlp.c_proj.bias"])
    return F.layer_norm(x, (width,), weights[p + "ln_final.weight"], weights[p + "ln_final.bias"])


def test_tiny_sd2_file(tmp_path):
    path = write_tiny_checkpoint(tmp_path, "sd2", ".safetensors")
    host = load_host(path)
    assert host.config == TINY_SD2 and host.config.family == "sd2"
    assert host.parameterization == "v" and host.attention_widths == (256, 64, 128)
    assert any(k.endswith("proj_in.weight") and v.dim() == 2 for k, v in host.unet.state_dict().items())
    tokens = host.text_encoder.tokenize(["a photo of a cat"])
    assert tokens[0, 7:].eq(0).all()
    weights, _ = tiny_weights("sd2")
    with torch.no_grad():
        expected = _openclip_reference(weights, tokens, layers_run=TINY_SD2.text.layers - 1)
    torch.testing.assert_close(host.encode_text(["a photo of a cat"]), expected, rtol=1e-4, atol=1e-4)
    latents, timesteps, cond = sample_inputs(host)
    assert host.predict(latents, timesteps, cond).shape == latents.shape


def test_sd2_prediction_rule(tmp_path):
    ckpt = write_tiny_checkpoint(tmp_path, "sd2", ".ckpt", name="no-metadata")
    assert load_host(ckpt, prediction="eps").parameterization == "eps"
    assert load_host(ckpt, prediction="v").parameterization == "v"
    (tmp_path / "no-metadata.yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n")
    assert load_host(ckpt).parameterization == "v"
    eps_meta = write_tiny_checkpoint(tmp_path, "sd2", ".safetensors", {"modelspec.prediction_type": "epsilon"},
                                     name="eps-meta")
    assert load_host(eps_meta).parameterization == "eps"
    with pytest.raises(HypernetError, match="prediction"):
        load_host(eps_meta, prediction="x0")


@pytest.mark.parametrize("bias, expected", [(0.5, False), (-2.0, True)])
def test_numeric_v_test(bias, expected):
    weights, _ = tiny_weights("sd2")
    weights = dict(weights)
    weights["model.diffusion_model.out.2.weight"] = torch.zeros_like(weights["model.diffusion_model.out.2.weight"])
    weights["model.diffusion_model.out.2.bias"] = torch.full((4,), bias)
    host = host_from_state_dict(weights, {})
    assert predicts_v(host.unet, 256) is expected
    assert host.parameterization == ("v" if expected else "eps")


def test_config_inference_reads_shapes():
    assert infer_model_config(tiny_weights("sd1")[0]) == TINY_SD1
    assert infer_model_config(tiny_weights("sd2")[0]) == TINY_SD2


def _save_raw(path, tensors):
    from safetensors.torch import save_file

    save_file(tensors, str(path))
    return str(path)


def test_refuses_other_architectures(tmp_path):
    weights = dict(tiny_weights("sd1")[0])
    sdxl = {**weights, "conditioner.embedders.1.model.ln_final.weight": torch.ones(4),
            "model.diffusion_model.label_emb.0.0.weight": torch.zeros(4, 4)}
    with pytest.raises(UnsupportedModelError, match="SDXL checkpoint has no first text encoder"):
        load_host(_save_raw(tmp_path / "xl.safetensors", sdxl))
    lora = {"lora_unet_down_blocks_0.lora_down.weight": torch.zeros(4, 320)}
    with pytest.raises(UnsupportedModelError, match="not a LoRA"):
        load_host(_save_raw(tmp_path / "lora.safetensors", lora))
    key = "model.diffusion_model.input_blocks.0.0.weight"
    inpaint = {**weights, key: torch.zeros(32, 9, 3, 3)}
    with pytest.raises(UnsupportedModelError, match="inpainting"):
        load_host(_save_raw(tmp_path / "inpaint.safetensors", inpaint))
    broken = {k: v for k, v in weights.items() if "output_blocks.2.1.transformer_blocks.0.attn1.to_q" not in k}
    with pytest.raises(HypernetworkFileError, match="UNet weights do not match"):
        load_host(_save_raw(tmp_path / "broken.safetensors", broken))


def test_bad_files(tmp_path):
    with pytest.raises(HypernetworkFileError, match="not found"):
        load_host(str(tmp_path / "missing.safetensors"))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(HypernetworkFileError, match="corrupt"):
        load_host(str(garbage))
    (tmp_path / "garbage.ckpt").write_bytes(b"definitely not a pickle")
    with pytest.raises(HypernetworkFileError):
        load_host(str(tmp_path / "garbage.ckpt"))
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(HypernetworkFileError, match="unknown checkpoint type"):
        load_host(str(tmp_path / "model.bin"))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_code_never_runs(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"x": _Exploit()}}, path, pickle_module=pickle)
    with pytest.raises(HypernetworkFileError, match="system"):
        load_host(str(path))


def test_old_text_key_layout_and_half_weights():
    weights, metadata = tiny_weights("sd1")
    prefix = "cond_stage_model.transformer."
    old = {(prefix + k[len(prefix + "text_model."):] if k.startswith(prefix + "text_model.") else k):
           (v.half() if v.is_floating_point() else v) for k, v in weights.items()}
    host = host_from_state_dict(old, metadata)
    reference = tiny_host()
    assert next(host.unet.parameters()).dtype == torch.float32
    expected = reference.encode_text(["a photo of a cat"])
    torch.testing.assert_close(host.encode_text(["a photo of a cat"]), expected, rtol=0.02, atol=0.02)
