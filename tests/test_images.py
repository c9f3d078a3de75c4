"""open_image / list_image_files on every awkward kind of input, checking pixels and sizes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hypernet_ext.errors import HypernetError
from hypernet_ext.images import ImageReadError, list_image_files, open_image, parse_color

from helpers_images import (palette_with_transparency, pixel, quadrants, save_animated_gif,
                            save_with_orientation, truncated_copy, write_png_header_only, write_png_raw)


def test_plain_rgb_roundtrip(tmp_path):
    path = tmp_path / "q.png"
    quadrants().save(path)
    im = open_image(path)
    assert im.mode == "RGB" and im.size == (64, 48)
    assert pixel(im, 0, 0) == (255, 0, 0) and pixel(im, 63, 47) == (255, 255, 255)
    im.load()  # usable after the file was closed


@pytest.mark.parametrize("orientation, size, top_left, top_right", [
    (1, (64, 48), (255, 0, 0), (0, 255, 0)),
    (3, (64, 48), (255, 255, 255), (0, 0, 255)),   # rotated 180
    (6, (48, 64), (0, 0, 255), (255, 0, 0)),       # rotate 90 clockwise to display
    (8, (48, 64), (0, 255, 0), (255, 255, 255)),   # rotate 90 anticlockwise
    (2, (64, 48), (0, 255, 0), (255, 0, 0)),       # mirrored
])
def test_exif_orientation_applied(tmp_path, orientation, size, top_left, top_right):
    path = save_with_orientation(quadrants(), tmp_path / f"o{orientation}.png", orientation)
    im = open_image(path)
    assert im.size == size
    assert pixel(im, 1, 1) == top_left
    assert pixel(im, im.width - 2, 1) == top_right


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "c.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    im = open_image(path)
    assert im.mode == "RGB"
    r, g, b = pixel(im, 8, 8)
    assert r > 240 and g < 15 and b < 15


def test_palette_transparency_composited_or_kept(tmp_path):
    path = palette_with_transparency(tmp_path / "p.png")
    rgb = open_image(path, background=(10, 20, 30))
    assert rgb.mode == "RGB"
    assert pixel(rgb, 1, 1) == (255, 0, 0) and pixel(rgb, 6, 6) == (10, 20, 30)
    rgba = open_image(path, keep_alpha=True)
    assert rgba.mode == "RGBA"
    assert pixel(rgba, 1, 1) == (255, 0, 0, 255) and pixel(rgba, 6, 6)[3] == 0


def test_palette_without_transparency_is_rgb_even_with_keep_alpha(tmp_path):
    path = tmp_path / "p.gif"
    Image.new("RGB", (8, 8), (0, 128, 255)).convert("P").save(path)
    im = open_image(path, keep_alpha=True)
    assert im.mode == "RGB"


def test_rgba_half_transparent_blends_on_background(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (4, 4), (200, 0, 0, 128)).save(path)
    r, g, b = pixel(open_image(path, background="black"), 0, 0)
    assert abs(r - 100) <= 1 and g == 0 and b == 0
    r, g, b = pixel(open_image(path, background=(255, 255, 255)), 0, 0)
    assert abs(r - 227) <= 1 and abs(g - 127) <= 1
    assert pixel(open_image(path, keep_alpha=True), 0, 0) == (200, 0, 0, 128)


def test_la_grey_with_alpha(tmp_path):
    path = tmp_path / "la.png"
    Image.new("LA", (4, 4), (100, 0)).save(path)
    assert pixel(open_image(path, background=(0, 255, 0)), 0, 0) == (0, 255, 0)
    assert pixel(open_image(path, keep_alpha=True), 0, 0) == (100, 100, 100, 0)


def test_sixteen_bit_grey_scaled_not_clipped(tmp_path):
    values = (np.arange(64, dtype=np.uint16) * 1024).reshape(8, 8)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)
    im = open_image(path)
    assert im.mode == "RGB"
    got = np.asarray(im)[..., 0].astype(int)
    assert np.abs(got - np.rint(values / 257)).max() <= 1
    assert got.max() > 240  # not clipped to 255 everywhere nor crushed to black


def test_sixteen_bit_rgb_png(tmp_path):
    pixels = np.zeros((4, 4, 3), np.uint16)
    pixels[..., 0] = 65535
    pixels[..., 1] = 32896  # 128 * 257
    path = write_png_raw(tmp_path / "rgb16.png", pixels, color_type=2)
    assert pixel(open_image(path), 2, 2) == (255, 128, 0)


def test_sixteen_bit_rgba_png_alpha(tmp_path):
    pixels = np.zeros((4, 4, 4), np.uint16)
    pixels[..., 2] = 65535
    pixels[:, 2:, 3] = 65535
    path = write_png_raw(tmp_path / "rgba16.png", pixels, color_type=6)
    im = open_image(path, background=(255, 255, 255))
    assert pixel(im, 0, 0) == (255, 255, 255) and pixel(im, 3, 0) == (0, 0, 255)


def test_float_and_int32_tiff(tmp_path):
    f = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    Image.fromarray(f, "F").save(tmp_path / "f.tif")
    got = np.asarray(open_image(tmp_path / "f.tif"))[..., 1]
    assert got[0, 0] == 0 and got[3, 3] == 255
    i = (np.arange(16, dtype=np.int32) * 4369).reshape(4, 4)  # 0..65535
    Image.fromarray(i, "I").save(tmp_path / "i.tif")
    got = np.asarray(open_image(tmp_path / "i.tif"))[..., 2]
    assert got[0, 0] == 0 and got[3, 3] == 255 and got[1, 0] == 68


def test_bilevel_and_grey(tmp_path):
    one = Image.new("1", (8, 8), 0)
    one.paste(1, (4, 0, 8, 8))
    one.save(tmp_path / "one.png")
    im = open_image(tmp_path / "one.png")
    assert pixel(im, 0, 0) == (0, 0, 0) and pixel(im, 7, 0) == (255, 255, 255)
    Image.new("L", (4, 4), 77).save(tmp_path / "l.png")
    assert pixel(open_image(tmp_path / "l.png"), 0, 0) == (77, 77, 77)


def test_animated_gif_gives_first_frame(tmp_path):
    path = save_animated_gif(tmp_path / "anim.gif", [(255, 0, 0), (0, 0, 255), (0, 255, 0)])
    im = open_image(path)
    assert im.mode == "RGB" and pixel(im, 5, 5) == (255, 0, 0)


def test_animated_webp_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in [(0, 0, 255), (255, 0, 0)]]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=True)
    assert pixel(open_image(path), 3, 3) == (0, 0, 255)


@pytest.mark.parametrize("maker, reason", [
    (lambda p: p.write_bytes(b"this is not an image"), "not an image"),
    (lambda p: p.write_bytes(b""), "not an image"),
    (lambda p: truncated_copy(quadrants(200, 200), p, "PNG"), "truncated"),
])
def test_bad_files_raise_with_name_and_reason(tmp_path, maker, reason):
    path = tmp_path / "broken.png"
    maker(path)
    with pytest.raises(ImageReadError, match=reason) as info:
        open_image(path)
    assert "broken.png" in str(info.value) and info.value.path == path
    assert isinstance(info.value, HypernetError)


def test_truncated_jpeg(tmp_path):
    path = truncated_copy(quadrants(256, 256), tmp_path / "t.jpg", "JPEG", keep=0.4)
    with pytest.raises(ImageReadError, match="t.jpg"):
        open_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        open_image(tmp_path / "nope.png")


def test_pixel_cap_refused_before_decoding(tmp_path):
    path = tmp_path / "q.png"
    quadrants(100, 100).save(path)
    with pytest.raises(ImageReadError, match="too large: 100x100"):
        open_image(path, max_pixels=5000)


def test_bomb_header_refused(tmp_path):
    path = write_png_header_only(tmp_path / "bomb.png", 40000, 40000)
    with pytest.raises(ImageReadError, match="too large"):
        open_image(path)


def test_jpeg_draft_decodes_reduced(tmp_path):
    path = tmp_path / "big.jpg"
    quadrants(2048, 1536).save(path, quality=90)
    im = open_image(path, draft_size=(512, 384))
    assert im.size == (512, 384)
    assert pixel(im, 10, 10)[0] > 230 and pixel(im, 500, 370) > (230, 230, 230)
    # the cap applies to the reduced size, so a draft lets a large JPEG through
    assert open_image(path, draft_size=(512, 384), max_pixels=600_000).size == (512, 384)
    with pytest.raises(ImageReadError):
        open_image(path, max_pixels=600_000)


def test_list_image_files_sorted_filtered(tmp_path):
    for name in ["b.PNG", "a.jpg", ".hidden.png", "notes.txt", "c.webp"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "e.png").write_bytes(b"x")
    assert [p.name for p in list_image_files(tmp_path)] == ["a.jpg", "b.PNG", "c.webp"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path, recursive=True)] == \
        ["a.jpg", "b.PNG", "c.webp", "sub/d.png"]
    with pytest.raises(HypernetError, match="does not exist"):
        list_image_files(tmp_path / "missing")


def test_parse_color():
    assert parse_color("#102030") == (16, 32, 48)
    assert parse_color("white") == (255, 255, 255)
    assert parse_color([1, 2, 3]) == (1, 2, 3)
    for bad in ["nocolour", (1, 2), (0, 0, 300)]:
        with pytest.raises(HypernetError):
            parse_color(bad)


def test_jpeg_draft_respects_exif_rotation(tmp_path):
    # stored 4096x600, shown 600x4096: a reduced decode must still give the requested displayed size
    path = save_with_orientation(quadrants(4096, 600), tmp_path / "r.jpg", 6)
    im = open_image(path, draft_size=(512, 64))
    assert im.width >= 512 and im.height >= 64
    assert open_image(path, draft_size=(64, 512)).size == (75, 512)
