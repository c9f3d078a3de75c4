"""Captions, templates and per-step prompts (webui semantics, section 5.4 of the reference)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.training.captions import (
    CaptionReadError, PromptBuilder, builtin_templates, caption_for_image, caption_from_filename,
    compile_word_regex, load_template, pick_tags, render_line, split_tags,
)
from hypernet_ext.training.keyed_rng import keyed_rng

TAGS = [f"t{i}" for i in range(12)]
CAPTION = ", ".join(TAGS)


# -- captions ------------------------------------------------------------------------------------
def test_filename_caption_strips_leading_numbers_and_dashes():
    assert caption_from_filename(Path("00012-3 a red fox.png")) == "a red fox"
    assert caption_from_filename(Path("-5-a cat.jpg")) == "a cat"
    assert caption_from_filename(Path("cat 2.jpg")) == "cat 2"


def test_filename_caption_word_regex_and_join_string():
    regex = compile_word_regex(r"[a-z]+")
    assert caption_from_filename(Path("0001-red_fox(1).png"), regex, ", ") == "red, fox"
    # a regex with groups still joins whole matches
    grouped = compile_word_regex(r"(r|f)[a-z]+")
    assert caption_from_filename(Path("red_fox.png"), grouped, "+") == "red+fox"


def test_bad_word_regex_is_an_option_error():
    with pytest.raises(InvalidOptionError, match="filename_word_regex"):
        compile_word_regex("([a-z")


def test_txt_caption_wins_over_file_name(tmp_path):
    image = tmp_path / "001-name words.png"
    image.write_bytes(b"")
    assert caption_for_image(image) == ("name words", "filename")
    image.with_suffix(".txt").write_text("\ufeffred fox,  forest \n\nnight\n", encoding="utf-8")
    assert caption_for_image(image) == ("red fox, forest, night", "txt")


def test_non_utf8_caption_file_is_reported(tmp_path):
    image = tmp_path / "a.png"
    image.with_suffix(".txt").write_bytes(b"caf\xe9 \xff\xfe")
    with pytest.raises(CaptionReadError, match="UTF-8"):
        caption_for_image(image)


def test_split_tags_strips_and_drops_empty():
    assert split_tags(" a, b ,, c ,") == ["a", "b", "c"]
    assert split_tags("") == []


# -- templates -----------------------------------------------------------------------------------
def test_builtin_templates_cover_the_usual_uses():
    names = builtin_templates()
    for wanted in ("style_filewords", "style", "subject_filewords", "subject", "filewords", "name",
                   "filewords_name"):
        assert wanted in names
        assert load_template(wanted)
    assert load_template("filewords") == ["[filewords]"]
    assert load_template("name.txt") == ["[name]"]
    assert all("[filewords]" in line and "[name]" in line for line in load_template("style_filewords"))
    assert all("[name]" in line and "[filewords]" not in line for line in load_template("style"))


def test_template_file_skips_empty_lines_and_strips(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("  a [name]  \n\n   \nb [filewords]\n", encoding="utf-8")
    assert load_template(str(path)) == ["a [name]", "b [filewords]"]
    assert load_template(["x [name]", "", " y "]) == ["x [name]", "y"]
    assert load_template("x [name]\n\n y \n") == ["x [name]", "y"]


@pytest.mark.parametrize("spec", ["no_such_template", ["", "  "]])
def test_unknown_or_empty_template_is_an_option_error(spec):
    with pytest.raises(InvalidOptionError):
        load_template(spec)


def test_render_substitutes_once_and_tidies_empty_filewords():
    assert render_line("a [filewords], by [name]", "nm", ["x", "y"]) == "a x, y, by nm"
    assert render_line("[filewords], [name]", "nm", []) == "nm"
    assert render_line("[name], [filewords]", "nm", []) == "nm"
    # substituted text is not substituted again
    assert render_line("[filewords] [name]", "[filewords]", ["[name]"]) == "[name] [filewords]"


# -- shuffle / keep-first / dropout --------------------------------------------------------------
def test_shuffle_keeps_first_tags_in_place():
    for step in range(20):
        out = pick_tags(TAGS, keyed_rng(0, step), shuffle=True, keep_first=3, dropout=0.0)
        assert out[:3] == TAGS[:3] and sorted(out) == sorted(TAGS)
    orders = {tuple(pick_tags(TAGS, keyed_rng(0, s), shuffle=True, keep_first=3, dropout=0.0)) for s in range(20)}
    assert len(orders) > 10


def test_dropout_never_drops_kept_tags_and_drops_about_p():
    kept_counts = []
    for step in range(200):
        out = pick_tags(TAGS, keyed_rng(1, step), shuffle=False, keep_first=2, dropout=0.5)
        assert out[:2] == TAGS[:2]
        assert out == [t for t in TAGS if t in out]  # no shuffle: order kept
        kept_counts.append(len(out) - 2)
    mean_kept = sum(kept_counts) / len(kept_counts)
    assert 4.0 < mean_kept < 6.0  # 10 droppable tags at p=0.5


def test_prompt_builder_is_a_pure_function_of_seed_and_sample():
    lines = tuple(load_template("style_filewords"))
    a = PromptBuilder(lines, "nm", seed=3, shuffle_tags=True, tag_dropout=0.2, keep_first_tags=1)
    b = PromptBuilder(lines, "nm", seed=3, shuffle_tags=True, tag_dropout=0.2, keep_first_tags=1)
    texts_a = [a.text(CAPTION, sample) for sample in range(60)]
    assert texts_a == [b.text(CAPTION, sample) for sample in range(60)]
    assert len(set(texts_a)) > 20
    other_seed = PromptBuilder(lines, "nm", seed=4, shuffle_tags=True, tag_dropout=0.2, keep_first_tags=1)
    assert texts_a != [other_seed.text(CAPTION, sample) for sample in range(60)]
    used_lines = {re.sub(r"t\d+(, t\d+)*", "T", t) for t in texts_a}
    assert len(used_lines) > 3  # several template lines get picked


def test_static_prompts():
    single = PromptBuilder(("[filewords], by [name]",), "nm")
    assert single.is_static
    assert {single.text("b, a", s) for s in range(10)} == {"b, a, by nm"}
    assert not PromptBuilder(("x", "y"), "nm").is_static
    assert not PromptBuilder(("x",), "nm", shuffle_tags=True).is_static
    assert not PromptBuilder(("x",), "nm", tag_dropout=0.1).is_static
