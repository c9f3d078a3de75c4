"""The README's main job: the whole pipeline on the tiny model (2 steps keep it short)."""
from pathlib import Path

import pytest
from PIL import Image

from hypernet_ext.demo import run_demo, write_sample_images
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.storage import load_hypernetwork, load_optimizer_state


def test_sample_images_have_captions_and_one_broken_file(tmp_path):
    paths = write_sample_images(tmp_path, count=4)
    assert len(paths) == 4
    for path in paths:
        assert Image.open(path).size[0] >= 96
        assert "colours" in path.with_suffix(".txt").read_text()
    assert (tmp_path / "broken.png").exists()


def test_demo_trains_resumes_and_generates(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, steps=2)
    final = Path(summary["final"])
    assert final.name == "demo-2.pt" and load_hypernetwork(final).step == 2
    first = Path(summary["checkpoints"][0])
    assert first.name == "demo-1.pt" and load_optimizer_state(first).matches
    assert all(Path(p).exists() for p in summary["previews"] + summary["generated"])
    assert summary["pixel_difference"] > 0, "the trained hypernetwork must change the image"
    with pytest.raises(InvalidOptionError, match="not empty"):
        run_demo(out, steps=2)
