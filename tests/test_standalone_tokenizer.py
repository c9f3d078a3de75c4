"""The CLIP BPE tokenizer built from open-clip-torch's vocabulary file."""
import gzip
import importlib.util
import json

import pytest

from hypernet_ext.standalone.tokenizer import MERGE_COUNT, ClipTokenizer, default_vocab_path


@pytest.fixture(scope="module")
def tokenizer():
    return ClipTokenizer()


def test_known_clip_ids(tokenizer):
    ids = tokenizer(["a photo of a cat"])[0].tolist()
    assert ids[:7] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer.vocab_size == 49408


def test_padding_and_truncation(tokenizer):
    sd1 = tokenizer(["a cat"])[0].tolist()
    sd2 = tokenizer(["a cat"], pad_id=0)[0].tolist()
    assert len(sd1) == len(sd2) == 77
    assert sd1[3:] == [49407] * 74
    assert sd2[:4] == [49406, 320, 2368, 49407] and sd2[4:] == [0] * 73
    long = tokenizer(["cat " * 200], pad_id=0)[0].tolist()
    assert long[0] == 49406 and long[76] == 49407 and long[1:76] == [2368] * 75


def test_matches_transformers_clip_tokenizer(tokenizer, tmp_path):
    from transformers import CLIPTokenizer

    (tmp_path / "vocab.json").write_text(json.dumps(tokenizer.encoder), encoding="utf-8")
    with gzip.open(default_vocab_path(), "rt", encoding="utf-8") as handle:
        merges = handle.read().split("\n")[:MERGE_COUNT + 1]
    (tmp_path / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
    reference = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    texts = ["masterpiece, best quality, 1girl, (red hair:1.2), looking at viewer",
             "Don't STOP   me now!!  42 cats", "café naïve façade", "日本語のテキスト and emoji 🙂",
             "<lora:foo:0.5> [a|b] {c} a_b-c.d/e\\f", "it's we're they've I'm we'll he'd"]
    for text in texts:
        assert tokenizer.encode(text) == reference(text, add_special_tokens=False)["input_ids"], text


def test_openclip_style_unescapes_html():
    clip, openclip = ClipTokenizer(style="clip"), ClipTokenizer(style="openclip")
    assert openclip.encode("fish &amp; chips") == openclip.encode("fish & chips")
    # SD1's CLIPTokenizer unescapes too, through ftfy, when ftfy is installed (as in the webui).
    ftfy_installed = importlib.util.find_spec("ftfy") is not None
    assert (clip.encode("fish &amp; chips") == clip.encode("fish & chips")) == ftfy_installed
