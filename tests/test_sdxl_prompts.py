"""SDXL prompt conditioning on tiny-sdxl: the webui's emphasis, BREAK and long-prompt chunks per text tower,
the pooled vector of the first chunk, encoding each caption alone, and the settings through `load_host`."""
import logging

import pytest
import torch

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone import load_host
from hypernet_ext.standalone.prompt_chunks import chunk_ids
from hypernet_ext.standalone.sdxl_text import SDXLTextEncoder
from hypernet_ext.standalone.tiny import write_checkpoint
from hypernet_ext.standalone.tiny_sdxl import TINY_SDXL, tiny_sdxl_checkpoint
from hypernet_ext.training.text_cache import TextConditionCache

WORDS = " ".join(chr(ord("a") + i % 26) for i in range(80))  # 80 tokens, one per letter, no commas
CLIP_L_WIDTH = TINY_SDXL.text.clip_l_width


@pytest.fixture(scope="module")
def host():
    return load_host("tiny-sdxl")


def encoder_like(host, **options) -> SDXLTextEncoder:
    """The host's text towers with other prompt settings."""
    encoder = SDXLTextEncoder(TINY_SDXL.text, **options)
    encoder.load_state_dict(host.text_encoder.state_dict())
    return encoder.eval()


@torch.no_grad()
def towers_directly(host, captions):
    """The pre-change SDXL path: one truncated 77-token row per caption, no prompt syntax, per tower."""
    text = host.text_encoder
    ids_l = text.clip_tokenizer(captions, length=77)
    ids_g = text.bigg_tokenizer(captions, pad_id=0, length=77)
    hidden_l = text.clip_l(input_ids=ids_l, output_hidden_states=True).hidden_states[-1]
    out_g = text.bigg(input_ids=ids_g, output_hidden_states=True)
    return hidden_l, out_g.hidden_states[-2], out_g.text_embeds


def test_plain_prompts_equal_the_previous_path(host):
    captions = ["a photo of a cat", "red, green and blue shapes on white", ""]
    hidden_l, hidden_g, pooled = towers_directly(host, captions)
    cond = host.encode_text(captions)
    assert cond["context"].shape == (3, 77, 2048)
    torch.testing.assert_close(cond["context"], torch.cat([hidden_l, hidden_g], dim=-1), rtol=0, atol=0)
    torch.testing.assert_close(cond["pooled"], pooled, rtol=0, atol=0)
    for i, row in enumerate(host.encode_text_each(captions)):
        torch.testing.assert_close(row["context"], cond["context"][i])
        torch.testing.assert_close(row["pooled"], pooled[i])


@pytest.mark.parametrize("mode", ["Original", "No norm"])
def test_emphasis_scales_rows_and_restores_the_mean_per_tower(host, mode):
    encoder = encoder_like(host, emphasis=mode)
    with torch.no_grad():
        cond = encoder(["a (cat:1.5) sits"])
    plain_l, plain_g, plain_pooled = towers_directly(host, ["a cat sits"])
    weights = torch.ones(1, 77, 1)
    weights[0, 2] = 1.5  # start, "a", "cat"
    expected = []
    for plain in (plain_l, plain_g):
        scaled = plain * weights
        expected.append(scaled * (plain.mean() / scaled.mean()) if mode == "Original" else scaled)
    torch.testing.assert_close(cond["context"], torch.cat(expected, dim=-1), rtol=1e-5, atol=2e-5)
    # the pooled vector is never weighted
    torch.testing.assert_close(cond["pooled"], plain_pooled)
    if mode == "Original":  # each tower keeps its own mean, which one joint rescale would not give
        torch.testing.assert_close(cond["context"][..., :CLIP_L_WIDTH].mean(), plain_l.mean())
        torch.testing.assert_close(cond["context"][..., CLIP_L_WIDTH:].mean(), plain_g.mean())
    assert not torch.allclose(cond["context"], torch.cat([plain_l, plain_g], dim=-1))


def test_ignore_and_none_emphasis(host):
    with torch.no_grad():
        ignored = encoder_like(host, emphasis="Ignore")(["a (cat:1.5) sits"])
        literal = encoder_like(host, emphasis="None")(["a (cat:1.5) sits"])
    plain_l, plain_g, _ = towers_directly(host, ["a cat sits"])
    torch.testing.assert_close(ignored["context"], torch.cat([plain_l, plain_g], dim=-1))
    brackets_l, brackets_g, _ = towers_directly(host, ["a (cat:1.5) sits"])
    torch.testing.assert_close(literal["context"], torch.cat([brackets_l, brackets_g], dim=-1))


def test_break_gives_a_second_chunk_and_pooled_from_the_first(host):
    cond = host.encode_text(["a cat BREAK a dog"])
    cat, dog = host.encode_text(["a cat"]), host.encode_text(["a dog"])
    assert cond["context"].shape == (1, 154, 2048)
    torch.testing.assert_close(cond["context"][:, :77], cat["context"])
    torch.testing.assert_close(cond["context"][:, 77:], dog["context"])
    torch.testing.assert_close(cond["pooled"], cat["pooled"])
    assert not torch.allclose(cond["pooled"], dog["pooled"])


