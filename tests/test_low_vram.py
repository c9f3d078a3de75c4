"""Low-VRAM options: encoders off the GPU after caching (back for previews), UNet weight dtype, 8-bit AdamW."""
import argparse
import importlib.util

import pytest
import torch

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.model_arguments import load_host_from_args
from hypernet_ext.standalone import load_host
from hypernet_ext.training.optim import build_optimizer
from hypernet_ext.training.trainer import train_hypernetwork

from helpers_training import make_dataset, make_hypernetwork, make_options, same_weights, state


@pytest.fixture
def data_dir(tmp_path):
    return make_dataset(tmp_path / "data")


def recording_host():
    """The tiny host with its offload calls recorded and its encoders checked at every use."""
    host = load_host("tiny")
    log, where = [], {"vae": "gpu", "text": "gpu"}
    offload, restore = host.offload_encoders, host.restore_encoders

    def offload_encoders(text_encoder=True):
        log.append(("offload", text_encoder))
        where["vae"] = "off"
        if text_encoder:
            where["text"] = "off"
        offload(text_encoder=text_encoder)

    def restore_encoders():
        log.append(("restore",))
        where.update(vae="gpu", text="gpu")
        restore()

    host.offload_encoders, host.restore_encoders = offload_encoders, restore_encoders
    used = []
    host.vae.register_forward_pre_hook(lambda *a: used.append(("vae", where["vae"])))
    host.vae.decoder.register_forward_pre_hook(lambda *a: used.append(("vae", where["vae"])))
    host.text_encoder.register_forward_pre_hook(lambda *a: used.append(("text", where["text"])))
    return host, log, used


def test_encoders_offloaded_during_training_restored_for_previews_same_result(tmp_path, data_dir):
    source = make_hypernetwork(tmp_path, sizes=(768, 32, 64, 128), layer_structure=(1, 0.25, 1))
    plain = train_hypernetwork(load_host("tiny"), make_options(tmp_path, source, data_dir, steps=3, log="plain",
                                                               preview_every=2,
                                                               data={"template": str(one_line_template(tmp_path))}))
    host, log, used = recording_host()
    offloaded = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=3, log="off",
                                                      preview_every=2, offload_encoders=True,
                                                      data={"template": str(one_line_template(tmp_path))}))
    # caching ran before the offload; the preview at step 2 restored both encoders, then offloaded again
    assert log == [("offload", True), ("restore",), ("offload", True), ("restore",)]
    assert used and all(place == "gpu" for _, place in used)  # never used while offloaded
    assert any(kind == "vae" for kind, _ in used) and any(kind == "text" for kind, _ in used)
    assert same_weights(state(plain.final_path), state(offloaded.final_path))
    assert host.encoder_devices == (host.device, host.device)


def one_line_template(folder):
    """One template line and no tag shuffle: every prompt is fixed for the run, so all are cached."""
    path = folder / "one_line.txt"
    path.write_text("a picture of [filewords]\n")
    return path


def test_text_encoder_stays_when_prompts_change_every_step(tmp_path, data_dir):
    source = make_hypernetwork(tmp_path, sizes=(768, 32, 64, 128), layer_structure=(1, 0.25, 1))
    host, log, used = recording_host()
    result = train_hypernetwork(host, make_options(tmp_path, source, data_dir, steps=2, offload_encoders=True,
                                                   data={"shuffle_tags": True}))
    assert log == [("offload", False), ("restore",)]
    assert all(place == "gpu" for _, place in used)
    assert "text encoder stays on the GPU" in result.message


def test_unet_weight_dtype_option(tmp_path, data_dir):
    args = argparse.Namespace(model="tiny", device="cpu", prediction=None)
    host = load_host_from_args(args, dtype=torch.bfloat16)
    assert host.unet.input_blocks[0][0].weight.dtype == torch.bfloat16
    source = make_hypernetwork(tmp_path)
    with pytest.raises(InvalidOptionError, match="unet_weights"):
        make_options(tmp_path, source, data_dir, unet_weights="fp8").validate()


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_adamw8bit_without_bitsandbytes_says_how_to_get_it():
    with pytest.raises(InvalidOptionError, match="pip install bitsandbytes"):
        build_optimizer("AdamW8bit", [torch.nn.Parameter(torch.zeros(2))], 1e-4)


@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None,
                    reason="needs CUDA and bitsandbytes")
def test_cuda_adamw8bit_steps():
    parameter = torch.nn.Parameter(torch.ones(4096, device="cuda"))
    name, optimizer = build_optimizer("adamw8bit", [parameter], 1e-2)
    parameter.grad = torch.ones_like(parameter)
    optimizer.step()
    assert name == "AdamW8bit" and (parameter < 1).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_offload_frees_gpu_memory():
    host = load_host("tiny", device="cuda")
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    host.offload_encoders()
    assert host.encoder_devices == (torch.device("cpu"), torch.device("cpu"))
    assert torch.cuda.memory_allocated() < before
    host.restore_encoders()
    assert all(d.type == "cuda" for d in host.encoder_devices)
