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
