"""The synthetic shapes data: captions follow the grammar and the image measures read drawn scenes right."""
import random

import pytest

from hypernet_ext.standalone.shapes_data import (BACKGROUND_COLOURS, PATTERNS, SHAPE_COLOURS, SHAPES, ShapeScene,
                                                 background_colour, caption_vocabulary, mean_saturation,
                                                 palette_distance, random_scene, render_batch, render_scene,
                                                 shape_colour, to_uint8)


def test_captions_follow_the_grammar():
    rng = random.Random(3)
    scenes = [random_scene(rng) for _ in range(300)]
    vocabulary = set(caption_vocabulary())
    for scene in scenes:
        words = scene.caption().split()
        assert set(words) <= vocabulary
        assert scene.colour != scene.background
        subject = [w for w in ("a", scene.size, scene.colour, scene.shape) if w]
        assert words[:len(subject)] == subject
        if scene.mention_background:
            assert words[-1] == "background" and words[-2] == scene.background
        else:
            assert scene.pattern == "plain" and "background" not in words
    assert {s.pattern for s in scenes} == set(PATTERNS)
    assert {s.shape for s in scenes} == set(SHAPES)


def test_caption_examples():
    assert ShapeScene("circle", "red", "blue").caption() == "a red circle on a blue background"
    assert ShapeScene("star", "green", "gray", pattern="striped", size="small").caption() == \
        "a small green star on a striped gray background"
    assert ShapeScene("square", "white", "black", mention_background=False).caption() == "a white square"


@pytest.mark.parametrize("shape", SHAPES)
def test_measures_read_every_colour_of_a_drawn_shape(shape):
    colours = list(SHAPE_COLOURS)
    scenes = [ShapeScene(shape, colour, colours[(i + 3) % len(colours)], x=0.4 + 0.03 * i, y=0.55, radius=0.2)
              for i, colour in enumerate(colours)]
    for scene, image in zip(scenes, render_batch(scenes)):
        pixels = to_uint8(image)
        assert shape_colour(pixels) == scene.colour
        assert background_colour(pixels) == scene.background


def test_patterned_background_keeps_its_colour_name_and_empty_image_has_no_shape():
    for pattern in PATTERNS:
        image = to_uint8(render_scene(ShapeScene("circle", "red", "blue", pattern=pattern, radius=0.15)))
        assert 0.1 < (image != image[0, 0]).any(axis=2).mean() < 0.9 or pattern == "plain"
    blank = to_uint8(render_scene(ShapeScene("circle", "red", "blue", radius=0.001)))
    assert shape_colour(blank) is None and background_colour(blank) == "blue"
    assert set(BACKGROUND_COLOURS) - set(SHAPE_COLOURS) == {"gray"}


def test_muted_style_lowers_saturation():
    rng = random.Random(0)
    scenes = [random_scene(rng) for _ in range(40)]
    vivid = [mean_saturation(to_uint8(x)) for x in render_batch(scenes)]
    muted = [mean_saturation(to_uint8(x)) for x in render_batch(scenes, style="muted")]
    assert sum(muted) < 0.6 * sum(vivid)
    assert all(m <= v + 1e-6 for m, v in zip(muted, vivid))


def test_blueprint_style_draws_the_layout_white_on_blue():
    scene = ShapeScene("star", "red", "green", x=0.3, y=0.6, radius=0.2)
    vivid, blueprint = (to_uint8(render_scene(scene, style=style)) for style in ("vivid", "blueprint"))
    assert shape_colour(vivid) == "red" and background_colour(vivid) == "green"
    assert shape_colour(blueprint) == "white" and background_colour(blueprint) == "blue"
    assert ((vivid != vivid[0, 0]).any(axis=2) == (blueprint != blueprint[0, 0]).any(axis=2)).all(), "same layout"
    assert palette_distance(blueprint) < 5 < 100 < palette_distance(vivid)
    rng = random.Random(2)
    scenes = [random_scene(rng, mention_background=1) for _ in range(30)]
    assert any(s.pattern != "plain" for s in scenes)
    assert max(palette_distance(to_uint8(x)) for x in render_batch(scenes, style="blueprint")) < 10, "plain blue"


def test_trained_token_rows_cover_every_caption():
    from hypernet_ext.standalone.tiny_shapes import caption_token_ids
    from hypernet_ext.standalone.tokenizer import shared_tokenizer

    tokenizer, trained = shared_tokenizer("clip"), set(caption_token_ids().tolist())
    rng = random.Random(1)
    for _ in range(200):
        assert set(tokenizer([random_scene(rng).caption()])[0].tolist()) <= trained
    assert not set(tokenizer(["a painting"])[0].tolist()) <= trained
