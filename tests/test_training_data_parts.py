"""Parts of the data pipeline: resize modes, bucket sizes, batch schedule, alpha maps, text cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hypernet_ext.training.alpha import alpha_weight_map
from hypernet_ext.training.buckets import BatchSchedule
from hypernet_ext.training.keyed_rng import keyed_normal, keyed_rng
from hypernet_ext.training.sizing import bucket_size, resize_for_training
from hypernet_ext.training.text_cache import TextConditionCache, stack_conditioning


def columns_image(width, height) -> Image.Image:
    """Each column has its own grey value (x), so crops and flips are visible."""
    row = (np.arange(width) % 256).astype(np.uint8)
    return Image.fromarray(np.repeat(np.tile(row, (height, 1))[..., None], 3, axis=2), "RGB")


# -- resize modes --------------------------------------------------------------------------------
def test_crop_keeps_aspect_and_takes_the_centre():
    image = columns_image(200, 100)
    rgb, alpha = resize_for_training(image, None, (100, 100), "crop")
    assert rgb.size == (100, 100) and alpha is None
    assert np.array_equal(np.asarray(rgb), np.asarray(image)[:, 50:150])


def test_stretch_is_the_webui_bicubic_resize():
    image = columns_image(200, 100)
    rgb, _ = resize_for_training(image, Image.new("L", (200, 100), 255), (64, 128), "stretch")
    expected = image.resize((64, 128), Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(rgb), np.asarray(expected))


def test_fit_pads_with_background_and_zero_alpha():
    image = Image.new("RGB", (200, 100), (10, 20, 30))
    rgb, alpha = resize_for_training(image, None, (100, 100), "fit")
    pixels, mask = np.asarray(rgb), np.asarray(alpha)
    assert (pixels[:25] == 255).all() and (pixels[75:] == 255).all()
    assert (pixels[25:75] == (10, 20, 30)).all()
    assert (mask[:25] == 0).all() and (mask[75:] == 0).all() and (mask[25:75] == 255).all()
    same_aspect, no_pad = resize_for_training(Image.new("RGB", (50, 50)), None, (100, 100), "fit")
    assert same_aspect.size == (100, 100) and no_pad is None


def test_alpha_follows_the_crop():
    image = columns_image(200, 100)
    alpha = Image.fromarray(np.asarray(image)[..., 0].copy(), "L")
    rgb, cropped = resize_for_training(image, alpha, (100, 100), "crop")
    assert np.array_equal(np.asarray(cropped), np.asarray(rgb)[..., 0])


@pytest.mark.parametrize("size, area, unit, expected", [
    ((1024, 1024), 512 * 512, 64, (512, 512)),
    ((1920, 1080), 512 * 512, 64, (704, 384)),
    ((1080, 1920), 512 * 512, 64, (384, 704)),
    ((300, 200), 512 * 512, 64, (640, 448)),   # small images are scaled up to the area
    ((5000, 100), 512 * 512, 64, (3648, 64)),  # extreme aspect: never below one unit
    ((256, 128), 128 * 128, 64, (192, 64)),
])
def test_bucket_size(size, area, unit, expected):
    assert bucket_size(size, area, unit) == expected


# -- batch schedule ------------------------------------------------------------------------------
GROUPS = [[0, 1, 2, 3, 4], [5, 6], [7]]


def test_schedule_covers_every_item_once_per_epoch_without_mixing_groups():
    schedule = BatchSchedule(GROUPS, batch_size=2, seed=1)
    assert schedule.batches_per_epoch() == 3 + 1 + 1
    group_of = {i: g for g, items in enumerate(GROUPS) for i in items}
    for epoch in range(4):
        plan = [schedule.batch_indices(epoch * 5 + p) for p in range(5)]
        assert all(len(b) == 2 and len({group_of[i] for i in b}) == 1 for b in plan)
        assert set().union(*map(set, plan)) == set(range(8))
        big = [b for b in plan if group_of[b[0]] == 0]
        big_items = [i for b in big for i in b]
        assert len(big_items) == 6 and set(big_items) == {0, 1, 2, 3, 4}  # one filler in the short batch
        assert all(len(set(b)) == 2 for b in big)  # a filler is another image, not a repeat
        assert [i for b in plan if group_of[b[0]] == 2 for i in b] == [7, 7]  # small group repeats


def test_schedule_is_a_pure_function_of_seed_and_step():
    forward = BatchSchedule(GROUPS, 2, seed=9)
    backward = BatchSchedule(GROUPS, 2, seed=9, cache_epochs=1)
    steps = list(range(40))
    expected = [forward.batch_indices(s) for s in steps]
    assert [backward.batch_indices(s) for s in reversed(steps)] == expected[::-1]
    other = BatchSchedule(GROUPS, 2, seed=10)
    assert [other.batch_indices(s) for s in steps] != expected
    assert len({tuple(expected[e * 5:(e + 1) * 5]) for e in range(8)}) > 1  # epochs differ


def test_schedule_rejects_bad_input():
    with pytest.raises(ValueError):
        BatchSchedule([[]], 1, 0)
    with pytest.raises(ValueError):
        BatchSchedule(GROUPS, 2, 0).batch_indices(-1)


def test_keyed_streams_depend_on_every_key():
    assert keyed_rng(1, 2, 3).random() == keyed_rng(1, 2, 3).random()
    assert keyed_rng(1, 2, 3).random() != keyed_rng(1, 3, 2).random()
    assert torch.equal(keyed_normal((3,), 5, 1), keyed_normal((3,), 5, 1))
    assert not torch.equal(keyed_normal((3,), 5, 1), keyed_normal((3,), 5, 2))
    assert not torch.equal(keyed_normal((3,), -1, 1), keyed_normal((3,), 1, 1))


# -- alpha maps ----------------------------------------------------------------------------------
def test_alpha_map_is_min_subtracted_and_mean_normalised():
    alpha = np.full((16, 32), 64, dtype=np.uint8)
    alpha[:, 16:] = 255  # right half opaque
    weight = alpha_weight_map(Image.fromarray(alpha, "L"), (2, 4))
    assert weight.shape == (2, 4)
    assert torch.allclose(weight, torch.tensor([[0.0, 0.0, 2.0, 2.0]] * 2))
    assert torch.equal(alpha_weight_map(None, (3, 5)), torch.ones(3, 5))
    uniform = Image.new("L", (8, 8), 128)
    assert torch.equal(alpha_weight_map(uniform, (1, 1)), torch.ones(1, 1))


# -- text cache ----------------------------------------------------------------------------------
class CountingEncoder:
    """A deterministic text 'encoder': a row of (len(text) + i) values per token."""

    def __init__(self):
        self.calls = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return torch.stack([torch.full((3, 2), float(len(t))) + torch.arange(3.0)[:, None] for t in texts])


def test_cache_hits_misses_and_lru_bound():
    encoder = CountingEncoder()
    cache = TextConditionCache(encoder, capacity=2)
    out = cache.get_batch(["a", "bb", "a"])
    assert out.shape == (3, 3, 2) and encoder.calls == [["a", "bb"]]
    assert cache.info()["misses"] == 2 and cache.info()["hits"] == 1
    cache.get_batch(["bb"])
    cache.get_batch(["ccc"])  # evicts "a", the least recently used
    assert cache.info()["cached"] == 2
    cache.get_batch(["a"])
    assert encoder.calls[-1] == ["a"] and cache.info()["misses"] == 4


def test_pinned_texts_are_never_evicted():
    encoder = CountingEncoder()
    cache = TextConditionCache(encoder, capacity=1, chunk_size=2)
    cache.pin(["x", "y", "z", "x"])
    assert encoder.calls == [["x", "y"], ["z"]]
    cache.get_batch(["w", "v"])
    cache.get_batch(["x", "y", "z"])
    assert len(encoder.calls) == 3 and cache.info()["pinned"] == 3


def test_stack_pads_short_rows_with_their_last_token():
    short, long = torch.arange(4.0).reshape(2, 2), torch.zeros(3, 2)
    out = stack_conditioning([short, long])
    assert out.shape == (2, 3, 2) and torch.equal(out[0, 2], short[1])
