"""TrainingData on real folders: odd and broken files, empty datasets, aspect-ratio buckets."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from helpers_data import TinyDataHost, noise_image, write_image
from hypernet_ext.errors import HypernetError, InvalidOptionError
from hypernet_ext.training.data import DataOptions, DatasetEmptyError, TrainingData


@pytest.fixture(scope="module")
def host():
    return TinyDataHost()


def write_odd_images(folder):
    """One file per odd case; returns (usable names, {broken name: reason fragment})."""
    folder.mkdir(parents=True, exist_ok=True)
    noise_image(64, 64, 1).convert("CMYK").save(folder / "cmyk.jpg")
    palette = noise_image(64, 64, 2).quantize(16)
    palette.save(folder / "palette.png", transparency=0)
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 15), "I;16").save(folder / "deep.png")
    noise_image(64, 64, 3).convert("L").save(folder / "grey.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64 wide x 128 high, shown rotated: 128 wide x 64 high
    noise_image(64, 128, 4).save(folder / "rotated.jpg", exif=exif)
    frames = [noise_image(64, 64, s) for s in (5, 6)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    noise_image(64, 64, 7).save(folder / "truncated.png")
    data = (folder / "truncated.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "garbage.png").write_bytes(b"this is not a png at all")
    (folder / "empty.jpg").write_bytes(b"")
    noise_image(16, 16, 8).save(folder / "tiny.png")
    (folder / "notes.txt").write_text("not a caption of anything", encoding="utf-8")
    (folder / "readme.md").write_text("ignored", encoding="utf-8")
    usable = ["animated.gif", "cmyk.jpg", "deep.png", "grey.png", "palette.png", "rotated.jpg"]
    broken = {"empty.jpg": "", "garbage.png": "not an image", "tiny.png": "too small", "truncated.png": ""}
    return usable, broken


def test_odd_images_are_read_or_skipped_with_reasons(host, tmp_path):
    usable, broken = write_odd_images(tmp_path / "odd")
    data = TrainingData(host, DataOptions(str(tmp_path / "odd"), "nm", width=128, height=128, buckets=True,
                                          batch_size=2, use_alpha_weight=True))
    assert data.report.used == len(usable) == len(data)
    skipped = dict(data.report.skipped)
    assert sorted(skipped) == sorted(broken)
    for name, fragment in broken.items():
        assert fragment in skipped[name] and skipped[name]
    # EXIF orientation applied: the 64x128 stored JPEG trains as a wide image
    assert data.report.buckets[(192, 64)] == 1
    assert data.report.buckets[(128, 128)] == len(usable) - 1
    summary = data.report.summary()
    assert "6 image(s) used" in summary and "tiny.png: too small" in summary
    seen = {name for s in range(2 * data.steps_per_epoch()) for name in data.batch(s).sources}
    assert seen == set(usable)


def test_folder_without_images_fails_before_any_work(tmp_path):
    host = TinyDataHost()
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("caption", encoding="utf-8")
    with pytest.raises(DatasetEmptyError, match="no images") as info:
        TrainingData(host, DataOptions(str(folder), "nm", width=64, height=64))
    assert "recursive=True" in str(info.value)
    assert isinstance(info.value, HypernetError)
    assert host.encode_pixels_calls == 0 and host.encode_text_calls == []


def test_all_broken_dataset_names_every_reason_and_encodes_nothing(tmp_path):
    host = TinyDataHost()
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"garbage")
    noise_image(20, 20).save(folder / "b.png")
    with pytest.raises(DatasetEmptyError, match="none of the 2") as info:
        TrainingData(host, DataOptions(str(folder), "nm", width=64, height=64))
    assert "a.png" in str(info.value) and "b.png: too small" in str(info.value)
    assert host.encode_pixels_calls == 0 and host.encode_text_calls == []


def test_recursive_finds_images_in_sub_folders(host, tmp_path):
    write_image(tmp_path / "top", "a.png", seed=1)
    write_image(tmp_path / "top" / "sub", "b.png", seed=2, caption="x, y")
    flat = TrainingData(host, DataOptions(str(tmp_path / "top"), "nm", width=64, height=64))
    deep = TrainingData(host, DataOptions(str(tmp_path / "top"), "nm", width=64, height=64, recursive=True))
    assert len(flat) == 1 and len(deep) == 2
    assert deep.report.captions_from_txt == 1
    assert {deep.batch(s).sources[0] for s in range(2)} == {"a.png", "sub/b.png"}


def test_filename_captions_in_prompts(host, tmp_path):
    write_image(tmp_path / "names", "0007-red fox.png")
    data = TrainingData(host, DataOptions(str(tmp_path / "names"), "nm", width=64, height=64,
                                          template=["[filewords] by [name]"], filename_word_regex=r"\w+",
                                          filename_join_string=", "))
    assert data.batch(0).texts == ["red, fox by nm"]


# -- buckets -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_host():
    """Latents 1/2 of the pixel size: buckets are multiples of 16 pixels, so tests stay cheap."""
    return TinyDataHost(downsamplings=1)


def write_mixed_aspects(folder):
    for i in range(3):
        write_image(folder, f"wide{i}.png", 128, 64, seed=i, caption=f"wide {i}")
    for i in range(2):
        write_image(folder, f"tall{i}.png", 64, 128, seed=10 + i, caption=f"tall {i}")
    write_image(folder, "square.png", 50, 50, seed=20, caption="square")


def test_buckets_with_batch_size_two_and_mixed_aspect_ratios(small_host, tmp_path):
    write_mixed_aspects(tmp_path / "mixed")
    # target area 64*64 at 16-pixel steps: 2:1 images -> 96x48, 1:2 -> 48x96, square -> 64x64
    opts = DataOptions(str(tmp_path / "mixed"), "nm", width=64, height=64, buckets=True, batch_size=2,
                       flip=True, latent_sampling="random", seed=3)
    data = TrainingData(small_host, opts)
    assert data.report.buckets == {(96, 48): 3, (48, 96): 2, (64, 64): 1}
    assert data.steps_per_epoch() == 2 + 1 + 1
    shapes = {(2, 4, 24, 48), (2, 4, 48, 24), (2, 4, 32, 32)}
    for epoch in range(3):
        seen = set()
        for s in range(epoch * 4, epoch * 4 + 4):
            b = data.batch(s)
            kinds = {re.sub(r"\d*\.png$", "", name) for name in b.sources}
            assert len(kinds) == 1, b.sources  # one bucket per batch
            assert b.cond.shape == (2, 77, 32)
            assert tuple(b.latents.shape) in shapes
            seen.update(b.sources)
        assert seen == {"wide0.png", "wide1.png", "wide2.png", "tall0.png", "tall1.png", "square.png"}
    again = TrainingData(small_host, opts)
    for s in (9, 2, 5):
        a, b = data.batch(s), again.batch(s)
        assert a.sources == b.sources and a.texts == b.texts and (a.latents == b.latents).all()


def test_fixed_size_mode_puts_every_image_in_one_size(small_host, tmp_path):
    write_mixed_aspects(tmp_path / "mixed")
    data = TrainingData(small_host, DataOptions(str(tmp_path / "mixed"), "nm", width=128, height=64,
                                                batch_size=3))
    assert data.report.buckets == {(128, 64): 6}
    assert data.steps_per_epoch() == 2
    assert data.batch(0).latents.shape == (3, 4, 32, 64)


def test_size_must_be_a_multiple_of_eight_latent_pixels(tmp_path):
    write_image(tmp_path / "one", "a.png")
    with pytest.raises(InvalidOptionError, match=r"width=576 is not a multiple of 128 .*use 512"):
        TrainingData(TinyDataHost(downsamplings=4), DataOptions(str(tmp_path / "one"), "nm", width=576,
                                                                height=512))
