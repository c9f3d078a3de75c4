"""TrainingData: determinism per (seed, step), latent sampling, flips, alpha weights, caching."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers_data import TinyDataHost, make_dataset, noise_image, write_image
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.progress import Cancelled, Progress
from hypernet_ext.training.data import DataOptions, TrainingData


@pytest.fixture(scope="module")
def host():
    return TinyDataHost()


@pytest.fixture()
def folder(tmp_path):
    return make_dataset(tmp_path / "data", count=5)


def options(folder, **kw) -> DataOptions:
    base = dict(width=64, height=64)
    base.update(kw)
    return DataOptions(str(folder), "nm", **base)


def pixels_of(path, flip=False) -> torch.Tensor:
    image = Image.open(path).convert("RGB")
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float().unsqueeze(0) / 127.5 - 1.0


def same_batch(a, b) -> bool:
    return (torch.equal(a.latents, b.latents) and torch.equal(a.cond, b.cond) and a.texts == b.texts
            and a.sources == b.sources and a.flipped == b.flipped
            and (a.loss_weight is None) == (b.loss_weight is None)
            and (a.loss_weight is None or torch.equal(a.loss_weight, b.loss_weight)))


# -- determinism ---------------------------------------------------------------------------------
AUGMENTED = dict(batch_size=2, shuffle_tags=True, tag_dropout=0.3, flip=True, latent_sampling="random",
                 template="style_filewords", seed=11)


def test_same_seed_and_step_give_identical_batches_across_instances(host, folder):
    one = TrainingData(host, options(folder, **AUGMENTED))
    two = TrainingData(host, options(folder, **AUGMENTED))
    steps = range(2 * one.steps_per_epoch() + 1)
    straight = [one.batch(s) for s in steps]
    # the second instance starts "resumed" half way and walks backwards: no iteration history
    half = len(straight) // 2
    for s in reversed(range(half, len(straight))):
        assert same_batch(straight[s], two.batch(s))
    assert not all(same_batch(straight[0], b) for b in straight[1:])
    assert len({tuple(b.texts) for b in straight}) > len(straight) // 2


def test_seed_changes_order_and_augmentation(host, folder):
    a = TrainingData(host, options(folder, **AUGMENTED))
    b = TrainingData(host, options(folder, **{**AUGMENTED, "seed": 12}))
    assert any(not same_batch(a.batch(s), b.batch(s)) for s in range(3))


def test_every_image_once_per_epoch(host, folder):
    data = TrainingData(host, options(folder, seed=5))
    assert len(data) == 5 and data.steps_per_epoch() == 5
    epochs = [[data.batch(e * 5 + i).sources[0] for i in range(5)] for e in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == [f"img{i}.png" for i in range(5)]
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]


def test_per_sample_choices_match_between_batch_sizes(host, tmp_path):
    """bs=2 step s draws what bs=1 steps 2s and 2s+1 draw (gradient accumulation equivalence)."""
    for i in range(2):
        write_image(tmp_path / "same", f"img{i}.png", seed=0, caption="a, b, c, d, e")
    kw = {**AUGMENTED, "batch_size": 2}
    big = TrainingData(host, options(tmp_path / "same", **kw))
    small = TrainingData(host, options(tmp_path / "same", **{**kw, "batch_size": 1}))
    for s in range(3):
        pair = [small.batch(2 * s), small.batch(2 * s + 1)]
        b = big.batch(s)
        assert b.texts == [p.texts[0] for p in pair] and b.flipped == [p.flipped[0] for p in pair]
        assert torch.equal(b.latents, torch.cat([p.latents for p in pair]))


def test_batch_size_is_clamped_to_the_dataset(host, folder):
    data = TrainingData(host, options(folder, batch_size=8))
    assert data.batch_size == 5 and data.report.batch_size == 5
    assert data.steps_per_epoch() == 1
    assert sorted(data.batch(0).sources) == sorted(f"img{i}.png" for i in range(5))


# -- latent sampling -----------------------------------------------------------------------------
def latent_of(data, source, steps=40, flipped=False):
    """Latents of `source` seen at the given steps (any slot)."""
    out = []
    for s in range(steps):
        b = data.batch(s)
        out += [(s, b.latents[i]) for i, name in enumerate(b.sources)
                if name == source and b.flipped[i] == flipped]
    return out


def test_deterministic_sampling_uses_the_mean(host, folder):
    data = TrainingData(host, options(folder, latent_sampling="deterministic"))
    mean, _ = host.encode_latent_distribution(pixels_of(folder / "img2.png"))
    seen = latent_of(data, "img2.png", steps=10)
    assert seen and all(torch.allclose(lat, mean[0], atol=1e-5) for _, lat in seen)


def test_once_sampling_samples_once_and_keeps_it(host, folder):
    data = TrainingData(host, options(folder, latent_sampling="once"))
    again = TrainingData(host, options(folder, latent_sampling="once"))
    mean, std = host.encode_latent_distribution(pixels_of(folder / "img1.png"))
    seen = latent_of(data, "img1.png", steps=15)
    assert len(seen) >= 2
    first = seen[0][1]
    assert all(torch.equal(lat, first) for _, lat in seen)
    assert not torch.allclose(first, mean[0])
    z = (first - mean[0]) / std[0]
    assert abs(float(z.mean())) < 0.5 and 0.6 < float(z.std()) < 1.4
    assert torch.equal(latent_of(again, "img1.png", steps=5)[0][1], first)


def test_random_sampling_differs_per_step_but_is_reproducible(host, folder):
    data = TrainingData(host, options(folder, latent_sampling="random"))
    again = TrainingData(host, options(folder, latent_sampling="random"))
    mean, std = host.encode_latent_distribution(pixels_of(folder / "img3.png"))
    seen = latent_of(data, "img3.png", steps=15)
    assert len(seen) >= 2
    assert not torch.equal(seen[0][1], seen[1][1])
    for step, lat in seen:
        assert torch.equal(lat, latent_of(again, "img3.png", steps=step + 1)[-1][1])
        z = (lat - mean[0]) / std[0]
        assert float(z.abs().max()) < 7


# -- flips ---------------------------------------------------------------------------------------
def test_flip_uses_the_encoded_mirror_image(host, folder):
    data = TrainingData(host, options(folder, flip=True, latent_sampling="deterministic"))
    flips = [f for s in range(30) for f in data.batch(s).flipped]
    assert 5 < sum(flips) < 25
    mirror_mean, _ = host.encode_latent_distribution(pixels_of(folder / "img0.png", flip=True))
    plain_mean, _ = host.encode_latent_distribution(pixels_of(folder / "img0.png"))
    mirrored = latent_of(data, "img0.png", steps=30, flipped=True)
    plain = latent_of(data, "img0.png", steps=30, flipped=False)
    assert mirrored and plain
    assert torch.allclose(mirrored[0][1], mirror_mean[0], atol=1e-5)
    assert torch.allclose(plain[0][1], plain_mean[0], atol=1e-5)
    no_flip = TrainingData(host, options(folder))
    assert not any(f for s in range(10) for f in no_flip.batch(s).flipped)


# -- alpha weight --------------------------------------------------------------------------------
def test_alpha_weight_keeps_orientation_on_non_square_images(host, tmp_path):
    folder = tmp_path / "alpha"
    image = noise_image(128, 64, seed=1, mode="RGBA")
    alpha = np.zeros((64, 128), dtype=np.uint8)
    alpha[:32, :32] = 255  # opaque top-left corner only: latent rows 0-3, columns 0-3
    image.putalpha(Image.fromarray(alpha, "L"))
    folder.mkdir()
    image.save(folder / "wide.png")
    write_image(folder, "opaque.png", 128, 64, seed=2)
    data = TrainingData(host, options(folder, width=128, height=64, resize="stretch", use_alpha_weight=True,
                                      flip=True, batch_size=2))
    found = {}
    for s in range(8):
        b = data.batch(s)
        assert b.loss_weight.shape == (2, 4, 8, 16)
        for i, name in enumerate(b.sources):
            found[(name, b.flipped[i])] = b.loss_weight[i]
    weight = found[("wide.png", False)]
    expected = torch.zeros(8, 16)
    expected[:4, :4] = 8 * 16 / 16  # min 0, mean 1
    assert torch.allclose(weight, expected.expand(4, 8, 16))
    assert torch.allclose(found[("wide.png", True)], expected.flip(-1).expand(4, 8, 16))
    assert torch.equal(found[("opaque.png", False)], torch.ones(4, 8, 16))
    assert TrainingData(host, options(folder, width=128, height=64)).batch(0).loss_weight is None


# -- text conditioning cache ---------------------------------------------------------------------
def test_static_prompts_are_encoded_once_at_build(folder):
    host = TinyDataHost()
    data = TrainingData(host, options(folder, template=["[filewords], by [name]"], batch_size=2))
    info = data.text_encode_cache_info()
    assert info["static"] and info["misses"] == 5 and info["pinned"] == 5 and info["hits"] == 0
    calls = len(host.encode_text_calls)
    batches = [data.batch(s) for s in range(6)]
    assert len(host.encode_text_calls) == calls
    assert data.text_encode_cache_info()["hits"] == 12
    direct = host.encode_text([batches[0].texts[0]])[0]
    assert torch.allclose(batches[0].cond[0], direct)


def test_dynamic_prompts_use_the_lru_cache(folder):
    host = TinyDataHost()
    data = TrainingData(host, options(folder, template="style_filewords"), text_cache_size=3)
    assert not data.text_encode_cache_info()["static"] and host.encode_text_calls == []
    data.batch(0)
    data.batch(0)
    info = data.text_encode_cache_info()
    assert (info["misses"], info["hits"]) == (1, 1)
    for s in range(20):
        data.batch(s)
    info = data.text_encode_cache_info()
    assert info["cached"] <= 3 and info["misses"] == sum(len(c) for c in host.encode_text_calls)


# -- options and progress ------------------------------------------------------------------------
@pytest.mark.parametrize("change, needle", [
    (dict(width=100), "width"), (dict(height=32), "height"), (dict(resize="zoom"), "resize"),
    (dict(latent_sampling="sometimes"), "latent_sampling"), (dict(tag_dropout=1.0), "tag_dropout"),
    (dict(batch_size=0), "batch_size"), (dict(keep_first_tags=-1), "keep_first_tags"),
    (dict(template="nope"), "template"), (dict(filename_word_regex="("), "filename_word_regex"),
    (dict(flip="yes"), "flip"),
])
def test_bad_options_name_the_field(host, folder, change, needle):
    with pytest.raises(InvalidOptionError, match=needle):
        TrainingData(host, options(folder, **change))


def test_missing_folder_and_empty_name(host, tmp_path, folder):
    with pytest.raises(InvalidOptionError, match="data_dir"):
        options(tmp_path / "missing").validate()
    with pytest.raises(InvalidOptionError, match="name"):
        DataOptions(str(folder), " ").validate()


def test_progress_counts_files_and_cancel_stops_the_build(host, folder):
    progress = Progress()
    TrainingData(host, options(folder), progress=progress)
    assert (progress.total, progress.step) == (5, 5)
    progress.cancel()
    with pytest.raises(Cancelled):
        TrainingData(host, options(folder), progress=progress)
