"""DDIM sampling maths: an oracle denoiser for a known image must land exactly on that image."""
import pytest
import torch

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone.host import sd_alphas_cumprod
from hypernet_ext.standalone.sampler import check_sampler, sample_ddim, sampling_timesteps, to_pil


def _oracle(target, alphas, parameterization, calls):
    """Predicts the exact eps or v that explains x_t for the clean latent `target`."""
    def predict(x, t, cond):
        calls.append((t.tolist(), cond.shape[0]))
        a = alphas[t].reshape(-1, 1, 1, 1).double()
        x0 = target.expand_as(x).double()
        eps = (x.double() - a.sqrt() * x0) / (1 - a).sqrt()
        out = eps if parameterization == "eps" else a.sqrt() * eps - (1 - a).sqrt() * x0
        return out.to(x.dtype)
    return predict


@pytest.mark.parametrize("parameterization", ["eps", "v"])
def test_oracle_denoiser_recovers_image(parameterization):
    alphas = sd_alphas_cumprod()
    target = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    calls = []
    cond, uncond = torch.ones(1, 77, 8), torch.zeros(1, 77, 8)
    out = sample_ddim(_oracle(target, alphas, parameterization, calls), cond, uncond, alphas, (1, 4, 4, 4),
                      steps=6, cfg_scale=5.0, seed=11, parameterization=parameterization,
                      device=torch.device("cpu"))
    torch.testing.assert_close(out, target, rtol=1e-4, atol=1e-4)
    assert [t for t, _ in calls] == [[t, t] for t in sampling_timesteps(6, 1000)] and calls[0][1] == 2


def test_schedule_and_names():
    assert sampling_timesteps(4, 1000) == [999, 666, 333, 0]
    assert check_sampler(None) == "ddim" and check_sampler("Euler") == "euler"
    with pytest.raises(InvalidOptionError):
        check_sampler("plms")
    with pytest.raises(InvalidOptionError):
        sampling_timesteps(0, 1000)
    image = to_pil(torch.tensor([[[-1.0, 1.0]], [[0.0, 0.0]], [[1.0, -1.0]]]))
    assert image.size == (2, 1) and image.getpixel((0, 0)) == (0, 128, 255)
