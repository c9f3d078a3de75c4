"""The WD14 tagger on a tiny ONNX model with the real input/output layout, built with onnx's helper API.

The model: (N, S, S, 3) float32 BGR 0..255 -> mean over the pixels / 255 -> (N, 3) -> linear -> sigmoid
-> (N, tags). A tag's probability is sigmoid(w . [b, g, r] + c), so image colours choose the tags.
"""
import csv

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from hypernet_ext.errors import InvalidOptionError  # noqa: E402
from hypernet_ext.preprocess import PreprocessOptions, preprocess  # noqa: E402
from hypernet_ext.preprocess.captioners import default_registry  # noqa: E402
from hypernet_ext.preprocess.command import main as preprocess_main  # noqa: E402
from hypernet_ext.preprocess.wd14 import (TaggerModelError, TaggerSettings, WD14Tagger, display_tag,  # noqa: E402
                                          is_kaomoji, to_model_input)

SIZE = 16
# name, category, weights on (b, g, r), bias
TAGS = [
    ("general", 9, (0, 0, 0), 5.0),             # a rating: always likely, never written
    ("long_hair", 0, (0, 0, 8), -2.0),          # red: 0.998, blue: 0.12
    ("hood_(clothing)", 0, (0, 0, 6), -2.5),    # red: 0.97
    ("^_^", 0, (0, 0, 4), -2.0),                # red: 0.88
    ("simple_background", 0, (3, 3, 3), -5.0),  # white: 0.98, red/blue: 0.12
    ("blue_theme", 0, (8, 0, -8), -2.0),        # blue only: 0.998
    ("hatsune_miku", 4, (0, 0, 5), -3.0),       # red: 0.88 (character)
    ("other_character", 4, (0, 0, 3), -2.0),    # red: 0.73, below the character threshold
]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def probability(tag, rgb):
    b, g, r = (rgb[2] / 255, rgb[1] / 255, rgb[0] / 255)
    weights, bias = tag[2], tag[3]
    return 1 / (1 + np.exp(-(weights[0] * b + weights[1] * g + weights[2] * r + bias)))


def write_model(folder, tags=TAGS, size=SIZE, csv_tags=None):
    folder.mkdir(parents=True, exist_ok=True)
    weights = np.array([t[2] for t in tags], dtype=np.float32).T  # (3, T)
    bias = np.array([t[3] for t in tags], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["input_1:0", "axes"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "scale"], ["unit"]),
        helper.make_node("MatMul", ["unit", "weights"], ["logits_raw"]),
        helper.make_node("Add", ["logits_raw", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"]),
    ]
    initializers = [
        helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2]),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [1 / 255]),
        helper.make_tensor("weights", TensorProto.FLOAT, list(weights.shape), weights.flatten().tolist()),
        helper.make_tensor("bias", TensorProto.FLOAT, [len(tags)], bias.tolist()),
    ]
    graph = helper.make_graph(
        nodes, "tiny_wd14",
        [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT, ["batch", size, size, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["batch", len(tags)])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    with open(folder / "selected_tags.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tag_id", "name", "category", "count"])
        for index, tag in enumerate(csv_tags or tags):
            writer.writerow([1000 + index, tag[0], tag[1], 500 - index])
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("wd14"))


def solid(rgb, width=20, height=20):
    return Image.new("RGB", (width, height), rgb)


def test_red_image_caption_order_and_formatting(model_dir):
    tagger = WD14Tagger(model_dir)
    assert tagger.size == SIZE
    assert tagger.caption(solid(RED)) == "hatsune miku, long hair, hood \\(clothing\\), ^_^"


