"""Prompt tag parsing: webui grammar, weights, malformed tags, unknown names."""
import pytest

from hypernet_ext.errors import HypernetError
from hypernet_ext.prompt_tags import HypernetTag, format_tag, parse_prompt


def test_tags_removed_exactly_like_the_webui_and_weights_parsed():
    parsed = parse_prompt("a cat <hypernet:anime>, sitting <hypernet:style-500:0.75> on a mat")
    assert parsed.prompt == "a cat , sitting  on a mat"
    assert parsed.tags == [HypernetTag("anime", 1.0), HypernetTag("style-500", 0.75)]
    assert parsed.warnings == []


@pytest.mark.parametrize("text,weight", [("-0.5", -0.5), ("1.8", 1.8), ("2", 2.0), (" 0.3 ", 0.3), ("1e-1", 0.1)])
def test_negative_and_large_weights(text, weight):
    assert parse_prompt(f"x <hypernet:n:{text}>").tags == [HypernetTag("n", weight)]


def test_default_weight_parameter_and_empty_weight():
    parsed = parse_prompt("<hypernet:a> <hypernet:b:>", default_weight=0.6)
    assert parsed.tags == [HypernetTag("a", 0.6), HypernetTag("b", 0.6)]


def test_tag_order_is_kept_and_repeats_warn():
    parsed = parse_prompt("<hypernet:b:0.5><hypernet:a><hypernet:b:2>")
    assert [(t.name, t.weight) for t in parsed.tags] == [("b", 0.5), ("a", 1.0), ("b", 2.0)]
    assert len(parsed.warnings) == 1 and "more than once" in parsed.warnings[0] and "b" in parsed.warnings[0]


@pytest.mark.parametrize("prompt,fragment", [
    ("a <hypernet:x:abc> b", "'abc'"),
    ("a <hypernet:x:nan> b", "'nan'"),
    ("a <hypernet:x:inf> b", "'inf'"),
    ("a <hypernet: :1> b", "names no hypernetwork"),
])
def test_bad_weight_or_name_warns_and_drops_only_that_tag(prompt, fragment):
    parsed = parse_prompt(prompt + " <hypernet:ok>")
    assert parsed.tags == [HypernetTag("ok", 1.0)]
    assert parsed.prompt == "a  b "
    assert len(parsed.warnings) == 1 and fragment in parsed.warnings[0]


@pytest.mark.parametrize("prompt", ["a <hypernet> b", "a <hypernet:> b", "a <hypernet:unclosed b"])
def test_malformed_tags_warn_and_stay_in_text(prompt):
    parsed = parse_prompt(prompt)
    assert parsed.tags == [] and any("Malformed" in w for w in parsed.warnings)
    assert "hypernet" in parsed.prompt


def test_unclosed_tag_swallows_the_next_one_like_the_webui():
    parsed = parse_prompt("<hypernet:x <hypernet:y>")  # webui: one tag, name 'x <hypernet', weight 'y'
    assert parsed.tags == [] and parsed.prompt == ""
    assert len(parsed.warnings) == 1 and "'y'" in parsed.warnings[0]


def test_extra_fields_and_other_network_types():
    parsed = parse_prompt("p <hypernet:a:0.5:te=1> <lora:foo:0.7> <hypernetwork:z>")
    assert parsed.tags == [HypernetTag("a", 0.5)]
    assert parsed.prompt == "p   "
    assert any("extra fields" in w for w in parsed.warnings)
    assert any("<lora:foo:0.7>" in w and "<hypernetwork:z>" in w for w in parsed.warnings)


def test_unknown_names_listed_with_suggestions():
    parsed = parse_prompt("<hypernet:Anime> <hypernet:styel> <hypernet:real:0.4> <hypernet:zzz>",
                          known_names=["anime", "style", "real"])
    assert parsed.tags == [HypernetTag("real", 0.4)]
    (warning,) = parsed.warnings
    assert "Anime (did you mean anime?)" in warning and "styel (did you mean style?)" in warning
    assert "zzz" in warning


def test_non_string_and_empty_prompts_never_crash():
    assert parse_prompt(None).prompt == "" and parse_prompt("").tags == []
    assert parse_prompt("<>< <:> <hypernet:a:1:2:3>>").tags == [HypernetTag("a", 1.0)]


def test_format_tag_round_trips():
    for tag in (HypernetTag("my net-500", -0.25), HypernetTag("x", 1.5)):
        assert parse_prompt(format_tag(tag.name, tag.weight)).tags == [tag]
    assert format_tag("x") == "<hypernet:x>"
    with pytest.raises(HypernetError, match="rename"):
        format_tag("a:b", 1.0)
