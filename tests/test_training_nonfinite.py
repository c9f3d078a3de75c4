"""NaN/inf from the text encoder is bad input, not divergence; divergence steps match loss.csv.

Regression for the real webui run that "diverged" at step 8: the webui's 'Original' emphasis mode
divides the CLIP output by its own mean, and on a text encoder whose final LayerNorm has weight 1
and bias 0 that mean is exactly 0 for some prompts, so the whole conditioning became NaN.
`ZeroBiasEmphasisEncoder` reproduces that mechanism with real torch layers.
"""
import csv
import math

import pytest
import torch
from torch import nn

from hypernet_ext.standalone import load_host
from hypernet_ext.training.text_cache import NonFiniteConditioningError, TextConditionCache
from hypernet_ext.training.trainer import train_hypernetwork

from helpers_training import make_dataset, make_hypernetwork, make_options, same_weights, state
from helpers_webui import start, webui  # noqa: F401 (fixture)

TOKENS = 77
BAD = "~"  # every byte of this prompt (and the padding) embeds to a constant vector


class ZeroBiasEmphasisEncoder(nn.Module):
    """Bytes -> embedding -> LayerNorm(weight 1, bias 0) -> the webui's 'Original' emphasis rescale.

    With all emphasis multipliers 1 the rescale z * (mean(z) / mean(z)) is the identity, except
    when mean(z) is exactly 0: then it is 0/0 and every value becomes NaN.
    """

    def __init__(self, width: int):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.embedding = nn.Embedding(256, width)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.randn(256, width, generator=generator))
            self.embedding.weight[0] = 0.5
            self.embedding.weight[ord(BAD)] = 0.5
        self.norm = nn.LayerNorm(width)

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids = torch.zeros(len(texts), TOKENS, dtype=torch.long)
        for row, text in enumerate(texts):
            data = list(text.encode("utf-8"))[:TOKENS]
            ids[row, :len(data)] = torch.tensor(data, dtype=torch.long)
        z = self.norm(self.embedding(ids))
        original_mean = z.mean()
        z = z * torch.ones(z.shape[:2]).unsqueeze(-1)
        return z * (original_mean / z.mean())


class SeamHost:
    """The real tiny standalone host with its text encoder or its predictions replaced."""

    def __init__(self, real, encoder=None, nan_at_call=None):
        self._real, self._encoder, self._nan_at, self.calls = real, encoder, nan_at_call, 0

    def __getattr__(self, name):
        if name == "encode_text_each" and self._encoder is not None:
            raise AttributeError(name)  # a replaced encoder replaces the per-caption encoding too
        return getattr(self._real, name)

    def encode_text(self, captions):
        return self._encoder(list(captions)) if self._encoder is not None else self._real.encode_text(captions)

    def predict(self, noisy, timesteps, cond):
        out = self._real.predict(noisy, timesteps, cond)
        self.calls += 1
        return out * math.nan if self.calls == self._nan_at else out


@pytest.fixture(scope="module")
def tiny():
    return load_host("tiny")


@pytest.fixture(scope="module")
def encoder(tiny):
    return ZeroBiasEmphasisEncoder(tiny.encode_text(["x"]).shape[-1])


def test_the_encoder_reproduces_the_webui_nan(encoder):
    with torch.no_grad():
        assert torch.isnan(encoder([BAD])).all()
        assert torch.isfinite(encoder(["a photo of hn", "hn style"])).all()


def test_cache_rejects_nan_conditioning_naming_the_prompt(encoder):
    cache = TextConditionCache(encoder)
    assert torch.isfinite(cache.get_batch(["a photo of hn"])).all()
    with pytest.raises(NonFiniteConditioningError, match="the prompt '~'") as caught:
        cache.get_batch(["a photo of hn", BAD])
    assert caught.value.text == BAD and "not at fault" in str(caught.value)
    assert cache.get_batch(["a photo of hn"]).shape[0] == 1  # the good text stays usable


def test_nan_prompt_mid_run_stops_naming_it_and_keeps_the_steps_trained(tiny, encoder, tmp_path):
    source = make_hypernetwork(tmp_path)
    before = state(source)
    options = make_options(tmp_path, source, make_dataset(tmp_path / "data"), steps=12,
                           data={"template": ["[name] photo", BAD], "seed": 3})
    with pytest.raises(NonFiniteConditioningError, match="the prompt '~'") as caught:
        train_hypernetwork(SeamHost(tiny, encoder=encoder), options)
    message = str(caught.value)
    failed_at = int(message.split("Training stopped at step ")[1].split(":")[0])
    assert failed_at > 1, "the seed must put the bad prompt after the first step"
    rows = list(csv.DictReader(open(tmp_path / "log" / "loss.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, failed_at))
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    kept = tmp_path / "log" / "hypernetworks" / f"hn-{failed_at - 1}.pt"
    assert str(kept) in message and "diverged" not in message
    saved = state(kept)
    assert all(torch.isfinite(v).all() for v in saved.values()) and not same_weights(saved, before)
    assert same_weights(state(source), before)


def test_nan_loss_names_the_step_loss_csv_gives_it(tiny, tmp_path):
    options = make_options(tmp_path, make_hypernetwork(tmp_path), make_dataset(tmp_path / "data"), steps=5)
    result = train_hypernetwork(SeamHost(tiny, nan_at_call=3), options)
    assert result.stopped == "diverged" and "the loss became nan at step 3)" in result.message
    rows = list(csv.DictReader(open(tmp_path / "log" / "loss.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]


def test_webui_host_names_the_emphasis_setting(webui):  # noqa: F811 (fixture)
    start(webui)
    from hypernet_ext.webui.host import WebuiHost
    model = webui.modules.shared.sd_model
    host = WebuiHost()
    original = model.cond_stage_model
    model.cond_stage_model = ZeroBiasEmphasisEncoder(768)
    try:
        assert torch.isfinite(host.encode_text(["a cat"])).all()
        webui.modules.shared.opts.emphasis = "Original"
        with pytest.raises(NonFiniteConditioningError, match="Emphasis mode to 'No norm'"):
            host.encode_text([BAD])
        webui.modules.shared.opts.emphasis = "No norm"
        with pytest.raises(NonFiniteConditioningError, match="text encoder, or change the caption"):
            host.encode_text([BAD])
    finally:
        model.cond_stage_model = original
