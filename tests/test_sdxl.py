"""SDXL on the embedded tiny-sdxl model: key conversion, conditioning, training, exact resume, tags."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from hypernet_ext import create_hypernetwork
from hypernet_ext.standalone import load_host
from hypernet_ext.standalone.model_config import UNET_PREFIX
from hypernet_ext.standalone.sdxl_checkpoint import (SDXL_BASE_UNET, build_sdxl_unet, diffusers_to_sgm_unet,
                                                     infer_sdxl_config, is_sdxl_state_dict, sgm_to_diffusers_unet)
from hypernet_ext.standalone.sdxl_host import SDXLHost
from hypernet_ext.standalone.tiny import write_checkpoint
from hypernet_ext.standalone.tiny_sdxl import TINY_SDXL, tiny_sdxl_checkpoint
from hypernet_ext.storage import save_hypernetwork
from hypernet_ext.tagged_generation import generate_with_tags
from hypernet_ext.training.data import TrainingData
from hypernet_ext.training.trainer import train_hypernetwork

from helpers_data import write_image
from helpers_training import make_options, same_weights, state


@pytest.fixture(scope="module")
def host():
    return load_host("tiny-sdxl")


@pytest.fixture
def one_thread():
    """One intra-op thread keeps CPU float summation order, so exact resume is bitwise."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_sdxl_has_sdxl_widths_and_layout(host):
    weights, metadata = tiny_sdxl_checkpoint()
    assert is_sdxl_state_dict(weights)
    assert isinstance(host, SDXLHost)
    assert host.attention_widths == (2048, 64, 128)
    assert host.vae.scale_factor == pytest.approx(0.13025)
    assert any(k.startswith("conditioner.embedders.0.transformer.text_model.") for k in weights)
    assert "conditioner.embedders.1.model.text_projection" in weights
    assert f"{UNET_PREFIX}label_emb.0.0.weight" in weights
    assert infer_sdxl_config(weights) == TINY_SDXL


def test_sgm_names_of_the_real_sdxl_unet():
    """The converter's names for the full-size SDXL UNet are sgm's (known keys of SDXL 1.0 files)."""
    with torch.device("meta"):
        unet = build_sdxl_unet(SDXL_BASE_UNET)
    sgm = diffusers_to_sgm_unet(unet.state_dict(), SDXL_BASE_UNET)
    assert len(sgm) == 1680
    for key in ("input_blocks.3.0.op.weight", "input_blocks.6.0.op.weight", "output_blocks.2.2.conv.weight",
                "output_blocks.5.2.conv.weight", "input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight",
                "input_blocks.8.1.transformer_blocks.9.ff.net.0.proj.weight", "input_blocks.4.0.skip_connection.weight",
                "middle_block.1.transformer_blocks.9.norm3.weight", "label_emb.0.2.weight",
                "output_blocks.8.0.skip_connection.weight", "out.2.weight"):
        assert key in sgm, key
    assert sgm["label_emb.0.0.weight"].shape == (1280, 2816)
    assert sgm["input_blocks.7.1.transformer_blocks.0.attn2.to_k.weight"].shape == (1280, 2048)


def test_key_conversion_against_the_librarys_own_model(host):
    """Convert the diffusers model's weights to sgm names and back: strict load, same outputs."""
    config = TINY_SDXL.unet
    torch.manual_seed(3)
    reference = build_sdxl_unet(config).eval()
    sgm = diffusers_to_sgm_unet(reference.state_dict(), config)
    assert set(sgm) == {k[len(UNET_PREFIX):] for k in tiny_sdxl_checkpoint()[0] if k.startswith(UNET_PREFIX)}
    loaded = build_sdxl_unet(config).eval()
    loaded.load_state_dict(sgm_to_diffusers_unet(sgm, config), strict=True)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([3, 700])
    kwargs = dict(encoder_hidden_states=torch.randn(2, 77, 2048),
                  added_cond_kwargs={"text_embeds": torch.randn(2, 1280), "time_ids": torch.rand(2, 6) * 1024})
    with torch.no_grad():
        assert torch.equal(reference(x, t, **kwargs).sample, loaded(x, t, **kwargs).sample)


def test_conditioning_shapes_and_size_embeddings(host):
    cond = host.encode_text(["a cat", "a dog on a mat"])
    assert cond["context"].shape == (2, 77, 2048) and cond["pooled"].shape == (2, 1280)
    assert not torch.equal(cond["context"][0], cond["context"][1])
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([500])
    one = {k: v[:1] for k, v in cond.items()}
    default = host.predict(x, t, one)
    assert torch.equal(host.default_sizes(x), torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]))
    same = host.predict(x, t, {**one, "sizes": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])})
    other = host.predict(x, t, {**one, "sizes": torch.tensor([[512.0, 300.0, 8.0, 0.0, 64.0, 64.0]])})
    assert torch.equal(default, same)
    assert not torch.allclose(default, other)


def test_per_sample_original_size_and_crop(host, tmp_path):
    data = tmp_path / "data"
    write_image(data, "wide.png", seed=1, caption="wide", width=128, height=64)
    write_image(data, "tall.png", seed=2, caption="tall", width=64, height=96)
    crop = TrainingData(host, make_options(tmp_path, "x.pt", data).data)
    rows = {b.sources[0]: b.cond["sizes"][0].tolist() for b in (crop.batch(0), crop.batch(1))}
    assert rows["wide.png"] == [64, 128, 0, 32, 64, 64]    # scaled to 128x64, centre crop at left 32
    assert rows["tall.png"] == [96, 64, 16, 0, 64, 64]
    buckets = TrainingData(host, make_options(tmp_path, "x.pt", data, data={"buckets": True}).data)
    sizes = sorted(tuple(buckets.batch(s).cond["sizes"][0].tolist()) for s in range(2))
    assert all(row[2:4] == (0, 0) for row in sizes)  # buckets never crop
    assert {row[:2] for row in sizes} == {(64, 128), (96, 64)}


