"""compare.py: grid layout (columns = hypernetworks, rows = seeds), labels, infotext, CLI."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypernet_ext import create_hypernetwork
from hypernet_ext.attach import attach_hypernetworks
from hypernet_ext.cli import main
from hypernet_ext.compare import CompareSettings, parse_seeds, render_grid, save_grid
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.standalone import load_host
from hypernet_ext.storage import load_hypernetwork, save_hypernetwork, short_hash
from hypernet_ext.training.validation import ValidationLog


@pytest.fixture(scope="module")
def host():
    return load_host("tiny")


def _checkpoints(host, run):
    paths = []
    for step, seed in ((10, 1), (20, 2)):
        hn = create_hypernetwork("hn", sizes=host.attention_widths, seed=seed, init_std=0.3)
        hn.step = step
        paths.append(save_hypernetwork(hn, run / "hypernetworks" / f"hn-{step}.pt"))
    log = ValidationLog(run)
    log.add(10, 0.123456, str(paths[0]))
    return paths


def test_seeds():
    assert parse_seeds("1,2,3") == [1, 2, 3] and parse_seeds("4-6, 1,4") == [4, 5, 6, 1]
    assert parse_seeds("-1") == [-1]
    for bad in ("", "a", "1-x"):
        with pytest.raises(InvalidOptionError, match="--seeds"):
            parse_seeds(bad)


def test_grid_layout_labels_and_cells(host, tmp_path):
    paths = _checkpoints(host, tmp_path / "run")
    settings = CompareSettings("a photo", [3, 4], width=64, height=64, steps=2, with_baseline=True)
    grid = render_grid(host, paths, settings, command="python -m hypernet_ext compare ...")
    assert [c.path for c in grid.columns] == [None, *paths]
    assert grid.columns[0].label[0] == "none"
    assert grid.columns[1].label == ["hn-10.pt", "step 10", "val 0.12346"]
    assert grid.columns[2].label == ["hn-20.pt", "step 20", "val -"]
    assert grid.cell_size == (64, 64)
    margin_w, header_h = grid.origin
    assert header_h >= 3 * 12 and margin_w > 0
    assert grid.image.size == (margin_w + 3 * 64, header_h + 2 * 64)
    # each cell is the image of its column's hypernetwork at its row's seed
    for c, r in ((0, 0), (2, 1)):  # two of the six cells (generation is slow on a busy CPU)
        path, seed = [None, *paths][c], [3, 4][r]
        pairs = [] if path is None else [(load_hypernetwork(path), 1.0)]
        with attach_hypernetworks(host.unet, pairs):
            expected = host.generate("a photo", "", steps=2, cfg_scale=7.0, seed=seed, width=64, height=64)
        cell = grid.image.crop(grid.cell_box(c, r))
        assert np.array_equal(np.asarray(cell), np.asarray(expected.convert("RGB")))
    assert not np.array_equal(np.asarray(grid.cells[(0, 0)]), np.asarray(grid.cells[(1, 0)]))
    # labels are drawn in the margins (not blank) and nothing covers the cells
    header = np.asarray(grid.image.crop((margin_w, 0, margin_w + 64, header_h)))
    assert (header < 128).any()
    info = grid.infotext
    assert "Seeds: 3,4" in info and "Size: 64x64" in info and "Steps: 2" in info
    assert f"[{short_hash(paths[0])}]" in info and "Command: python -m hypernet_ext compare" in info


def test_cli_writes_png_with_infotext(host, tmp_path, capsys):
    paths = _checkpoints(host, tmp_path / "run")
    out = tmp_path / "grid.png"
    args = ["compare", "--model", "tiny", "--hypernetworks", *map(str, paths), "--seeds", "5",
            "--prompt", "a cat", "--steps", "2", "--out", str(out)]
    assert main(args) == 0
    image = Image.open(out)
    params = image.text["parameters"]
    assert params.startswith("a cat\n") and "--seeds 5" in params and "hn-20.pt" in params
    assert "2 column(s) x 1 seed(s)" in capsys.readouterr().out
    assert main(args) == 2  # never overwrites unasked
    assert main(["compare", "--model", "tiny", "--hypernetworks", str(tmp_path / "nope.pt"), "--prompt", "x",
                 "--out", str(tmp_path / "g2.png")]) == 2


def test_resume_tab_compare_saves_the_grid_in_the_run(host, tmp_path):
    import dataclasses
    from hypernet_ext.ui.compare_section import compare_checkpoints
    from hypernet_ext.training.run_folder import list_checkpoints

    from helpers_ui import make_context
    run = tmp_path / "runs" / "hn"
    _checkpoints(host, run)
    ctx = make_context(tmp_path, host, widths=host.attention_widths)
    labels = [c.label() for c in list_checkpoints(str(run))]
    path, note = compare_checkpoints(str(run), labels[1:], "7", "a dog", "", False, ctx)
    assert path is None and "cannot render" in note  # a host without image rendering says what to use
    ctx = dataclasses.replace(ctx, generate_available=True)
    path, note = compare_checkpoints(str(run), labels, "7", "a dog", "", True, ctx)
    assert path is not None and "3 column(s) x 1 seed(s)" in note
    assert Path(path).parent == run and Image.open(path).size[1] > 64
    assert "hn-10.pt" in Image.open(path).text["parameters"]
    for bad in ((str(run), [], "7", "a dog"), (str(run), labels, "7", " "), ("", labels, "7", "x"),
                (str(run), labels, "x", "a dog")):
        assert compare_checkpoints(*bad, "", False, ctx)[0] is None
