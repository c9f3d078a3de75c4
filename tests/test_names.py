"""One name per hypernetwork (issue 10): the file name, in tags, run folders, checkpoints, live views and messages,
even when the name stored inside the file differs (`bk10.pt` that says "tinynet")."""
from __future__ import annotations

from pathlib import Path

import pytest

from hypernet_ext import create_hypernetwork
from hypernet_ext.cli import main
from hypernet_ext.library import HypernetworkLibrary
from hypernet_ext.standalone import load_host
from hypernet_ext.storage import load_hypernetwork, save_hypernetwork
from hypernet_ext.tagged_generation import generate_with_tags
from hypernet_ext.training.run_folder import list_checkpoints, list_runs
from hypernet_ext.ui.live import live_values
from hypernet_ext.ui.resume_panel import resume_html
from hypernet_ext.ui.train_panel import start_html

from helpers_training import make_dataset
from helpers_ui import make_context, train_values


@pytest.fixture(scope="module")
def host():
    return load_host("tiny")


def _renamed_file(folder: Path, sizes) -> Path:
    """`bk10.pt` whose stored name is "tinynet" (a renamed copy, or a file another tool named)."""
    folder.mkdir(parents=True, exist_ok=True)
    return save_hypernetwork(create_hypernetwork("tinynet", sizes=sizes, seed=0), folder / "bk10.pt")


def _stored_names(run: str) -> dict[str, str]:
    return {c.path.stem: load_hypernetwork(c.path).name for c in list_checkpoints(run)}


def test_panels_train_and_resume_under_the_file_name(tmp_path, host):
    ctx = make_context(tmp_path, host, widths=host.attention_widths)
    _renamed_file(tmp_path / "hypernetworks", host.attention_widths)
    data, runs = make_dataset(tmp_path / "data"), tmp_path / "runs"
    start_html(train_values("bk10", data, runs, steps=2, save_every=1, preview_every=2), ctx)
    job = ctx.jobs.wait(120)
    assert job.state == "finished", job.message
    status, _, preview = live_values(ctx.jobs)
    assert "Training bk10" in status and "tinynet" not in status and "tinynet" not in job.message
    assert Path(preview).name == "bk10-2.png"
    [run] = list_runs(str(runs))
    assert Path(run).parent.name == "bk10"
    assert _stored_names(run) == {"bk10-1": "bk10-1", "bk10-2": "bk10-2"}  # each file says its own name
    first = next(c for c in list_checkpoints(run) if c.step == 1)
    resume_html(run, first.label(), 3, ctx)
    job = ctx.jobs.wait(120)
    assert job.state == "finished", job.message
    status, _, _ = live_values(ctx.jobs)
    assert "Training bk10 (from bk10-1.pt)" in status  # the run's name, and the file it continued from
    assert sorted(_stored_names(run)) == ["bk10-1", "bk10-2", "bk10-3"]


def test_cli_names_the_run_after_the_file_and_keeps_it_on_resume(tmp_path, capsys):
    source = _renamed_file(tmp_path, (768, 32, 64, 128))
    data = make_dataset(tmp_path / "data")
    common = ["--model", "tiny", "--steps", "2", "--lr", "1e-3", "--save-every", "1", "--preview-every", "0"]
    assert main(["train", "--hypernetwork", str(source), "--data", str(data), "--log-dir", str(tmp_path / "log"),
                 *common]) == 0
    [run] = list_runs(str(tmp_path / "log"))
    assert Path(run).parent.name == "bk10" and sorted(_stored_names(run)) == ["bk10-1", "bk10-2"]
    resume = Path(run) / "hypernetworks" / "bk10-1.pt"
    common[common.index("--steps") + 1] = "3"
    assert main(["train", "--resume", str(resume), *common]) == 0
    out, err = capsys.readouterr()
    assert sorted(_stored_names(run)) == ["bk10-1", "bk10-2", "bk10-3"]  # not bk10-1-3.pt
    assert "tinynet" not in out + err


def test_applying_a_tag_names_the_file_in_its_warnings(tmp_path, host):
    _renamed_file(tmp_path, (1024,))  # no width the tiny SD1 model has
    result = generate_with_tags(host, HypernetworkLibrary(tmp_path), "a cat <hypernet:bk10:1>",
                                steps=1, seed=1, width=64, height=64)
    assert result.applied == [("bk10", 1.0)]
    assert any(w.startswith("Hypernetwork bk10 ") for w in result.warnings), result.warnings
    assert not any("tinynet" in w for w in result.warnings)
