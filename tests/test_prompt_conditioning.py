"""The standalone host's prompt conditioning on the tiny model: CLIP skip, long prompts, BREAK, emphasis,
uncond of another length, the caption cache and the command-line flags."""
import argparse
import logging

import pytest
import torch

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.model_arguments import add_model_options, text_conditioning_from_args
from hypernet_ext.standalone import load_host
from hypernet_ext.standalone.host import host_from_state_dict
from hypernet_ext.standalone.sampler import _guided_pair
from hypernet_ext.standalone.tiny import tiny_checkpoint
from hypernet_ext.training.text_cache import TextConditionCache

WORDS = " ".join(chr(ord("a") + i % 26) for i in range(80))  # 80 tokens, one per letter


@pytest.fixture(scope="module")
def host():
    tiny = load_host("tiny")
    # The tiny model's final layer norm starts at weight 1, bias 0: every token row then has mean 0
    # and the emphasis rescale would divide ~0 by ~0. Real CLIP has a bias; give it one.
    norm = tiny.text_encoder.transformer.text_model.final_layer_norm
    with torch.no_grad():
        norm.bias.copy_(torch.linspace(-0.5, 1.5, norm.bias.numel()))
    return tiny


def test_clip_skip_is_the_hidden_state_n_from_the_end_with_final_layer_norm(host):
    text_model = host.text_encoder.transformer
    ids = host.text_encoder.tokenize(["a photo of a cat"])
    with torch.no_grad():
        hidden = text_model(input_ids=ids, output_hidden_states=True).hidden_states
        expected = text_model.text_model.final_layer_norm(hidden[-2])
    host.text_encoder.clip_skip = 2
    try:
        skipped = host.encode_text(["a photo of a cat"])
    finally:
        host.text_encoder.clip_skip = None
    torch.testing.assert_close(skipped, expected)
    assert not torch.allclose(host.encode_text(["a photo of a cat"]), skipped)


def test_load_host_takes_clip_skip_and_checks_it():
    weights, metadata = tiny_checkpoint("sd1")
    skipped = host_from_state_dict(weights, metadata, text_options={"clip_skip": 2})
    assert skipped.clip_skip == 2 and skipped.text_conditioning()["clip_skip"] == 2
    with pytest.raises(InvalidOptionError, match="clip skip 3 must be a whole number from 1 .* to 2"):
        host_from_state_dict(weights, metadata, text_options={"clip_skip": 3})


def test_sd2_ignores_clip_skip_like_the_webui(caplog):
    weights, metadata = tiny_checkpoint("sd2")
    plain = host_from_state_dict(weights, metadata, prediction="v")
    with caplog.at_level(logging.WARNING):
        skipped = host_from_state_dict(weights, metadata, prediction="v", text_options={"clip_skip": 1})
    assert "ignored for SD2" in caplog.text
    torch.testing.assert_close(skipped.encode_text(["a cat"]), plain.encode_text(["a cat"]))
    assert plain.text_conditioning()["clip_skip"] == 2
    assert plain.encode_text([WORDS, "a cat"]).shape == (2, 154, 256)
    special = plain.text_encoder.special_tokens
    assert (special.start, special.end, special.pad) == (49406, 49407, 0)


def test_long_captions_continue_in_a_second_chunk(host):
    cond = host.encode_text([WORDS])
    tokens = host.text_encoder.tokenizer.encode(WORDS)
    assert len(tokens) == 80 and cond.shape == (1, 154, 768)
    second = host.text_encoder.prompts.chunks(WORDS)[1]
    assert second.tokens[1:6] == tokens[75:] and second.tokens[6] == host.text_encoder.special_tokens.end
    rest = " ".join(WORDS.split()[75:])
    torch.testing.assert_close(cond[:, 77:], host.encode_text([rest]))


def test_break_is_two_prompts_side_by_side(host):
    cond = host.encode_text(["a cat BREAK a dog"])
    torch.testing.assert_close(cond, torch.cat([host.encode_text(["a cat"]), host.encode_text(["a dog"])], dim=1))


def test_batch_pads_short_captions_with_the_empty_prompt(host):
    cond = host.encode_text(["a cat", WORDS])
    assert cond.shape == (2, 154, 768)
    torch.testing.assert_close(cond[0, :77], host.encode_text(["a cat"])[0])
    torch.testing.assert_close(cond[0, 77:], host.encode_text([""])[0])


def test_emphasis_scales_the_token_rows(host):
    plain = host.encode_text(["a cat"])
    emphasised = host.encode_text(["a (cat:1.5)"])
    scaled = plain.clone()
    scaled[:, 2] *= 1.5
    torch.testing.assert_close(emphasised, scaled * (plain.mean() / scaled.mean()))
    assert not torch.allclose(emphasised, plain)


