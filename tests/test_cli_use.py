"""`runs` and `use` on the command line: after create -> train, the trained checkpoint becomes a tag name."""

import pytest

from hypernet_ext.cli import main
from hypernet_ext.library import HypernetworkLibrary

from helpers_training import make_dataset, same_weights, state


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """create hn in hypernetworks/, then train it 2 steps on the tiny model, saving every step."""
    tmp = tmp_path_factory.mktemp("use")
    assert main(["create", "hn", "--dir", str(tmp / "hypernetworks"), "--sizes", "32,64"]) == 0
    data = make_dataset(tmp / "data")
    assert main(["train", "--model", "tiny", "--hypernetwork", str(tmp / "hypernetworks" / "hn.pt"), "--data",
                 str(data), "--log-dir", str(tmp / "log"), "--steps", "2", "--lr", "1e-2", "--save-every", "1",
                 "--preview-every", "0"]) == 0
    return tmp


def test_runs_lists_each_checkpoint_with_its_path(trained, capsys):
    code, out, err = run(capsys, "runs", "--log-dir", trained / "log")
    assert code == 0, err
    [checkpoint] = (trained / "log" / "hn").glob("*/hypernetworks/hn-2.pt")
    run_name = checkpoint.parent.parent.relative_to(trained / "log").as_posix()
    assert out.splitlines()[0] == run_name
    assert f"step       2  loss " in out and str(checkpoint) in out
    assert "python -m hypernet_ext use CHECKPOINT --name NAME" in out
    code, out, err = run(capsys, "runs", "--log-dir", trained / "missing")
    assert code == 2 and "--log-dir" in err and "no such folder" in err


def test_use_copies_the_trained_checkpoint_and_refuses_to_overwrite(trained, capsys):
    [checkpoint] = (trained / "log" / "hn").glob("*/hypernetworks/hn-2.pt")
    hypernetworks = trained / "hypernetworks"
    before = checkpoint.read_bytes()
    code, out, err = run(capsys, "use", checkpoint, "--name", "hn-trained", "--dir", hypernetworks)
    assert code == 0, err
    assert "<hypernet:hn-trained:1>" in out
    copy = hypernetworks / "hn-trained.pt"
    assert copy.read_bytes() == before == checkpoint.read_bytes()
    library = HypernetworkLibrary(hypernetworks)
    assert same_weights(library.load("hn-trained").state_dict(), state(checkpoint))
    assert not same_weights(library.load("hn").state_dict(), state(checkpoint))  # training changed the weights

    code, out, err = run(capsys, "use", checkpoint, "--name", "hn", "--dir", hypernetworks)
    assert code == 1 and "already exists" in err and "pass --overwrite" in err and "overwrite=True" not in err
    assert not same_weights(state(hypernetworks / "hn.pt"), state(checkpoint))
    code, out, err = run(capsys, "use", checkpoint, "--name", "hn", "--dir", hypernetworks, "--overwrite")
    assert code == 0 and (hypernetworks / "hn.pt").read_bytes() == before


def test_use_a_run_by_name_and_step(trained, capsys):
    [run_folder] = (trained / "log" / "hn").iterdir()
    run_name = run_folder.relative_to(trained / "log").as_posix()
    code, out, err = run(capsys, "use", run_name, "--step", "1", "--log-dir", trained / "log", "--dir",
                         trained / "other")
    assert code == 0, err
    assert (trained / "other" / "hn-1.pt").read_bytes() == (run_folder / "hypernetworks" / "hn-1.pt").read_bytes()
    code, out, err = run(capsys, "use", run_name, "--step", "7", "--log-dir", trained / "log", "--dir",
                         trained / "other")
    assert code == 2 and "no checkpoint at step 7; its checkpoints are at steps 1, 2" in err
