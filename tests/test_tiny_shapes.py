"""The embedded tiny-shapes model: its file format, its training script, and what the shipped weights draw."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hypernet_ext.standalone.model_config import infer_model_config
from hypernet_ext.standalone.tiny_shapes import (METRICS_PATH, TINY_SHAPES, TOKEN_EMBEDDING_KEY, TOKEN_IDS_KEY,
                                                 TOKEN_ROWS_KEY, WEIGHTS_PATH, caption_token_ids,
                                                 pack_token_embedding, shapes_checkpoint, unpack_token_embedding)

ROOT = Path(__file__).resolve().parents[1]


def test_token_rows_pack_and_unpack_exactly():
    from tests.helpers_models import tiny_weights

    weights, _ = tiny_weights("sd1")
    ids = caption_token_ids()
    packed = pack_token_embedding(weights, ids)
    assert TOKEN_EMBEDDING_KEY not in packed and packed[TOKEN_ROWS_KEY].shape == (len(ids), 768)
    restored = unpack_token_embedding(packed)
    assert set(restored) == set(weights)
    full, original = restored[TOKEN_EMBEDDING_KEY], weights[TOKEN_EMBEDDING_KEY]
    assert torch.equal(full[ids], original[ids])
    others = torch.ones(len(full), dtype=torch.bool)
    others[ids] = False
    assert not full[others].any()
    with pytest.raises(Exception, match="tiny_shapes.token_ids"):
        unpack_token_embedding({k: v for k, v in packed.items() if k != TOKEN_IDS_KEY})


@pytest.mark.slow
def test_training_script_writes_a_loadable_model(tmp_path):
    out = tmp_path / "shapes.safetensors"
    command = [sys.executable, str(ROOT / "tools" / "train_tiny_shapes.py"), "--preset", "smoke", "--out", str(out),
               "--threads", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert metrics["vae"]["steps"] == 2 and metrics["unet"]["steps"] == 2 and metrics["preset"] == "smoke"
    assert 0.0 <= metrics["evaluation"]["colour_accuracy"] <= 1.0
    weights, metadata = shapes_checkpoint(out)
    assert infer_model_config(weights) == TINY_SHAPES and metadata["modelspec.architecture"] == "stable-diffusion-v1"
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 2 and "--overwrite" in again.stderr


@pytest.fixture(scope="module")
def shapes_host():
    from hypernet_ext.standalone import load_host

    return load_host("tiny-shapes")


def test_shipped_weights_are_an_sd1_checkpoint_with_recorded_metrics():
    weights, metadata = shapes_checkpoint()
    assert infer_model_config(weights) == TINY_SHAPES
    assert metadata["modelspec.architecture"] == "stable-diffusion-v1" and metadata["hypernet_ext.seed"] == "0"
    metrics = json.loads(METRICS_PATH.read_text())
    assert metrics["seed"] == 0 and metrics["weights_bytes"] == WEIGHTS_PATH.stat().st_size
    assert metrics["evaluation"]["colour_accuracy"] >= 0.8 and metrics["evaluation"]["background_accuracy"] >= 0.8
    assert metrics["unet"]["final_loss"] < 0.2 * metrics["unet"]["first_loss"]


def test_shipped_model_loads_like_any_sd1_checkpoint(shapes_host, tmp_path):
    from hypernet_ext.standalone import load_host
    from hypernet_ext.standalone.tiny_shapes import export_checkpoint

    assert shapes_host.attention_widths[0] == 768 and shapes_host.parameterization == "eps"
    exported = export_checkpoint(tmp_path / "tiny-shapes-sd1.safetensors")
    host = load_host(exported)
    prompt = "a red circle on a blue background"
    assert torch.allclose(host.encode_text([prompt]), shapes_host.encode_text([prompt]), atol=1e-2)


@pytest.mark.slow
def test_prompted_colours_and_backgrounds_are_drawn(shapes_host):
    """Every shape colour with three shapes each: rates measured on generated images (seed not in training)."""
    from hypernet_ext.standalone.shapes_data import SHAPE_COLOURS, SHAPES
    from hypernet_ext.standalone.tiny_shapes import prompt_accuracy

    pairs = [(colour, SHAPES[(i + k) % len(SHAPES)]) for i, colour in enumerate(SHAPE_COLOURS) for k in range(3)]
    found = prompt_accuracy(shapes_host, pairs, seed=7)
    colour_rate, background_rate = found["colour_hits"] / len(pairs), found["background_hits"] / len(pairs)
    assert colour_rate >= 0.8, f"colour matches the prompt in {colour_rate:.0%} of {len(pairs)} images"
    assert background_rate >= 0.8, f"background matches the prompt in {background_rate:.0%} of {len(pairs)} images"
