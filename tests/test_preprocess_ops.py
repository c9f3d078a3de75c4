"""The preprocessing operations on their own: resize modes, split, auto-size, focal crop, captions."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hypernet_ext.preprocess.autosize import choose_size, crop_to_aspect
from hypernet_ext.preprocess.captioners import (CaptionerRegistry, CaptionerUnavailableError, FilenameCaptioner,
                                                caption_from_filename, combine_captions, default_registry)
from hypernet_ext.preprocess.focal import (FocalWeights, combine, corner_points, crop_box, entropy_points,
                                           focal_crop)
from hypernet_ext.preprocess.resize import resize_to, upscale_factor
from hypernet_ext.preprocess.split import should_split, split_tiles, tile_count

from helpers_images import horizontal_gradient, pixel, quadrants


def red_at(image, x, y=None):
    return pixel(image, x, image.height // 2 if y is None else y)[0]


# -- resize ---------------------------------------------------------------------------------------
def test_crop_to_fill_takes_the_centre():
    out = resize_to(horizontal_gradient(400, 200), 100, 100, "crop")
    assert out.size == (100, 100)
    assert abs(red_at(out, 0) - 64) <= 3 and abs(red_at(out, 99) - 191) <= 3


def test_fit_pads_with_colour():
    out = resize_to(quadrants(200, 100), 100, 100, "fit", fill=(1, 2, 3))
    assert out.size == (100, 100)
    assert pixel(out, 50, 5) == (1, 2, 3) and pixel(out, 50, 95) == (1, 2, 3)
    assert pixel(out, 10, 30) == (255, 0, 0) and pixel(out, 90, 70) == (255, 255, 255)


def test_fit_edge_repeats_border_pixels():
    out = resize_to(quadrants(200, 100), 100, 100, "fit", fill="edge")
    assert pixel(out, 10, 2) == (255, 0, 0) and pixel(out, 90, 97) == (255, 255, 255)
    tall = resize_to(quadrants(50, 100), 100, 100, "fit", fill="edge")
    assert pixel(tall, 2, 10) == (255, 0, 0) and pixel(tall, 97, 90) == (255, 255, 255)


def test_fit_rgba_pads_transparent():
    image = Image.new("RGBA", (200, 100), (9, 9, 9, 255))
    out = resize_to(image, 100, 100, "fit", fill=(255, 255, 255))
    assert out.mode == "RGBA" and pixel(out, 50, 2)[3] == 0 and pixel(out, 50, 50) == (9, 9, 9, 255)


def test_stretch_keeps_everything():
    out = resize_to(quadrants(200, 50), 64, 64, "stretch")
    assert out.size == (64, 64)
    assert pixel(out, 2, 2) == (255, 0, 0) and pixel(out, 61, 61) == (255, 255, 255)


def test_upscale_factor_per_mode():
    assert upscale_factor((256, 1024), 512, 512, "crop") == 2.0
    assert upscale_factor((256, 1024), 512, 512, "fit") == 0.5
    assert upscale_factor((1024, 256), 512, 512, "stretch") == 2.0


# -- split ----------------------------------------------------------------------------------------
def test_should_split_threshold():
    assert should_split((2000, 500), 512, 512, 0.5)
    assert not should_split((600, 500), 512, 512, 0.5)
    assert not should_split((512, 512), 512, 512, 1.0)


def test_tile_count_matches_webui_formula():
    assert tile_count(1000, 512, 0.2) == 3
    assert tile_count(2048, 512, 0.2) == 5
    assert tile_count(512, 512, 0.2) == 1


def test_split_tiles_cover_the_whole_image():
    tiles = split_tiles(horizontal_gradient(2000, 500), 512, 512, 0.2)
    assert len(tiles) == 5 and all(t.size == (512, 512) for t in tiles)
    assert red_at(tiles[0], 0) <= 1 and red_at(tiles[-1], 511) >= 254
    starts = [red_at(t, 0) for t in tiles]
    assert starts == sorted(starts) and len(set(starts)) == 5


def test_split_tall_image():
    image = horizontal_gradient(500, 2000).transpose(Image.Transpose.TRANSPOSE)
    tiles = split_tiles(image, 256, 384, 0.2)
    assert all(t.size == (256, 384) for t in tiles) and len(tiles) >= 3
    assert pixel(tiles[0], 10, 0)[0] <= 1 and pixel(tiles[-1], 10, 383)[0] >= 254


# -- auto-size ------------------------------------------------------------------------------------
def test_choose_size_objectives():
    assert choose_size((1000, 500), 384, 768, 4096, 409600, "Maximize area", 0.1) == (768, 384)
    assert choose_size((1000, 800), 384, 768, 4096, 409600, "Maximize area", 0.1) == (704, 576)
    assert choose_size((1000, 800), 384, 768, 4096, 409600, "Minimize error", 0.1) == (640, 512)
    assert choose_size((1000, 100), 384, 768, 4096, 409600, "Maximize area", 0.1) is None


def test_crop_to_aspect_centre_and_size():
    out = crop_to_aspect(horizontal_gradient(1000, 250), 512, 256)
    assert out.size == (512, 256)
    assert abs(red_at(out, 0) - 64) <= 3 and abs(red_at(out, 511) - 191) <= 3


# -- focal ----------------------------------------------------------------------------------------
def busy_patch_image(patch_x: int, width: int = 1024, height: int = 256) -> Image.Image:
    rng = np.random.default_rng(0)
    a = np.full((height, width, 3), 128, np.uint8)
    a[40:200, patch_x:patch_x + 120] = rng.integers(0, 256, (160, 120, 1), dtype=np.uint8)
    return Image.fromarray(a, "RGB")


@pytest.mark.parametrize("patch_x", [60, 820])
def test_focal_crop_follows_the_detail(patch_x):
    result = focal_crop(busy_patch_image(patch_x), 256, 256, FocalWeights())
    assert result.image.size == (256, 256)
    left, _, right, _ = result.box
    assert left <= patch_x and patch_x + 120 <= right
    assert abs(result.point[0] - (patch_x + 60)) < 80
    assert {"edges", "entropy"} <= set(result.detections)


def test_focal_crop_without_weights_is_centred():
    result = focal_crop(busy_patch_image(820), 256, 256, FocalWeights(0, 0, 0))
    assert result.box == (384, 0, 640, 256)


def test_focal_debug_marks_crop_box_in_red():
    result = focal_crop(busy_patch_image(820), 256, 256, FocalWeights(), debug=True)
    debug = result.debug
    assert debug is not None and debug.size == (1024, 256)
    left, top, right, bottom = result.box
    assert pixel(debug, left, (top + bottom) // 2) == (255, 0, 0)


def test_corner_points_find_square_corners():
    image = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(image).rectangle((50, 60, 150, 140), fill=255)
    points = corner_points(np.asarray(image, np.float32) / 255)
    assert len(points) == 4
    for cx, cy in [(50, 60), (150, 60), (50, 140), (150, 140)]:
        assert min(abs(x - cx) + abs(y - cy) for x, y in points) <= 4


def test_entropy_point_on_the_varied_window():
    grey = np.asarray(busy_patch_image(700).convert("L"), np.float32) / 255
    [(x, y)] = entropy_points(grey, 256, 256)
    assert 640 <= x <= 880 and y == 128


def test_combine_normalises_over_detectors_that_found_points():
    point = combine({"edges": [(0, 0), (10, 0)], "entropy": [(100, 0)], "faces": []},
                    {"edges": 0.5, "entropy": 0.5, "faces": 0.9}, default=(1, 1))
    assert point == pytest.approx((52.5, 0.0))
    assert combine({"faces": []}, {"faces": 1}, default=(7, 8)) == (7, 8)


def test_crop_box_clamped():
    assert crop_box((5, 5), (100, 50), 40, 50) == (0, 0, 40, 50)
    assert crop_box((99, 25), (100, 50), 40, 50) == (60, 0, 100, 50)


# -- captioners -----------------------------------------------------------------------------------
def test_filename_captions():
    assert caption_from_filename("my_cat-sleeping (2).png") == "my cat sleeping 2"
    assert caption_from_filename("00012-0-dog_park.jpg") == "dog park"
    image = Image.new("RGB", (4, 4))
    image.info["source_path"] = "/x/red_apple.png"
    assert FilenameCaptioner().caption(image) == "red apple"


@pytest.mark.parametrize("action, expected", [
    ("ignore", "new"), ("copy", "old"), ("prepend", "old, new"), ("append", "new, old"),
])
def test_caption_actions(action, expected):
    assert combine_captions(" old ", "new", action) == expected


def test_caption_actions_with_empty_parts():
    assert combine_captions("", "new", "prepend") == "new"
    assert combine_captions("old", "", "append") == "old"


class UpperCaptioner:
    name = "upper"

    def __init__(self):
        self.closed = False

    def caption(self, image):
        return "SIZE %dx%d" % image.size

    def close(self):
        self.closed = True


def test_registry_lazy_factory_and_missing_message():
    created = []
    registry = CaptionerRegistry()
    registry.register("Upper", lambda: created.append(1) or UpperCaptioner())
    assert created == [] and "upper" in registry
    first = registry.get("upper")
    assert registry.get("UPPER") is first and created == [1]
    assert first.caption(Image.new("RGB", (3, 2))) == "SIZE 3x2"
    with pytest.raises(CaptionerUnavailableError, match=r"'blip'.*available: upper.*inside the webui"):
        registry.check(["upper", "blip"])
    assert default_registry().names() == ["filename", "wd14"]  # wd14 loads its model only when used
    with pytest.raises(CaptionerUnavailableError, match="available: none"):
        CaptionerRegistry().get("x")
