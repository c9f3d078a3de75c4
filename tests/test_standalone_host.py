"""The tiny standalone host against the TrainingHost protocol, and the shared noise/target helpers."""
import pytest
import torch

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.training.host import PreviewParams, TrainingHost, add_noise, training_target
from helpers_models import sample_inputs, tiny_host


@pytest.fixture(scope="module")
def host():
    return tiny_host()


def test_tiny_host_shape(host):
    assert isinstance(host, TrainingHost)
    assert host.attention_widths == (768, 32, 64, 128)
    assert (host.latent_channels, host.latent_downscale, host.parameterization) == (4, 8, "eps")
    assert (host.model_name, host.model_hash) == ("tiny", None)
    a = host.alphas_cumprod
    assert a.shape == (1000,) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert a[0].item() == pytest.approx(1 - 0.00085) and a[-1].item() == pytest.approx(0.0046602, rel=1e-4)
    assert bool((a[1:] < a[:-1]).all())


def test_everything_frozen(host):
    for module in (host.unet, host.vae, host.text_encoder):
        assert not module.training and not any(p.requires_grad for p in module.parameters())


def test_tiny_is_deterministic(host):
    from hypernet_ext.standalone import load_host

    other = load_host("tiny")
    latents, timesteps, cond = sample_inputs(host)
    torch.testing.assert_close(other.predict(latents, timesteps, cond), host.predict(latents, timesteps, cond),
                               rtol=0, atol=0)


def test_encoders(host):
    cond = host.encode_text(["a photo of a cat", "a photo of a dog"])
    assert cond.shape == (2, 77, 768) and cond.dtype == torch.float32
    assert not torch.allclose(cond[0], cond[1])
    torch.testing.assert_close(host.encode_text(["a photo of a cat"])[0], cond[0])
    pixels = torch.rand(2, 3, 64, 48) * 2 - 1
    mean, std = host.encode_latent_distribution(pixels)
    assert mean.shape == std.shape == (2, 4, 8, 6) and bool((std > 0).all())
    vae = host.vae
    moments = vae.quant_conv(vae.encoder(pixels))
    torch.testing.assert_close(mean, moments[:, :4] * 0.18215)


def test_predict_gradients_reach_attention_hooks(host):
    latents, timesteps, cond = sample_inputs(host)
    scales = {w: torch.ones((), requires_grad=True) for w in host.attention_widths}
    handles = [m.register_forward_pre_hook(lambda mod, args: (args[0] * scales[args[0].shape[-1]],))
               for name, m in host.unet.named_modules() if name.endswith(("to_k", "to_v"))]
    try:
        out = host.predict(latents.double(), timesteps, cond)
        assert out.dtype == torch.float64 and out.shape == latents.shape
        out.square().mean().backward()
    finally:
        for handle in handles:
            handle.remove()
    assert all(s.grad is not None and s.grad.abs() > 0 for s in scales.values())


def test_bfloat16_predict_close_to_float32():
    from hypernet_ext.standalone import load_host

    bf16 = load_host("tiny", dtype=torch.bfloat16)
    reference = tiny_host()
    latents, timesteps, cond = sample_inputs(reference)
    out = bf16.predict(latents, timesteps, cond.to(torch.bfloat16))
    assert out.dtype == torch.float32
    expected = reference.predict(latents, timesteps, cond)
    assert (out - expected).abs().mean() < 0.05 * expected.abs().mean()


class _Schedule:
    def __init__(self, parameterization):
        self.parameterization = parameterization
        self.alphas_cumprod = torch.linspace(0.99, 0.01, 1000)


def test_noise_and_targets():
    x0, noise, t = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2), torch.tensor([0, 499, 999])
    a = torch.linspace(0.99, 0.01, 1000)[t].reshape(3, 1, 1, 1)
    eps_host, v_host = _Schedule("eps"), _Schedule("v")
    noisy = add_noise(eps_host, x0, noise, t)
    torch.testing.assert_close(noisy, a.sqrt() * x0 + (1 - a).sqrt() * noise)
    assert training_target(eps_host, x0, noise, t) is noise
    v = training_target(v_host, x0, noise, t)
    torch.testing.assert_close(a.sqrt() * noisy - (1 - a).sqrt() * v, x0, rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidOptionError, match="parameterization"):
        training_target(_Schedule("x0"), x0, noise, t)


def test_generate_is_seeded(host):
    first = host.generate("a red cube", steps=4, seed=7, width=64, height=64)
    again = host.generate("a red cube", steps=4, seed=7, width=64, height=64)
    other = host.generate("a red cube", steps=4, seed=8, width=64, height=64)
    assert first.size == (64, 64) and first.mode == "RGB"
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()
    assert host.size_multiple == 32
    assert host.generate("a red cube", steps=2, seed=1, width=100, height=40).size == (96, 32)
    with pytest.raises(InvalidOptionError, match="sampler"):
        host.generate("x", steps=1, sampler="DPM++ 2M")


def test_generate_preview(host):
    params = PreviewParams(prompt="a cat", steps=3, seed=5, width=64, height=64, sampler="Euler a")
    image = host.generate_preview(params)
    assert image.size == (64, 64)
    assert image.tobytes() == host.generate("a cat", steps=3, seed=5, width=64, height=64).tobytes()


def test_attached_hypernetwork_trains_through_predict(host):
    from hypernet_ext import create_hypernetwork
    from hypernet_ext.attach import attach_hypernetworks

    hypernetwork = create_hypernetwork("t", sizes=host.attention_widths, activation="relu", seed=1)
    hypernetwork.train()
    latents, timesteps, cond = sample_inputs(host)
    baseline = host.predict(latents, timesteps, cond).detach()
    attachment = attach_hypernetworks(host.unet, [(hypernetwork, 1.0)])
    try:
        out = host.predict(latents, timesteps, cond)
        torch.nn.functional.mse_loss(out, torch.zeros_like(out)).backward()
    finally:
        attachment.detach()
    assert not torch.allclose(out.detach(), baseline)
    for width in host.attention_widths:
        pair = hypernetwork.pair(width)
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pair.parameters()), width
    torch.testing.assert_close(host.predict(latents, timesteps, cond), baseline, rtol=0, atol=0)
