"""`WebuiHost` and tag application on the webui stand-in's SDXL model (sgm DiffusionEngine surface)."""
import numpy as np
import pytest
import torch

from helpers_data import write_image
from helpers_training import make_options, same_weights, state
from helpers_webui import start, txt2img, webui, write_hypernetwork  # noqa: F401 (fixture)

_ENGINE = {}
PREVIEW = 2


def _engine(m):
    if "xl" not in _ENGINE:
        from modules.sd_models_xl import TinySDXLEngine
        _ENGINE["xl"] = TinySDXLEngine()
    return _ENGINE["xl"]


@pytest.fixture
def xl(webui):
    write_hypernetwork(webui.folder, "xlstyle", seed=1, sizes=(2048, 32, 64))
    start(webui)
    m = webui.modules
    m.sd_models.load_tiny_model(model=_engine(m))
    return webui


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_host_on_sdxl_conditioning_and_widths(xl):
    from hypernet_ext.training.host import TrainingHost
    from hypernet_ext.webui.host import WebuiHost
    model = xl.modules.shared.sd_model
    host = WebuiHost()
    assert isinstance(host, TrainingHost) and host.family == "sdxl" and host.size_conditioning
    assert host.attention_widths == (2048, 32, 64)
    cond = host.encode_text(["a cat", "a dog"])
    reference = model.get_learned_conditioning(["a cat", "a dog"])
    assert cond["context"].shape == (2, 77, 2048) and cond["vector"].shape == (2, 2816)
    torch.testing.assert_close(cond["context"], reference["crossattn"])
    torch.testing.assert_close(cond["vector"], reference["vector"])


def test_per_sample_sizes_replace_the_size_embeddings(xl):
    from hypernet_ext.webui.host import WebuiHost
    model = xl.modules.shared.sd_model
    host = WebuiHost()
    cond = host.encode_text(["a cat", "a dog"])
    sizes = torch.tensor([[96.0, 64.0, 16.0, 0.0, 64.0, 64.0], [1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]])
    noisy, t = torch.randn(2, 4, 8, 8), torch.tensor([10, 900])
    out = host.predict(noisy, t, {**cond, "sizes": sizes})
    batch = {"txt": ["a cat", "a dog"], "original_size_as_tuple": sizes[:, 0:2],
             "crop_coords_top_left": sizes[:, 2:4], "target_size_as_tuple": sizes[:, 4:6]}
    expected = model.apply_model(noisy, t, model.conditioner(batch))
    torch.testing.assert_close(out, expected)
    # without sizes the webui's own (1024x1024, crop 0) vector is used, so the second sample is unchanged
    plain = host.predict(noisy, t, cond)
    torch.testing.assert_close(plain[1], out[1])
    assert not torch.allclose(plain[0], out[0])


def test_latent_distribution_is_deterministic_and_scaled(xl):
    from hypernet_ext.webui.host import WebuiHost
    model = xl.modules.shared.sd_model
    host = WebuiHost()
    pixels = torch.rand(1, 3, 32, 32) * 2 - 1
    mean, std = host.encode_latent_distribution(pixels)
    again, _ = host.encode_latent_distribution(pixels)
    assert torch.equal(mean, again) and mean.shape == (1, 4, 4, 4)
    fs = model.first_stage_model
    moments = fs.quant_conv(fs.encoder(pixels))
    torch.testing.assert_close(mean, moments[:, :4] * 0.13025)
    assert bool((std > 0).all())


def test_train_with_previews_and_exact_resume_on_sdxl(xl, tmp_path, one_thread):
    from hypernet_ext.training.trainer import train_hypernetwork
    from hypernet_ext.webui.host import WebuiHost
    host = WebuiHost()
    data = tmp_path / "data"
    for i in range(3):
        write_image(data, f"i{i}.png", width=64 if i else 96, height=64, seed=i, caption=f"photo {i}")
    source = write_hypernetwork(tmp_path, "fresh", seed=2, std=0.01, sizes=(2048, 32, 64))
    opts = dict(data={"buckets": True, "batch_size": 2, "template": "filewords"}, preview_every=PREVIEW)
    straight = train_hypernetwork(host, make_options(tmp_path, source, data, steps=4, log="a", **opts))
    first = train_hypernetwork(host, make_options(tmp_path, source, data, steps=2, log="b", **opts))
    resumed = train_hypernetwork(host, make_options(tmp_path, first.final_path, data, steps=4, log="b",
                                                    resume=True, **opts))
    assert straight.stopped == resumed.stopped == "finished", straight.message
    assert same_weights(state(straight.final_path), state(resumed.final_path))
    assert not same_weights(state(source), state(straight.final_path))
    assert len(straight.previews) == (4 // PREVIEW if PREVIEW else 0)
    from hypernet_ext.storage import load_hypernetwork
    assert load_hypernetwork(straight.final_path).metadata["base_family"] == "sdxl"


def test_tags_apply_on_sdxl_and_strength_zero_changes_nothing(xl):
    m = xl.modules
    _, plain = txt2img(m, "a cat ")  # what the stripped tagged prompts leave
    _, zero = txt2img(m, "a cat <hypernet:xlstyle:0>")
    _, full = txt2img(m, "a cat <hypernet:xlstyle:1>")
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(zero.images[0]))
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(full.images[0]))
