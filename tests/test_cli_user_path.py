"""The CLI as a user meets it (issue 10): what it prints, what it refuses, in the CLI's words."""

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


def test_train_says_why_it_stopped_in_words_not_the_enum(setup, capsys):
    tmp_path, data = setup
    args = _train_args(tmp_path, data)
    args[args.index("--steps") + 1] = "5"
    args[args.index("--lr") + 1] = "1e-3:2"
    code, out, err = run(capsys, *args)
    assert code == 0 and "Training finished at step 2: the learning-rate schedule ends at step 2" in out
    assert "schedule-finished" not in out + err


def test_preprocess_messages_name_flags_not_python(tmp_path, capsys):
    make_dataset(tmp_path / "raw", count=1)
    argv = ["preprocess", tmp_path / "raw", tmp_path / "out", "--width", "64", "--height", "64"]
    assert run(capsys, *argv)[0] == 0
    code, out, err = run(capsys, *argv)  # again: the output exists and is skipped
    assert code == 0 and "pass --existing replace to redo it" in out and "existing='replace'" not in out


def test_train_on_a_folder_of_sub_folders_names_the_recursive_flag(setup, capsys):
    tmp_path, data = setup
    nested = tmp_path / "nested"
    make_dataset(nested / "inner", count=1)
    code, out, err = run(capsys, *_train_args(tmp_path, nested))
    assert code != 0 and "pass --recursive if the images are in sub-folders" in err
    assert "recursive=True" not in err and "Traceback" not in err


def test_convert_over_an_existing_file_names_the_overwrite_flag(tmp_path, capsys):
    assert run(capsys, "create", "hn", "--dir", tmp_path)[0] == 0
    (tmp_path / "hn.safetensors").write_bytes(b"mine")
    code, out, err = run(capsys, "convert", tmp_path / "hn.pt", tmp_path / "hn.safetensors")
    assert code != 0 and "--overwrite" in err and "overwrite=True" not in err
    assert (tmp_path / "hn.safetensors").read_bytes() == b"mine"


def test_core_option_names_become_flags_and_other_words_stay():
    from hypernet_ext.cli_wording import cli_message
    assert cli_message("raise auto_threshold or widen; batch_size=0 must be >= 1") == \
        "raise --auto-threshold or widen; --batch-size 0 must be >= 1"
    assert cli_message("set flip=False; Give data_dir") == "pass --no-flip; Give --data"
    assert cli_message("the finished step, steps and data") == "the finished step, steps and data"
    path_text = "no images in '/tmp/data_dir/batch_size' or batch_size.txt"
    assert cli_message(path_text) == path_text