def _dataset(folder, count=4):
    for i in range(count):
        write_image(folder, f"img{i}.png", seed=i, caption=f"a photo, tag{i}", width=64 if i % 2 else 96, height=64)
    return folder


def test_create_train_batch2_buckets_resume_bitwise(host, tmp_path, one_thread):
    data = _dataset(tmp_path / "data")
    hn = create_hypernetwork("xl", sizes=(2048, 640, 1280, 64, 128), seed=0, layer_structure=(1, 0.5, 1))
    source = save_hypernetwork(hn, tmp_path / "xl.pt")
    opts = dict(data={"buckets": True, "batch_size": 2, "flip": True, "latent_sampling": "random"})
    straight = train_hypernetwork(host, make_options(tmp_path, source, data, steps=4, log="a", **opts))
    first = train_hypernetwork(host, make_options(tmp_path, source, data, steps=2, log="b", **opts))
    resumed = train_hypernetwork(host, make_options(tmp_path, first.final_path, data, steps=4, log="b",
                                                    resume=True, **opts))
    assert straight.stopped == resumed.stopped == "finished"
    assert same_weights(state(straight.final_path), state(resumed.final_path))
    assert not same_weights(state(source), state(straight.final_path))


def test_generate_with_tag_strength_zero_is_pixel_identical(host, tmp_path):
    from hypernet_ext.library import HypernetworkLibrary

    torch.manual_seed(0)
    hn = create_hypernetwork("style", sizes=(2048, 640, 1280), seed=1, layer_structure=(1, 2, 1))
    with torch.no_grad():
        for p in hn.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    save_hypernetwork(hn, tmp_path / "style.pt")
    library = HypernetworkLibrary(tmp_path)
    sampling = dict(steps=2, seed=5, width=64, height=64)
    plain = np.asarray(host.generate("a cat", **sampling))
    zero = generate_with_tags(host, library, "a cat <hypernet:style:0>", **sampling)
    full = generate_with_tags(host, library, "a cat <hypernet:style:1>", **sampling)
    assert zero.applied == [("style", 0.0)]
    assert np.array_equal(plain, np.asarray(zero.image))
    assert not np.array_equal(plain, np.asarray(full.image))


def test_sdxl_single_file_round_trip(host, tmp_path):
    weights, metadata = tiny_sdxl_checkpoint()
    path = write_checkpoint(tmp_path / "tiny_xl.safetensors", weights, metadata)
    loaded = load_host(path)
    assert isinstance(loaded, SDXLHost) and loaded.model_name == "tiny_xl"
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([100])
    cond = host.encode_text(["same"])
    assert torch.equal(host.predict(x, t, cond), loaded.predict(x, t, loaded.encode_text(["same"])))


def test_width_warnings_name_both_sides(host, tmp_path):
    from hypernet_ext.widths import family_of_widths, match_widths

    sd1_file_on_sdxl = match_widths((768, 320, 640, 1280), (2048, 640, 1280)).warning("old")
    assert "made for SD1, not SDXL" in sd1_file_on_sdxl and "[768, 320] are ignored" in sd1_file_on_sdxl
    sdxl_only_on_sd1 = match_widths((1024,), (768, 320, 640, 1280)).warning("v2")
    assert "none match" in sdxl_only_on_sd1 and "[1024]" in sdxl_only_on_sd1 and "[768, 320, 640, 1280]" in sdxl_only_on_sd1
    assert match_widths((2048, 640, 1280), (2048, 640, 1280)).warning("fits") is None
    assert match_widths((768, 320, 640, 1280), (768, 32, 64, 128)).warning("toy") is None  # text width fits
    assert family_of_widths((2048, 640, 1280)) == "sdxl" and family_of_widths((320,)) is None


def test_tagged_generation_warns_for_an_sd1_file_on_sdxl(host, tmp_path):
    from hypernet_ext.library import HypernetworkLibrary

    hn = create_hypernetwork("sd1style", sizes=(768, 64, 320), seed=1, layer_structure=(1, 0.5, 1))
    assert hn.metadata["base_family"] == "sd1"
    save_hypernetwork(hn, tmp_path / "sd1style.pt")
    result = generate_with_tags(host, HypernetworkLibrary(tmp_path), "a cat <hypernet:sd1style:1>",
                                steps=1, seed=1, width=64, height=64)
    assert any("made for SD1, not SDXL" in w for w in result.warnings)
    assert any("this model's attention layers use [2048, 64, 128]" in w for w in result.warnings)


def test_sdxl_training_records_the_family_and_warns_for_foreign_widths(host, tmp_path):
    data = _dataset(tmp_path / "data", count=2)
    hn = create_hypernetwork("mixed", sizes=(768, 64), seed=0, layer_structure=(1, 0.5, 1))
    source = save_hypernetwork(hn, tmp_path / "mixed.pt")
    result = train_hypernetwork(host, make_options(tmp_path, source, data, steps=1))
    assert "made for SD1, not SDXL" in result.message
    from hypernet_ext.storage import load_hypernetwork
    trained = load_hypernetwork(result.final_path)
    assert trained.metadata["base_family"] == "sdxl"
    assert trained.metadata["training"]["base_model"]["family"] == "sdxl"
