"""Chunking, padding and emphasis of `PromptEncoder` on a small real text model (not a mock)."""
import pytest
import torch
from torch import nn

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone.prompt_chunks import (CHUNK_LENGTH, PromptEncoder, SpecialTokens, apply_emphasis,
                                                   chunk_ids, empty_chunk, prompt_chunks)

START, END, COMMA = 1, 2, 3
SPECIAL = SpecialTokens(start=START, end=END, pad=END, comma=COMMA)
OPENCLIP_LIKE = SpecialTokens(start=START, end=END, pad=0, comma=COMMA)


def word_ids(texts):
    """'w7' -> 107, ',' -> COMMA, other words -> 99; one id per word (places chunk boundaries exactly)."""
    def word_id(word):
        return COMMA if word == "," else 100 + int(word[1:]) if word[1:].isdigit() else 99
    return [[word_id(word) for word in text.replace(",", " , ").split()] for text in texts]


def words(start, stop):
    return " ".join(f"w{i}" for i in range(start, stop))


def body(chunk):
    """The prompt's tokens in a chunk: between the start token and the end padding."""
    tokens = chunk.tokens[1:-1]
    return [t for t in tokens if t != END]


class TinyTextModel(nn.Module):
    """Embedding + one transformer layer + final layer norm with a non-zero bias (like real CLIP)."""

    def __init__(self, width=8, vocab=400):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(CHUNK_LENGTH, width) * 0.1)
        self.layer = nn.TransformerEncoderLayer(width, 2, 16, batch_first=True, dropout=0.0)
        self.norm = nn.LayerNorm(width)
        with torch.no_grad():
            self.norm.bias.normal_()
        self.calls = []

    def forward(self, ids):
        self.calls.append(ids.clone())
        return self.norm(self.layer(self.embed(ids) + self.position))


@pytest.fixture
def model():
    return TinyTextModel().eval()


def encoder(model, **kwargs):
    return PromptEncoder(word_ids, model, SPECIAL, **kwargs)


# -- chunk boundaries -----------------------------------------------------------------------------
def test_short_prompt_is_one_chunk_of_start_tokens_end_padding():
    (chunk,) = prompt_chunks("w1 w2", word_ids, SPECIAL)
    assert chunk.tokens == [START, 101, 102] + [END] * 74 and len(chunk.tokens) == CHUNK_LENGTH
    assert chunk.weights == [1.0] * CHUNK_LENGTH


def test_75_tokens_fit_one_chunk_76_need_two():
    assert len(prompt_chunks(words(0, 75), word_ids, SPECIAL)) == 1
    first, second = prompt_chunks(words(0, 76), word_ids, SPECIAL)
    assert body(first) == [100 + i for i in range(75)] and first.tokens[-1] == END
    assert body(second) == [175]


def test_words_after_a_near_comma_move_to_the_next_chunk():
    text = words(0, 70) + ", " + words(70, 80)  # comma is token 71; the chunk fills 4 tokens later
    first, second = prompt_chunks(text, word_ids, SPECIAL)
    assert body(first) == [100 + i for i in range(70)] + [COMMA]
    assert body(second) == [100 + i for i in range(70, 80)]


def test_a_comma_further_back_than_the_limit_does_not_move_words():
    text = words(0, 50) + ", " + words(50, 80)  # 24 tokens after the comma when the chunk is full
    first, second = prompt_chunks(text, word_ids, SPECIAL)
    assert len(body(first)) == 75 and body(second) == [100 + i for i in range(74, 80)]
    moved = prompt_chunks(text, word_ids, SPECIAL, comma_backtrack=30)
    assert body(moved[0])[-1] == COMMA and len(body(moved[0])) == 51


def test_backtrack_zero_never_moves_words():
    first, _ = prompt_chunks(words(0, 70) + ", " + words(70, 80), word_ids, SPECIAL, comma_backtrack=0)
    assert len(body(first)) == 75


def test_break_closes_the_chunk():
    first, second = prompt_chunks("w1 BREAK w2", word_ids, SPECIAL)
    assert body(first) == [101] and body(second) == [102]
    assert len(prompt_chunks("w1 BREAK", word_ids, SPECIAL)) == 1
    leading = prompt_chunks("BREAK w1", word_ids, SPECIAL)
    assert len(leading) == 2 and body(leading[0]) == [] and body(leading[1]) == [101]


def test_emphasis_weights_follow_their_tokens():
    (chunk,) = prompt_chunks("w1 (w2:1.5) [w3]", word_ids, SPECIAL)
    assert chunk.weights[:5] == pytest.approx([1.0, 1.0, 1.5, 1 / 1.1, 1.0])