def test_probabilities_follow_the_bgr_input(model_dir):
    tagger = WD14Tagger(model_dir)
    got = tagger.probabilities([solid(RED), solid(BLUE)])
    expected = np.array([[probability(t, rgb) for t in TAGS] for rgb in (RED, BLUE)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert tagger.caption(solid(BLUE)) == "blue theme"


def test_thresholds(model_dir):
    strict = WD14Tagger(model_dir, TaggerSettings(general_threshold=0.95, character_threshold=0.7))
    assert strict.caption(solid(RED)) == "hatsune miku, other character, long hair, hood \\(clothing\\)"
    assert WD14Tagger(model_dir, TaggerSettings(general_threshold=0.99, character_threshold=0.9)).caption(
        solid(RED)) == "long hair"


def test_ratings_are_never_written(model_dir):
    tagger = WD14Tagger(model_dir, TaggerSettings(general_threshold=0.0, character_threshold=0.0))
    assert "general" not in tagger.caption(solid(WHITE)).split(", ")


def test_excluded_tags_in_either_spelling(model_dir):
    settings = TaggerSettings(exclude_tags=("long hair", "hood_(clothing)", "HATSUNE_MIKU"))
    assert WD14Tagger(model_dir, settings).caption(solid(RED)) == "^_^"


def test_keep_underscores_and_unescaped_brackets(model_dir):
    settings = TaggerSettings(keep_underscores=True, escape_brackets=False)
    assert WD14Tagger(model_dir, settings).caption(solid(RED)) == "hatsune_miku, long_hair, hood_(clothing), ^_^"


def test_kaomoji_keep_their_underscores():
    assert is_kaomoji("^_^") and is_kaomoji("o_o") and is_kaomoji("0_0") and is_kaomoji(">_<")
    assert not is_kaomoji("long_hair") and not is_kaomoji("1girl")
    assert display_tag("x_x", False, True) == "x_x" and display_tag("cat_(pet)", False, True) == "cat \\(pet\\)"


def test_batches_give_the_same_captions_in_order(model_dir):
    images = [solid(RED), solid(BLUE), solid(WHITE), solid(RED, 30, 10), solid(BLUE)]
    one = [WD14Tagger(model_dir, TaggerSettings(batch_size=1)).caption(im) for im in images]
    for batch_size in (2, 5, 8):
        assert WD14Tagger(model_dir, TaggerSettings(batch_size=batch_size)).caption_batch(images) == one
    assert one[0] != one[1] and one[1] == one[4]


def test_input_is_padded_to_a_white_square_in_bgr():
    pixels = to_model_input(solid(RED, 32, 16), SIZE)
    assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[SIZE // 2, SIZE // 2], [0, 0, 255])
    np.testing.assert_allclose(pixels[0, SIZE // 2], [255, 255, 255])
    transparent = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    np.testing.assert_allclose(to_model_input(transparent, SIZE), 255.0)


def test_missing_model_says_where_to_get_one(tmp_path):
    with pytest.raises(TaggerModelError, match="does not exist; it must contain model.onnx and selected_tags.csv"
                                               ".*SmilingWolf/wd-vit-tagger-v3"):
        WD14Tagger(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.onnx").write_bytes(b"")
    with pytest.raises(TaggerModelError, match="lacks selected_tags.csv"):
        WD14Tagger(tmp_path / "half")
    with pytest.raises(TaggerModelError, match="--captioner-model DIR"):
        WD14Tagger("")


def test_tag_list_of_another_model_is_refused(tmp_path):
    folder = write_model(tmp_path / "m", csv_tags=TAGS[:-1])
    with pytest.raises(TaggerModelError, match="gives 8 tag probabilities but .* lists 7 tags"):
        WD14Tagger(folder)


def caption_of(folder, stem):
    (path,) = folder.glob(f"*{stem}.txt")
    return path.read_text().strip()


def test_preprocess_cli_captions_with_wd14(model_dir, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    solid(RED, 80, 80).save(raw / "a.png")
    solid(BLUE, 80, 80).save(raw / "b.png")
    code = preprocess_main([str(raw), str(tmp_path / "out"), "--width", "64", "--height", "64",
                            "--captioner", "wd14", "--captioner-model", str(model_dir),
                            "--exclude-tags", "^_^", "--general-threshold", "0.9"])
    assert code == 0, capsys.readouterr().err
    assert caption_of(tmp_path / "out", "a") == "hatsune miku, long hair, hood \\(clothing\\)"
    assert caption_of(tmp_path / "out", "b") == "blue theme"


def test_preprocess_cli_without_a_model_names_the_flag(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    assert preprocess_main([str(raw), str(tmp_path / "out"), "--captioner", "wd14"]) == 1
    assert "--captioner-model DIR" in capsys.readouterr().err


def test_options_check_the_thresholds(tmp_path, model_dir):
    (tmp_path / "raw").mkdir()
    options = PreprocessOptions(tmp_path / "raw", tmp_path / "out", captioners=["wd14"],
                                captioner_model=str(model_dir), general_threshold=1.5)
    with pytest.raises(InvalidOptionError, match="general_threshold must be a number from 0 to 1"):
        options.validate()


def test_registry_makes_a_tagger_per_run_from_the_options(tmp_path, model_dir):
    raw = tmp_path / "raw"
    raw.mkdir()
    solid(RED, 64, 64).save(raw / "x.png")
    registry = default_registry()
    assert "wd14" in registry.names()
    for threshold, expected in ((0.99, "long hair"), (0.9, "long hair, hood \\(clothing\\)")):
        options = PreprocessOptions(raw, tmp_path / f"out{threshold}", width=64, height=64, captioners=["wd14"],
                                    captioner_model=str(model_dir), general_threshold=threshold,
                                    character_threshold=0.95)
        preprocess(options, captioners=registry)
        assert caption_of(tmp_path / f"out{threshold}", "x") == expected


def test_standalone_panel_captions_with_wd14(model_dir, tmp_path):
    pytest.importorskip("gradio")
    from helpers_ui import make_context
    from hypernet_ext.service import preprocess_defaults
    from hypernet_ext.ui.preprocess_panel import start_html
    ctx = make_context(tmp_path)
    ctx.captioners = default_registry()
    assert "wd14" in ctx.captioners.names()
    raw = tmp_path / "raw"
    raw.mkdir()
    solid(BLUE, 64, 64).save(raw / "p.png")
    values = dict(preprocess_defaults(), source=str(raw), destination=str(tmp_path / "out"), background="white", width=64.0,
                  height=64.0, captioners=["wd14"], captioner_model="", general_threshold=0.5)
    assert "--captioner-model DIR, or &#x27;WD14 model folder&#x27; in the panel" in start_html(values, ctx)
    html = start_html(dict(values, captioner_model=str(model_dir)), ctx)
    assert "hnx-error" not in html
    assert ctx.jobs.wait(60).state == "finished"
    assert caption_of(tmp_path / "out", "p") == "blue theme"