def test_long_prompts_continue_in_more_chunks(host):
    cond = host.encode_text([WORDS])
    assert cond["context"].shape == (1, 154, 2048)
    # without commas the first chunk is the old path's truncation: same rows, same pooled vector
    hidden_l, hidden_g, pooled = towers_directly(host, [WORDS])
    torch.testing.assert_close(cond["context"][:, :77], torch.cat([hidden_l, hidden_g], dim=-1))
    torch.testing.assert_close(cond["pooled"], pooled)
    # the second chunk holds the last 5 letters
    tail = host.encode_text([" ".join(WORDS.split()[75:])])
    torch.testing.assert_close(cond["context"][:, 77:], tail["context"])


def test_pooled_comes_from_the_first_chunk_after_comma_backtrack(host):
    text = ", ".join(["red"] * 40)  # 79 tokens: the words after the last comma in reach move on
    prompts = host.text_encoder.prompts_g
    chunks = prompts.chunks(text)
    assert len(chunks) == 2
    with torch.no_grad():
        first = host.text_encoder.bigg(input_ids=chunk_ids(chunks[:1], prompts.tokens)).text_embeds
    cond = host.encode_text([text])
    assert cond["context"].shape == (1, 154, 2048)
    torch.testing.assert_close(cond["pooled"], first)


def test_batches_pad_short_captions_and_each_caption_alone_does_not(host):
    cond = host.encode_text(["a cat", WORDS])
    empty = host.encode_text([""])["context"][0]
    assert cond["context"].shape == (2, 154, 2048) and cond["pooled"].shape == (2, 1280)
    torch.testing.assert_close(cond["context"][0, 77:], empty)
    rows = host.encode_text_each(["a (cat:1.3)", WORDS])
    assert rows[0]["context"].shape == (77, 2048) and rows[1]["context"].shape == (154, 2048)
    alone = host.encode_text(["a (cat:1.3)"])
    torch.testing.assert_close(rows[0]["context"], alone["context"][0], rtol=1e-5, atol=2e-5)
    torch.testing.assert_close(rows[0]["pooled"], alone["pooled"][0])


def test_text_cache_rows_are_the_captions_alone_and_key_on_the_settings(host):
    cache = TextConditionCache.for_host(host)
    batch = cache.get_batch(["a (cat:1.3)", WORDS])
    assert batch["context"].shape == (2, 154, 2048) and batch["pooled"].shape == (2, 1280)
    alone = host.encode_text(["a (cat:1.3)"])
    torch.testing.assert_close(batch["context"][0, :77], alone["context"][0], rtol=1e-5, atol=2e-5)
    torch.testing.assert_close(batch["pooled"][0], alone["pooled"][0])
    assert host.text_conditioning() == {"clip_skip": 2, "emphasis": "Original", "comma_backtrack": 20}
    other = load_host("tiny-sdxl", emphasis="No norm")
    assert other.text_conditioning_key() != host.text_conditioning_key()


def test_load_host_passes_the_settings_to_sdxl_checkpoints(tmp_path, caplog):
    weights, metadata = tiny_sdxl_checkpoint()
    path = write_checkpoint(tmp_path / "tiny_xl.safetensors", weights, metadata)
    with caplog.at_level(logging.WARNING):
        loaded = load_host(path, clip_skip=1, emphasis="No norm", comma_backtrack=0)
    assert "ignored for SDXL" in caplog.text
    assert loaded.text_conditioning() == {"clip_skip": 2, "emphasis": "No norm", "comma_backtrack": 0}
    assert loaded.clip_skip is None
    plain_l, plain_g, _ = towers_directly(loaded, ["a cat"])  # clip skip 1 changed nothing
    torch.testing.assert_close(loaded.encode_text(["a cat"])["context"], torch.cat([plain_l, plain_g], dim=-1),
                               rtol=0, atol=0)
    with pytest.raises(InvalidOptionError, match="emphasis"):
        load_host("tiny-sdxl", emphasis="Loud")
    with pytest.raises(InvalidOptionError, match="comma backtrack"):
        load_host("tiny-sdxl", comma_backtrack=80)


def test_generate_with_a_long_prompt_and_a_short_negative(host):
    image = host.generate(WORDS, "blurry", steps=2, width=64, height=64, seed=1)
    assert image.size == (64, 64)
    assert host.generate("a BREAK b", "", steps=2, width=64, height=64, seed=1).size == (64, 64)


def test_towers_with_different_chunk_counts_are_padded_with_empty_chunks(host):
    """Both towers share one BPE, so this does not happen with real prompts; if it did, they still concatenate."""
    text = host.text_encoder
    short_l = text.prompts_l(["a cat"])
    long_g = text.prompts_g([WORDS])
    joined = text._same_length(short_l, long_g)
    assert joined.shape == (1, 154, 2048)
    torch.testing.assert_close(joined[0, 77:, :CLIP_L_WIDTH], text.prompts_l([""])[0])
    torch.testing.assert_close(joined[..., CLIP_L_WIDTH:], long_g)
