"""The CLI as a user meets it (issue 10): what it prints, what it refuses, in the CLI's words."""
from pathlib import Path

import pytest
from PIL import Image

from hypernet_ext.cli import main

from helpers_training import make_dataset


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def setup(tmp_path, capsys):
    assert run(capsys, "create", "hn", "--dir", tmp_path, "--sizes", "32,64")[0] == 0
    return tmp_path, make_dataset(tmp_path / "data")


def _train_args(tmp_path, data, *extra):
    return ["train", "--model", "tiny", "--hypernetwork", tmp_path / "hn.pt", "--data", data,
            "--log-dir", tmp_path / "log", "--steps", "2", "--lr", "1e-3", "--save-every", "0",
            "--preview-every", "0", *extra]


def test_train_prints_a_dataset_summary_before_training(setup, capsys):
    tmp_path, data = setup
    (data / "broken.png").write_bytes(b"not an image")
    Image.new("RGB", (64, 64)).save(data / "no_caption.png")
    code, out, err = run(capsys, *_train_args(tmp_path, data))
    assert code == 0, err
    summary = err[:err.index("Training hn")] if "Training hn" in err else err
    assert "4 image(s) used (3 caption(s) from .txt files, 1 from file names)" in summary
    assert "64x64: 4" in summary
    assert "1 file(s) skipped" in summary and "broken.png" in summary


def test_preprocess_an_empty_folder_says_so_and_fails(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    code, out, err = run(capsys, "preprocess", tmp_path / "raw", tmp_path / "out", "--width", "64", "--height", "64")
    assert code != 0 and "the folder is empty" in err and "Traceback" not in err


def test_preprocess_only_subfolders_fails_with_the_recursive_flag(tmp_path, capsys):
    make_dataset(tmp_path / "raw" / "set1", count=1)
    code, out, err = run(capsys, "preprocess", tmp_path / "raw", tmp_path / "out", "--width", "64", "--height", "64")
    assert code != 0 and "only sub-folders (set1)" in err
    assert "--recursive" in err and "recursive=True" not in err


def test_preprocess_mentions_skipped_subfolders_with_the_recursive_flag(tmp_path, capsys):
    make_dataset(tmp_path / "raw", count=1)
    make_dataset(tmp_path / "raw" / "more", count=1)
    code, out, err = run(capsys, "preprocess", tmp_path / "raw", tmp_path / "out", "--width", "64", "--height", "64")
    assert code == 0 and "Preprocessed 1 image(s)" in out
    assert "1 sub-folder(s) skipped (more); pass --recursive" in out


def test_previews_of_every_step_use_the_same_prompt_and_seed(setup, capsys):
    """With no preview prompt, every step previews the dataset's first caption (not the batch's)."""
    tmp_path, data = setup
    args = _train_args(tmp_path, data, "--batch-size", "1")
    args[args.index("--steps") + 1] = "4"
    args[args.index("--preview-every") + 1] = "1"
    code, out, err = run(capsys, *args)
    assert code == 0, err
    texts = sorted((tmp_path / "log").rglob("images/*.txt"))
    assert len(texts) == 4
    prompts = {t.read_text().strip() for t in texts}
    assert len(prompts) == 1 and "tag0" in prompts.pop()  # img0.png's caption: "a photo, tag0, red"
