"""tools/webui_env: the offline CLIP tokenizer it writes for the verification webui is CLIP's own."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from hypernet_ext.standalone.tokenizer import shared_tokenizer

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "webui_env"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rebuilt_vocabulary_has_clips_ids():
    """Ids of openai/clip-vit-large-patch14's vocab.json: single characters first in CLIP's byte order."""
    tool = _tool("make_tiny_checkpoint")
    vocab, merges = tool.clip_bpe_files(tool.find_bpe_vocab())
    assert len(vocab) == 49408 and len(merges) == 48894
    # "a photo of a cat" is 320, 1125, 539, 320, 2368 in CLIP; "!" is the first id
    assert [vocab[t] for t in ("a</w>", "photo</w>", "of</w>", "cat</w>", "!", ",</w>")] == [320, 1125, 539, 2368, 0, 267]
    assert (vocab["<|startoftext|>"], vocab["<|endoftext|>"]) == (49406, 49407)


def test_rebuilt_vocabulary_is_the_standalone_tokenizers():
    """The webui side (HF cache) and the standalone side tokenise with one vocabulary, id for id."""
    tool = _tool("make_tiny_checkpoint")
    vocab, _ = tool.clip_bpe_files(tool.find_bpe_vocab())
    assert vocab == shared_tokenizer("clip").encoder
