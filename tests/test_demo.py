"""The README's main job: the whole pipeline on the embedded tiny-shapes model (2 steps keep it short)."""
from pathlib import Path

import pytest
from PIL import Image

from hypernet_ext.demo import HELD_OUT_PROMPTS, run_demo, write_sample_images
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone.shapes_data import palette_distance
from hypernet_ext.storage import load_hypernetwork, load_optimizer_state


def test_sample_images_are_blueprint_captioned_shapes_without_the_held_out_pairs(tmp_path):
    import numpy as np

    paths = write_sample_images(tmp_path, count=12)
    held_out = {tuple(p.split()[1:3]) for p in HELD_OUT_PROMPTS}
    distances, captioned_colours = [], set()
    for path in paths:
        caption = path.with_suffix(".txt").read_text()
        words = caption.split()
        assert words[0] == "a" and (words[-1] == "background" or len(words) <= 4)
        assert tuple(w for w in words[1:4] if w not in ("small", "large"))[:2] not in held_out
        image = Image.open(path)
        assert image.size == (96, 96)
        distances.append(palette_distance(np.asarray(image.convert("RGB"))))
        captioned_colours.add(words[-2] if words[-1] == "background" else None)
    assert max(distances) < 10, "white on plain blue (antialiased edges aside)"
    assert len(captioned_colours - {None}) >= 3, "the captions name the scene's colours, not the drawn ones"
    assert (tmp_path / "broken.png").exists()


def test_demo_trains_resumes_and_compares(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, steps=2)
    final = Path(summary["final"])
    assert final.name == "demo-2.pt" and load_hypernetwork(final).step == 2
    first = Path(summary["checkpoints"][0])
    assert first.name == "demo-1.pt" and load_optimizer_state(first).matches
    assert all(Path(p).exists() for p in summary["previews"])
    grid = Image.open(summary["grid"])
    assert grid.size == (8 * 128 + 7 * 4, 2 * 128 + 4)
    assert summary["pixel_difference"] > 0, "the trained hypernetwork must change the image"
    with pytest.raises(InvalidOptionError, match="not empty"):
        run_demo(out, steps=2)
