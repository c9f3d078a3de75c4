"""`python -m hypernet_ext`: exit codes 0/1/2/130 and messages, with the tiny model."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from hypernet_ext.cli import SUBCOMMANDS, Subcommand, build_parser, main
from hypernet_ext.storage import load_hypernetwork

from helpers_training import make_dataset


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_info_and_refusing_to_overwrite(tmp_path, capsys):
    code, out, _ = run(capsys, "create", "mine", "--dir", tmp_path, "--sizes", "768,32", "--layer-structure",
                       "1,1.5,1", "--activation", "relu", "--layer-norm", "--dropout", "0,0.3,0", "--seed", "1")
    assert code == 0 and "mine.pt" in out
    hn = load_hypernetwork(tmp_path / "mine.pt")
    assert hn.sizes == (768, 32) and hn.config.layer_norm and hn.config.activation == "relu"
    code, out, _ = run(capsys, "info", tmp_path / "mine.pt", "--json")
    assert code == 0 and json.loads(out)["sizes"] == [768, 32]
    code, _, err = run(capsys, "create", "mine", "--dir", tmp_path)
    assert code == 1 and "already exists" in err and "Traceback" not in err
    code, _, _ = run(capsys, "create", "st", "--dir", tmp_path, "--format", "safetensors")
    assert code == 0 and (tmp_path / "st.safetensors").is_file()


@pytest.mark.parametrize("argv,needle", [
    (["create", "x", "--dir", ".", "--layer-structure", "2,1"], "must start and end with 1"),
    (["create", "x", "--dir", ".", "--activation", "nope"], "Unknown activation"),
])
def test_bad_create_options_exit_2(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", "tiny"])
    assert exc.value.code == 2 and "required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_info_of_missing_file_exits_1(tmp_path, capsys):
    code, _, err = run(capsys, "info", tmp_path / "missing.pt")
    assert code == 1 and "no such file" in err


@pytest.fixture
def setup(tmp_path, capsys):
    run(capsys, "create", "hn", "--dir", tmp_path, "--sizes", "32,64")
    return tmp_path, make_dataset(tmp_path / "data")


def _train_args(tmp_path, data, *extra):
    return ["train", "--model", "tiny", "--hypernetwork", tmp_path / "hn.pt", "--data", data,
            "--log-dir", tmp_path / "log", "--steps", "2", "--lr", "1e-3", "--save-every", "1",
            "--preview-every", "0", *extra]


def test_train_and_resume(setup, capsys):
    tmp_path, data = setup
    code, out, _ = run(capsys, *_train_args(tmp_path, data, "--optimizer-arg", "weight_decay=0.0", "--clip", "norm:1"))
    assert code == 0 and "finished at step 2" in out
    checkpoint = tmp_path / "log" / "hypernetworks" / "hn-2.pt"
    assert load_hypernetwork(checkpoint).step == 2
    args = _train_args(tmp_path, data, "--resume")
    args[args.index("--steps") + 1] = "3"
    args[args.index("--hypernetwork") + 1] = checkpoint
    code, out, _ = run(capsys, *args)
    assert code == 0 and load_hypernetwork(tmp_path / "log" / "hypernetworks" / "hn-3.pt").step == 3


@pytest.mark.parametrize("extra,needle", [
    (["--lr", "fast"], "does not start with a number"),
    (["--size", "big"], "WIDTHxHEIGHT"),
    (["--clip", "max:1"], "norm:V"),
    (["--optimizer", "Adamm"], "Unknown optimizer"),
    (["--resume"], "optimizer state"),
])
def test_bad_train_options_exit_2(setup, capsys, extra, needle):
    tmp_path, data = setup
    code, _, err = run(capsys, *_train_args(tmp_path, data, *extra))
    assert code == 2 and needle in err and "Traceback" not in err


def test_train_failures_exit_1(setup, capsys):
    tmp_path, data = setup
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, *_train_args(tmp_path, tmp_path / "empty"))
    assert code == 1 and "no images" in err
    args = _train_args(tmp_path, data, "--lr", "1e-3:1, 1e12", "--optimizer", "SGD")
    args[args.index("--steps") + 1] = "5"
    code, _, err = run(capsys, *args)
    assert code == 1 and "diverged" in err and "Lower the learning rate" in err


def test_missing_data_dir_exits_2(setup, capsys):
    tmp_path, _ = setup
    code, _, err = run(capsys, *_train_args(tmp_path, tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err


def test_generate_with_prompt_tag(setup, capsys):
    tmp_path, _ = setup
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "generate", "--model", "tiny", "--hypernetwork-dir", tmp_path, "--prompt",
                            "a cat <hypernet:hn:0.8> <hypernet:missing>", "--out", out, "--steps", "2")
    assert code == 0 and "hn:0.8" in stdout and "missing" in err
    assert Image.open(out).size == (64, 64)
    code, _, err = run(capsys, "generate", "--model", "tiny", "--hypernetwork-dir", tmp_path, "--prompt", "x",
                       "--out", out, "--steps", "2")
    assert code == 2 and "already exists" in err


def test_subcommand_table_is_extensible():
    assert {"create", "train", "generate", "info", "preprocess"} <= set(SUBCOMMANDS)
    SUBCOMMANDS["echo"] = Subcommand("test", add_arguments=lambda p: p.add_argument("word"),
                                     run=lambda args: len(args.word))
    try:
        assert main(["echo", "abc"]) == 3
        assert "echo" in build_parser().format_help()
    finally:
        del SUBCOMMANDS["echo"]


def test_module_entry_point(tmp_path):
    root = str(Path(__file__).resolve().parents[1])
    command = [sys.executable, "-m", "hypernet_ext"]
    done = subprocess.run(command + ["create", "a", "--dir", str(tmp_path), "--sizes", "32"],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0 and (tmp_path / "a.pt").is_file()
    done = subprocess.run(command + ["info"], capture_output=True, text=True, cwd=root)
    assert done.returncode == 2 and "usage" in done.stderr


def test_convert_both_ways_keeps_weights_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["create", "conv", "--dir", str(tmp_path), "--sizes", "64", "--activation", "relu",
                 "--layer-norm", "--seed", "3"]) == 0
    src = tmp_path / "conv.pt"
    st = tmp_path / "conv.safetensors"
    back = tmp_path / "back.pt"
    assert main(["convert", str(src), str(st)]) == 0
    assert main(["convert", str(st), str(back)]) == 0
    original, round_trip = load_hypernetwork(src), load_hypernetwork(back)
    for (key, a), (_, b) in zip(original.state_dict().items(), round_trip.state_dict().items()):
        assert torch.equal(a, b), key
    capsys.readouterr()
    assert main(["convert", str(src), str(st)]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["convert", str(src), str(st), "--overwrite"]) == 0


def test_generate_writes_the_requested_type_with_webui_infotext(setup, capsys):
    from hypernet_ext.image_output import read_infotext
    from hypernet_ext.infotext import parse_hashes
    from hypernet_ext.storage import short_hash
    tmp_path, _ = setup
    out = tmp_path / "out.jpg"
    prompt = "a cat <hypernet:hn:0.8>"
    code, _, err = run(capsys, "generate", "--model", "tiny", "--hypernetwork-dir", tmp_path, "--prompt", prompt,
                       "--negative-prompt", "dog", "--out", out, "--steps", "2", "--seed", "5")
    assert code == 0, err
    data = out.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG, not a PNG under a .jpg name
    lines = read_infotext(data).split("\n")
    assert lines[0] == prompt and lines[1] == "Negative prompt: dog"
    assert "Steps: 2" in lines[2] and "Seed: 5" in lines[2] and "Size: 64x64" in lines[2] and "Model: tiny" in lines[2]
    hashes = lines[2].split('Hypernet hashes: ')[1]
    assert parse_hashes(json.loads(hashes)) == {"hn": short_hash(tmp_path / "hn.pt")}


@pytest.mark.parametrize("argv,needle", [
    (["--out", "x.gif"], "end the name with one of .png"),
    (["--out", "x.png", "--size", "60x64"], "use 32x64 or 64x64"),
])
def test_generate_refuses_unwritable_type_and_undrawable_size(setup, capsys, argv, needle):
    tmp_path, _ = setup
    argv = [a if not a.startswith("x.") else str(tmp_path / a) for a in argv]
    code, _, err = run(capsys, "generate", "--model", "tiny", "--hypernetwork-dir", tmp_path, "--prompt", "x",
                       "--steps", "1", *argv)
    assert code == 2 and needle in err, err
    assert not any(tmp_path.glob("x.*"))
