"""The emphasis parser: the webui's (v1.10.1) documented examples and its edge cases."""
import pytest

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone.prompt_parser import BREAK, BREAK_WEIGHT, is_break, parse_weighted_text


def approx_runs(runs):
    return [[text, pytest.approx(weight, rel=1e-12)] for text, weight in runs]


@pytest.mark.parametrize("prompt, expected", [
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("\\(literal\\]", [["(literal]", 1.0]]),
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [["a ", 1.0], ["house", 1.3 * 1.1 * 1.1], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55],
      [", sun, ", 1.1], ["sky", 1.1 ** 4], [".", 1.1]]),
])
def test_webui_documented_examples(prompt, expected):
    assert parse_weighted_text(prompt) == approx_runs(expected)


def test_square_brackets_divide_and_nest():
    assert parse_weighted_text("[[dim]] x") == approx_runs([["dim", 1 / 1.1 / 1.1], [" x", 1.0]])


def test_explicit_weight_with_spaces_and_sign():
    assert parse_weighted_text("(a: 0.5 ) (b:-1.25)") == approx_runs([["a", 0.5], [" ", 1.0], ["b", -1.25]])


def test_closing_without_opening_is_text():
    assert parse_weighted_text("a) b] c:1.2) d:e") == [["a) b] c:1.2) d:e", 1.0]]


def test_escapes_keep_their_character_and_lone_backslash_vanishes():
    assert parse_weighted_text("\\\\ \\[x\\) y\\z") == [["\\ [x) yz", 1.0]]


def test_escaped_characters_inside_brackets_are_weighted():
    assert parse_weighted_text("(\\(x\\))") == approx_runs([["(x)", 1.1]])


def test_empty_prompt_is_one_empty_run():
    assert parse_weighted_text("") == [["", 1.0]]
    assert parse_weighted_text("()") == [["", 1.0]]


def test_break_splits_and_swallows_spaces():
    runs = parse_weighted_text("a cat BREAK  a dog")
    assert runs == [["a cat", 1.0], [BREAK, BREAK_WEIGHT], ["a dog", 1.0]]
    assert is_break(runs[1]) and not is_break(runs[0])


def test_break_at_the_ends_and_twice():
    assert parse_weighted_text("BREAK x") == [["", 1.0], [BREAK, -1.0], ["x", 1.0]]
    assert parse_weighted_text("x BREAK") == [["x", 1.0], [BREAK, -1.0], ["", 1.0]]
    assert parse_weighted_text("x BREAK BREAK y") == [["x", 1.0], [BREAK, -1.0], ["", 1.0], [BREAK, -1.0],
                                                      ["y", 1.0]]


def test_break_must_be_a_whole_upper_case_word():
    assert parse_weighted_text("BREAKFAST break xBREAK") == [["BREAKFAST break xBREAK", 1.0]]


def test_break_inside_brackets_loses_its_marker_like_the_webui():
    runs = parse_weighted_text("(a BREAK b)")
    assert runs == approx_runs([["a", 1.1], [BREAK, -1.1], ["b", 1.1]])
    assert not any(is_break(run) for run in runs)


def test_a_weight_that_is_not_a_number_names_the_prompt():
    with pytest.raises(InvalidOptionError, match=r"'1\.2\.3'.*\(word:1\.2\)"):
        parse_weighted_text("(a:1.2.3)")