def test_escaped_brackets_are_text(host):
    literal = host.encode_text(["a \\(cat\\)"])
    assert not torch.allclose(literal, host.encode_text(["a cat"]))
    assert host.text_encoder.prompts.chunks("a \\(cat\\)")[0].tokens[1:5] == \
        host.text_encoder.tokenizer.encode("a (cat)")


def test_encode_text_each_matches_one_caption_calls(host):
    texts = ["a (cat:1.3)", WORDS, "[dog] BREAK tree"]
    rows = host.encode_text_each(texts)
    for text, row in zip(texts, rows):
        torch.testing.assert_close(row, host.encode_text([text])[0], atol=1e-5, rtol=1e-5)


def test_text_cache_rows_do_not_depend_on_batch_neighbours(host):
    cache = TextConditionCache.for_host(host)
    batch = cache.get_batch(["a cat", "(a dog:1.4)", WORDS])
    assert batch.shape == (3, 154, 768)
    torch.testing.assert_close(batch[0, :77], host.encode_text(["a cat"])[0])
    torch.testing.assert_close(batch[0, 77:], batch[0, 76:77].expand(77, -1))  # webui's stack_conds padding
    torch.testing.assert_close(batch[1, :77], host.encode_text(["(a dog:1.4)"])[0], atol=1e-5, rtol=1e-5)


def test_text_cache_keys_on_clip_skip(host):
    cache = TextConditionCache.for_host(host)
    before = cache.get_batch(["a cat"])
    host.text_encoder.clip_skip = 2
    try:
        after = cache.get_batch(["a cat"])
        torch.testing.assert_close(after, host.encode_text(["a cat"]))
    finally:
        host.text_encoder.clip_skip = None
    assert not torch.allclose(before, after) and cache.info()["misses"] == 2
    torch.testing.assert_close(cache.get_batch(["a cat"]), before)
    assert cache.info()["misses"] == 2


def test_generate_with_a_long_prompt_and_a_short_negative(host):
    image = host.generate(WORDS, "blurry", steps=2, width=64, height=64, seed=1)
    assert image.size == (64, 64)


def test_guidance_runs_cond_and_uncond_apart_when_lengths_differ():
    seen = []

    def predict(x, t, context):
        seen.append(tuple(context.shape))
        return x * context.mean()
    x = torch.ones(1, 4, 2, 2)
    cond, uncond = torch.full((1, 154, 8), 2.0), torch.full((1, 77, 8), 3.0)
    out_uncond, out_cond = _guided_pair(predict, x, 5, cond, uncond)
    assert seen == [(1, 77, 8), (1, 154, 8)]
    torch.testing.assert_close(out_uncond, x * 3.0)
    torch.testing.assert_close(out_cond, x * 2.0)
    _guided_pair(predict, x, 5, cond[:, :77], uncond)
    assert seen[-1] == (2, 77, 8)


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    return parser.parse_args(list(argv))


def test_flags_give_the_text_conditioning_options():
    options = text_conditioning_from_args(parse("--clip-skip", "2", "--emphasis", "No norm", "--comma-backtrack", "0"))
    assert options.load_host_arguments() == {"clip_skip": 2, "emphasis": "No norm", "comma_backtrack": 0}
    assert text_conditioning_from_args(parse()).load_host_arguments() == {
        "clip_skip": None, "emphasis": "Original", "comma_backtrack": 20}


@pytest.mark.parametrize("argv, message", [
    (("--clip-skip", "0"), "--clip-skip 0 is out of range; use 1 to 12"),
    (("--comma-backtrack", "75"), "--comma-backtrack 75 is out of range; use 0 to 74"),
])
def test_bad_flags_name_the_flag(argv, message):
    with pytest.raises(InvalidOptionError, match=message):
        text_conditioning_from_args(parse(*argv))


def test_infotext_names_clip_skip_and_emphasis_like_the_webui(host):
    from hypernet_ext.tagged_generation import _text_parameters
    assert _text_parameters(host, "a (cat)") == {"Clip skip": None, "Emphasis": None}
    host.text_encoder.clip_skip = 2
    host.text_encoder.prompts.emphasis = "No norm"
    try:
        assert _text_parameters(host, "a (cat)") == {"Clip skip": 2, "Emphasis": "No norm"}
        assert _text_parameters(host, "a cat")["Emphasis"] is None
    finally:
        host.text_encoder.clip_skip = None
        host.text_encoder.prompts.emphasis = "Original"