def test_emphasis_none_reads_brackets_and_break_literally():
    def literal(texts):
        assert texts == ["(w1) BREAK w2"]
        return [[7, 8, 9]]
    (chunk,) = prompt_chunks("(w1) BREAK w2", literal, SPECIAL, emphasis="None")
    assert body(chunk) == [7, 8, 9] and set(chunk.weights) == {1.0}


def test_openclip_pads_with_zero_after_the_first_end():
    ids = chunk_ids(prompt_chunks("w1", word_ids, OPENCLIP_LIKE) + [empty_chunk(OPENCLIP_LIKE)], OPENCLIP_LIKE)
    assert ids[0, :4].tolist() == [START, 101, END, 0] and set(ids[0, 3:].tolist()) == {0}
    assert ids[1, :3].tolist() == [START, END, 0]


# -- encoding -------------------------------------------------------------------------------------
def test_batch_is_padded_with_empty_chunks(model):
    enc = encoder(model)
    long_text = words(0, 100)
    cond = enc(["w1", long_text])
    assert cond.shape == (2, 2 * CHUNK_LENGTH, 8)
    assert [c.shape[0] for c in model.calls] == [2, 2]
    assert model.calls[1][0].tolist() == empty_chunk(SPECIAL).tokens
    torch.testing.assert_close(cond[0, CHUNK_LENGTH:], enc([""])[0])


def test_chunks_are_encoded_separately_and_concatenated(model):
    enc = encoder(model)
    cond = enc([words(0, 80)])
    first, second = prompt_chunks(words(0, 80), word_ids, SPECIAL)
    with torch.no_grad():
        expected = torch.cat([model(chunk_ids([first], SPECIAL)), model(chunk_ids([second], SPECIAL))], dim=1)
    torch.testing.assert_close(cond, expected)


def test_original_emphasis_scales_rows_then_restores_the_mean(model):
    plain = encoder(model)(["w1 w2 w3"])
    weighted = encoder(model)(["w1 (w2:1.5) w3"])
    scaled = plain.clone()
    scaled[:, 2] *= 1.5
    torch.testing.assert_close(weighted, scaled * (plain.mean() / scaled.mean()))
    torch.testing.assert_close(weighted.mean(), plain.mean())


def test_no_norm_only_scales_and_ignore_leaves_values(model):
    plain = encoder(model)(["w1 w2 w3"])
    no_norm = encoder(model, emphasis="No norm")(["w1 (w2:1.5) w3"])
    expected = plain.clone()
    expected[:, 2] *= 1.5
    torch.testing.assert_close(no_norm, expected)
    torch.testing.assert_close(encoder(model, emphasis="Ignore")(["w1 (w2:1.5) w3"]), plain)


def test_original_mean_is_over_the_whole_batch_like_the_webui(model):
    texts = ["w1 (w2:1.8) w3", "w4 w5"]
    together = encoder(model)(texts)
    z = torch.cat([encoder(model, emphasis="Ignore")([t]) for t in texts])
    scaled = z.clone()
    scaled[0, 2] *= 1.8
    torch.testing.assert_close(together, scaled * (z.mean() / scaled.mean()))
    alone = encoder(model)([texts[1]])
    assert not torch.allclose(together[1], alone[0])  # the emphasised neighbour changed its scale


def test_encode_each_is_each_text_alone(model):
    enc = encoder(model)
    texts = ["w1 (w2:1.8) w3", words(0, 90), "[w4] BREAK w5 w6"]
    rows = enc.encode_each(texts)
    assert [r.shape[0] for r in rows] == [77, 154, 154]
    for text, row in zip(texts, rows):
        torch.testing.assert_close(row, enc([text])[0], atol=1e-6, rtol=1e-5)


def test_all_ones_weights_never_divide_zero_means():
    z = torch.zeros(1, CHUNK_LENGTH, 4)
    assert torch.equal(apply_emphasis(z, torch.ones(1, CHUNK_LENGTH), "Original"), z)
    assert torch.equal(apply_emphasis(z, torch.ones(1, CHUNK_LENGTH), "Original", per_row=True), z)


def test_pooled_output_of_the_first_chunk_is_returned(model):
    def with_pooled(ids):
        z = model(ids)
        return z, z[:, 0] * 2
    cond, pooled = PromptEncoder(word_ids, with_pooled, SPECIAL).encode(["w1", words(0, 90)])
    assert cond.shape[1] == 154 and pooled.shape == (2, 8)
    torch.testing.assert_close(pooled, cond[:, 0] * 2)


def test_bad_settings_are_named(model):
    with pytest.raises(InvalidOptionError, match="emphasis 'strong' is not one of Original, No norm"):
        encoder(model, emphasis="strong")
    with pytest.raises(InvalidOptionError, match="comma backtrack 80 must be a whole number from 0 to 74"):
        encoder(model, comma_backtrack=80)
