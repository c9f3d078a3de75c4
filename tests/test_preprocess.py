"""End-to-end preprocessing of folders of awkward images, checking output pixels, names and the report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.images import list_image_files
from hypernet_ext.preprocess import (CaptionerRegistry, CaptionerUnavailableError, PreprocessOptions,
                                     default_registry, face_detector_available, preprocess)
from hypernet_ext.progress import Progress

from helpers_images import (horizontal_gradient, palette_with_transparency, pixel, quadrants,
                            save_animated_gif, save_with_orientation, truncated_copy, write_png_raw)


def opts(tmp_path: Path, **kw) -> PreprocessOptions:
    kw.setdefault("width", 64)
    kw.setdefault("height", 64)
    return PreprocessOptions(tmp_path / "src", tmp_path / "dst", **kw)


@pytest.fixture
def src(tmp_path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def outputs(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "dst").iterdir() if p.is_file())


def test_awkward_folder_everything_reported(tmp_path, src):
    save_with_orientation(quadrants(128, 96), src / "a_exif.png", 6)
    Image.new("CMYK", (100, 80), (0, 255, 255, 0)).save(src / "b_cmyk.jpg", quality=95)
    palette_with_transparency(src / "c_palette.png")
    Image.new("LA", (70, 70), (90, 255)).save(src / "d_grey_alpha.png")
    write_png_raw(src / "e_16bit.png", np.full((80, 80, 3), 32896, np.uint16), color_type=2)
    save_animated_gif(src / "f_anim.gif", [(0, 0, 255), (255, 0, 0)], size=(90, 90))
    Image.new("RGB", (3, 2), (7, 7, 7)).save(src / "g_tiny.png")
    (src / "h_text.png").write_text("not an image")
    truncated_copy(quadrants(200, 200), src / "i_truncated.png", "PNG")
    (src / "j_empty.jpg").write_bytes(b"")
    (src / "notes.txt").write_text("ignored: not an image suffix")

    report = preprocess(opts(tmp_path))
    done = {s.name: outs for s, outs in report.processed}
    skipped = {s.name: reason for s, reason in report.skipped}
    assert sorted(done) == ["a_exif.png", "b_cmyk.jpg", "c_palette.png", "d_grey_alpha.png", "e_16bit.png",
                            "f_anim.gif", "g_tiny.png"]
    assert sorted(skipped) == ["h_text.png", "i_truncated.png", "j_empty.jpg"]
    assert "truncated" in skipped["i_truncated.png"] and "not an image" in skipped["h_text.png"]
    assert report.written == 7 and not report.cancelled
    for outs in done.values():
        [out] = outs
        im = Image.open(out)
        assert im.size == (64, 64) and im.mode == "RGB"
    first = lambda name: Image.open(done[name][0])  # noqa: E731
    # rotated 90 clockwise: 96x128 cropped to the centre, blue at top-left, red at top-right
    assert pixel(first("a_exif.png"), 2, 2) == (0, 0, 255) and pixel(first("a_exif.png"), 61, 2) == (255, 0, 0)
    assert pixel(first("b_cmyk.jpg"), 32, 32)[0] > 240
    assert pixel(first("d_grey_alpha.png"), 5, 5) == (90, 90, 90)
    assert pixel(first("e_16bit.png"), 5, 5) == (128, 128, 128)
    assert pixel(first("f_anim.gif"), 5, 5) == (0, 0, 255)
    assert pixel(first("g_tiny.png"), 40, 40) == (7, 7, 7)
    palette = first("c_palette.png")
    assert pixel(palette, 2, 32) == (255, 0, 0) and pixel(palette, 60, 32) == (255, 255, 255)
    summary = report.summary()
    assert "Preprocessed 7 image(s)" in summary and "skipped 3" in summary and "i_truncated.png" in summary
    assert not any(n.startswith(".") for n in outputs(tmp_path))  # no temporary files left


def test_names_are_deterministic_and_collision_free(tmp_path, src):
    quadrants().save(src / "same.png")
    quadrants().save(src / "same.jpg")
    (src / "sub").mkdir()
    quadrants().save(src / "sub" / "same.png")
    preprocess(opts(tmp_path, recursive=True))
    assert outputs(tmp_path) == ["00000-0-same.png", "00001-0-same.png", "00002-0-sub_same.png"]
    assert sorted(p.name for p in list_image_files(src, recursive=True)) == ["same.jpg", "same.png", "same.png"]


def test_small_images_skip_or_upscale(tmp_path, src):
    Image.new("RGB", (32, 100), (1, 2, 3)).save(src / "small.png")
    Image.new("RGB", (128, 128), (4, 5, 6)).save(src / "big.png")
    report = preprocess(opts(tmp_path, small_images="skip"))
    assert [s.name for s, _ in report.processed] == ["big.png"]
    [(source, reason)] = report.skipped
    assert source.name == "small.png" and "too small: 32x100" in reason
    report = preprocess(opts(tmp_path, small_images="upscale", existing="replace"))
    assert len(report.processed) == 2


def test_keep_alpha_writes_rgba_else_composites(tmp_path, src):
    image = Image.new("RGBA", (64, 64), (0, 0, 255, 255))
    image.paste((0, 0, 0, 0), (0, 0, 32, 64))
    image.save(src / "cut.png")
    preprocess(opts(tmp_path, keep_alpha=True))
    out = Image.open(tmp_path / "dst" / "00000-0-cut.png")
    assert out.mode == "RGBA" and pixel(out, 5, 5)[3] == 0 and pixel(out, 50, 5) == (0, 0, 255, 255)
    preprocess(opts(tmp_path, background=(0, 255, 0), existing="replace"))
    out = Image.open(tmp_path / "dst" / "00000-0-cut.png")
    assert out.mode == "RGB" and pixel(out, 5, 5) == (0, 255, 0) and pixel(out, 50, 5) == (0, 0, 255)


def test_flip_copies_are_mirrors(tmp_path, src):
    quadrants(64, 64).save(src / "q.png")
    report = preprocess(opts(tmp_path, flip=True, flip_direction="both"))
    assert outputs(tmp_path) == ["00000-0-q-flip.png", "00000-0-q-vflip.png", "00000-0-q.png"]
    assert report.written == 3
    dst = tmp_path / "dst"
    assert pixel(Image.open(dst / "00000-0-q-flip.png"), 2, 2) == (0, 255, 0)
    assert pixel(Image.open(dst / "00000-0-q-vflip.png"), 2, 2) == (0, 0, 255)


@pytest.mark.parametrize("action, expected", [
    ("ignore", "red apple"), ("copy", "old tags"), ("prepend", "old tags, red apple"),
    ("append", "red apple, old tags"),
])
def test_caption_files_next_to_each_output(tmp_path, src, action, expected):
    quadrants().save(src / "red_apple.png")
    (src / "red_apple.txt").write_text("old tags\n")
    report = preprocess(opts(tmp_path, caption_action=action, captioners=["filename"], flip=True))
    dst = tmp_path / "dst"
    assert (dst / "00000-0-red_apple.txt").read_text() == expected
    assert (dst / "00000-0-red_apple-flip.txt").read_text() == expected
    assert report.captions_written == 2


def test_no_caption_file_when_caption_empty(tmp_path, src):
    quadrants().save(src / "x.png")
    preprocess(opts(tmp_path, caption_action="copy"))
    assert outputs(tmp_path) == ["00000-0-x.png"]


def test_rerun_skips_or_replaces(tmp_path, src):
    quadrants().save(src / "q.png")
    preprocess(opts(tmp_path))
    out = tmp_path / "dst" / "00000-0-q.png"
    Image.new("RGB", (64, 64), (1, 1, 1)).save(out)
    report = preprocess(opts(tmp_path))
    assert report.written == 0 and "already preprocessed" in report.skipped[0][1]
    assert pixel(Image.open(out), 2, 2) == (1, 1, 1)
    report = preprocess(opts(tmp_path, existing="replace"))
    assert report.written == 1 and pixel(Image.open(out), 2, 2) == (255, 0, 0)


def test_split_in_pipeline_writes_tiles(tmp_path, src):
    horizontal_gradient(1000, 250).save(src / "wide.png")
    Image.new("RGB", (80, 64)).save(src / "normal.png")
    report = preprocess(opts(tmp_path, split=True))
    wide = dict((s.name, o) for s, o in report.processed)["wide.png"]
    assert [p.name for p in wide] == [f"00001-{i}-wide.png" for i in range(5)]
    assert pixel(Image.open(wide[0]), 0, 10)[0] <= 1 and pixel(Image.open(wide[-1]), 63, 10)[0] >= 254


def test_focal_crop_with_debug_image(tmp_path, src):
    a = np.full((64, 256, 3), 128, np.uint8)
    a[10:54, 200:240] = np.random.default_rng(1).integers(0, 256, (44, 40, 1), dtype=np.uint8)
    Image.fromarray(a).save(src / "detail_right.png")
    report = preprocess(opts(tmp_path, focal_crop=True, focal_debug=True))
    out = Image.open(tmp_path / "dst" / "00000-0-detail_right.png")
    assert out.size == (64, 64) and np.asarray(out).std() > 30  # the busy patch, not the flat grey
    debug = tmp_path / "dst" / "focal-debug" / "00000-0-detail_right-focal-debug.png"
    assert Image.open(debug).size == (256, 64)
    assert report.written == 1
    if face_detector_available():
        assert not any("face detection" in w for w in report.warnings)
    else:
        assert any("face detection unavailable" in w for w in report.warnings)


def test_auto_size_and_its_skip_reason(tmp_path, src):
    horizontal_gradient(1000, 500).save(src / "a.png")
    horizontal_gradient(1000, 90).save(src / "b.png")
    report = preprocess(opts(tmp_path, auto_size=True))
    assert Image.open(tmp_path / "dst" / "00000-0-a.png").size == (768, 384)
    [(source, reason)] = report.skipped
    assert source.name == "b.png" and "auto_threshold" in reason


def test_keep_original_size(tmp_path, src):
    quadrants(90, 70).save(src / "q.png")
    preprocess(opts(tmp_path, keep_original_size=True))
    assert Image.open(tmp_path / "dst" / "00000-0-q.png").size == (90, 70)


def test_fit_mode_in_pipeline(tmp_path, src):
    quadrants(128, 64).save(src / "q.png")
    preprocess(opts(tmp_path, resize_mode="fit", fit_background="black"))
    out = Image.open(tmp_path / "dst" / "00000-0-q.png")
    assert out.size == (64, 64) and pixel(out, 32, 2) == (0, 0, 0) and pixel(out, 2, 20) == (255, 0, 0)


@pytest.mark.parametrize("dst", ["src", "src/out"])
def test_destination_inside_source_refused(tmp_path, src, dst):
    with pytest.raises(InvalidOptionError, match="inside the source"):
        preprocess(PreprocessOptions(src, tmp_path / dst))


@pytest.mark.parametrize("field, value, message", [
    ("width", 500, "width must be a multiple of 8"), ("resize_mode", "zoom", "resize_mode 'zoom'"),
    ("split_overlap", 0.95, "split_overlap"), ("auto_min_size", 1024, "auto_min_size 1024 is larger"),
    ("background", "nocolour", "background"), ("caption_action", "merge", "caption_action"),
])
def test_invalid_options_named(tmp_path, src, field, value, message):
    with pytest.raises(InvalidOptionError, match=message):
        preprocess(opts(tmp_path, **{field: value}))


def test_missing_source_and_unknown_captioner(tmp_path, src):
    with pytest.raises(InvalidOptionError, match="does not exist"):
        preprocess(PreprocessOptions(tmp_path / "nope", tmp_path / "dst"))
    with pytest.raises(CaptionerUnavailableError, match="available: filename"):
        preprocess(opts(tmp_path, captioners=["blip"]))
    assert not (tmp_path / "dst").exists()


class CancelAfterFirst:
    """A real captioner that presses Cancel while the first image is processed."""

    name = "cancel"

    def __init__(self, progress: Progress):
        self.progress = progress

    def caption(self, image):
        self.progress.cancel()
        return "first"


def test_cancel_between_files_and_progress_state(tmp_path, src):
    for i in range(4):
        quadrants().save(src / f"{i}.png")
    progress = Progress()
    registry = CaptionerRegistry()
    registry.register("cancel", CancelAfterFirst(progress))
    report = preprocess(opts(tmp_path, captioners=["cancel"]), progress, registry)
    assert report.cancelled and len(report.processed) == 1 and "cancelled" in report.summary()
    snap = progress.snapshot()
    assert snap["total"] == 4 and snap["step"] == 1 and snap["finished"]


class FailingCaptioner:
    name = "broken"

    def caption(self, image):
        raise RuntimeError("model exploded")


def test_failing_captioner_keeps_image_and_warns(tmp_path, src):
    quadrants().save(src / "blue_sky.png")
    registry = default_registry()
    registry.register("broken", FailingCaptioner())
    report = preprocess(opts(tmp_path, captioners=["broken", "filename"]), captioners=registry)
    assert report.written == 1 and any("model exploded" in w for w in report.warnings)
    assert (tmp_path / "dst" / "00000-0-blue_sky.txt").read_text() == "blue sky"
    progress = Progress()
    preprocess(opts(tmp_path, existing="replace"), progress)
    assert progress.snapshot()["step"] == 1 and progress.snapshot()["finished"]


def test_rotated_large_jpeg_keeps_enough_resolution(tmp_path, src):
    # stored 4096x600, displayed 600x4096: a reduced decode must not leave the displayed width short
    save_with_orientation(horizontal_gradient(4096, 600), src / "rotated.jpg", 6)
    report = preprocess(opts(tmp_path, width=512, height=64, small_images="skip"))
    assert report.skipped == [] and report.written == 1
    assert Image.open(tmp_path / "dst" / "00000-0-rotated.png").size == (512, 64)
