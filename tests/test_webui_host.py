"""`WebuiHost`: the training host on the webui stand-in's tiny ldm model."""
from types import SimpleNamespace

import pytest
import torch

from helpers_webui import start, webui, write_hypernetwork  # noqa: F401 (fixture)


@pytest.fixture
def host(webui):
    write_hypernetwork(webui.folder, "a", seed=1)
    start(webui)
    from hypernet_ext.webui.host import WebuiHost
    return WebuiHost()


def test_host_satisfies_the_training_protocol(host, webui):
    from hypernet_ext.training.host import TrainingHost
    model = webui.modules.shared.sd_model
    assert isinstance(host, TrainingHost)
    assert host.unet is model.model.diffusion_model
    assert host.attention_widths == (768, 32, 64)
    assert host.parameterization == "eps" and host.latent_channels == 4 and host.latent_downscale == 8
    assert host.model_hash == "0123456789" and host.model_name == "tiny-sd1"
    assert host.alphas_cumprod.dtype == torch.float32 and host.alphas_cumprod.shape == (1000,)
    assert host.dtype == torch.float32


def test_latent_distribution_is_scaled_by_the_vae_factor(host, webui):
    model = webui.modules.shared.sd_model
    pixels = torch.rand(2, 3, 32, 32) * 2 - 1
    mean, std = host.encode_latent_distribution(pixels)
    posterior = model.encode_first_stage(pixels)
    assert mean.shape == std.shape == (2, 4, 4, 4)
    torch.testing.assert_close(mean, posterior.mean * model.scale_factor)
    torch.testing.assert_close(std, posterior.std * model.scale_factor)


def test_text_and_prediction_go_through_the_webui_model(host, webui):
    model = webui.modules.shared.sd_model
    cond = host.encode_text(["a cat", "a dog"])
    assert cond.shape == (2, 77, 768)
    torch.testing.assert_close(cond, model.cond_stage_model(["a cat", "a dog"]))
    noisy, t = torch.randn(2, 4, 4, 4), torch.tensor([10, 900])
    out = host.predict(noisy, t, cond)
    torch.testing.assert_close(out, model.apply_model(noisy, t, cond))


def test_prediction_carries_attached_hypernetworks(host):
    from hypernet_ext.attach import attach_hypernetworks
    from hypernet_ext.webui.runtime import runtime
    cond = host.encode_text(["a cat"])
    noisy, t = torch.randn(1, 4, 4, 4), torch.tensor([500])
    with torch.no_grad():
        plain = host.predict(noisy, t, cond)
        with attach_hypernetworks(host.unet, [(runtime.library.load("a"), 1.0)]):
            hooked = host.predict(noisy, t, cond)
    assert not torch.allclose(plain, hooked)


def test_preview_uses_only_the_attachment(host, webui):
    from hypernet_ext.attach import attach_hypernetworks
    from hypernet_ext.training.host import PreviewParams
    from hypernet_ext.webui.runtime import runtime
    m = webui.modules
    params = PreviewParams(prompt="a cat <hypernet:a:1>", steps=5, seed=3, width=32, height=32)
    plain = host.generate_preview(params)
    assert plain.size == (32, 32)
    assert runtime.attachment is None  # extra networks were disabled: the tag was not applied
    assert m.hypernetworks.hypernetwork.load_calls == []
    with attach_hypernetworks(host.unet, [(runtime.library.load("a"), 1.0)]):
        hooked = host.generate_preview(params)
    assert plain.tobytes() != hooked.tobytes()
    assert m.shared.state.current_image is hooked


@pytest.mark.parametrize("model, words", [
    (SimpleNamespace(is_sdxl=True), "not the size embedders"),
    (SimpleNamespace(is_sdxl=True, is_sdxl_inpaint=True), "SDXL inpainting"),
    (None, "No checkpoint is loaded"),
    (SimpleNamespace(is_sdxl=False, model=None), "not a Stable Diffusion"),
])
def test_unsupported_models_get_a_clear_message(webui, model, words):
    from hypernet_ext.errors import HypernetError
    from hypernet_ext.webui.host import WebuiHost
    webui.modules.shared.sd_model = model
    with pytest.raises(HypernetError, match=words):
        WebuiHost()
