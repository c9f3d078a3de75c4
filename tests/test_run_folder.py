"""The run folder: where new runs go, listing runs and checkpoints, validation losses, saved settings."""
from __future__ import annotations

import datetime
import json

import pytest

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.training.run_folder import (CHECKPOINT_FOLDER, SETTINGS_FORMAT, list_checkpoints, list_runs,
                                              new_run_dir, resume_options, run_of_checkpoint, safe_component,
                                              saved_option_values, validation_losses, write_settings)

from helpers_training import make_dataset
from helpers_webui import write_hypernetwork

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)


def _run(root, name="style", stamp="20260102-030405", steps=(2, 4), losses=None):
    run = root / name / stamp
    for step in steps:
        write_hypernetwork(run / CHECKPOINT_FOLDER, f"{name}-{step}", seed=step)
    if losses:
        (run / "loss.csv").write_text("step,epoch,epoch_step,loss,learn_rate\n" + "".join(
            f"{s},0,{s},{l},0.001\n" for s, l in losses.items()))
    return run


def test_new_runs_get_folders_of_their_own(tmp_path):
    first = new_run_dir(tmp_path, "style", NOW)
    assert first == tmp_path / "style" / "20260102-030405"
    first.mkdir(parents=True)
    second = new_run_dir(tmp_path, "style", NOW)
    assert second == tmp_path / "style" / "20260102-030405-2"
    assert new_run_dir(tmp_path, "../../etc", NOW).parent.parent == tmp_path  # a name never leaves the root
    assert "/" not in safe_component("a/b\\c") and safe_component("..") == "run"
    with pytest.raises(InvalidOptionError, match="Log directory is empty"):
        new_run_dir("", "style")


def test_runs_are_listed_new_layout_and_old(tmp_path):
    new = _run(tmp_path)
    old = tmp_path / "legacy"
    write_hypernetwork(old / CHECKPOINT_FOLDER, "legacy-2", seed=1)
    assert set(list_runs(str(tmp_path))) == {str(new), str(old)}
    assert run_of_checkpoint(new / CHECKPOINT_FOLDER / "style-2.pt") == new
    with pytest.raises(InvalidOptionError, match="not in a training run"):
        run_of_checkpoint(tmp_path / "style-2.pt")


def test_checkpoints_carry_validation_loss_and_the_best_is_marked(tmp_path):
    run = _run(tmp_path, steps=(2, 4, 6), losses={2: 0.3, 4: 0.2, 6: 0.1})
    assert [c.val_loss for c in list_checkpoints(run)] == [None, None, None]  # no validation.csv: nothing marked
    (run / "validation.csv").write_text("step,val_loss,images\n2,0.5,3\n4,0.25,3\n6,0.4,3\n")
    checkpoints = list_checkpoints(run)
    assert [(c.step, c.loss, c.val_loss, c.best) for c in checkpoints] == \
        [(2, 0.3, 0.5, False), (4, 0.2, 0.25, True), (6, 0.1, 0.4, False)]
    assert "val 0.2500 (best)" in checkpoints[1].label()
    assert validation_losses(tmp_path / "nowhere") == {}


def test_saved_settings_are_versioned_and_old_files_still_read(tmp_path):
    path = write_settings(tmp_path, {"option_values": {"steps": 5}}, "x")
    assert json.loads(path.read_text())["format"] == SETTINGS_FORMAT
    old = {"options": {"steps": 9, "learning_rate": "1e-4", "data": {"data_dir": "d", "name": "n", "seed": 3},
                       "preview": None}}
    assert saved_option_values(old) == {"steps": 9, "learning_rate": "1e-4", "data_dir": "d", "name": "n", "seed": 3}


def test_resume_options_are_the_saved_ones_with_overrides(tmp_path):
    run = _run(tmp_path, steps=(2,))
    data = make_dataset(tmp_path / "data")
    write_settings(run, {"options": {"data": {"data_dir": str(data), "name": "style"}, "preview": None},
                         "option_values": {"steps": 8, "batch_size": 2, "learning_rate": "2e-4", "flip": True,
                                           "width": 64, "height": 64}}, "2026")
    [checkpoint] = list_checkpoints(run)
    options = resume_options(run, checkpoint, {"steps": 12})
    assert (options.steps, options.data.batch_size, options.learning_rate, options.data.flip) == (12, 2, "2e-4", True)
    assert options.log_dir == str(run) and options.hypernetwork == str(checkpoint.path) and not options.resume


def test_live_plot_shows_the_whole_run_after_a_resume(tmp_path):
    import numpy as np

    from hypernet_ext.jobs import JobManager
    from hypernet_ext.training.loss_plot import render_loss_curve
    from hypernet_ext.ui.live import loss_plot
    run = _run(tmp_path, steps=(4,), losses={1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6})
    jobs = JobManager()

    def resumed(progress):  # the resumed job reports steps 5.. only
        for step, loss in ((5, 0.5), (6, 0.4)):
            progress.update(step=step, loss=loss)
    job = jobs.start("training", resumed, description="Resuming style-4", total=6)
    job.data["run_dir"] = str(run)
    jobs.wait(30)
    whole = render_loss_curve([1, 2, 3, 4, 5, 6], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], "Resuming style-4 loss",
                              size=(640, 320), learning_rates=[0.001] * 4 + [float("nan")] * 2)
    assert np.array_equal(np.asarray(loss_plot(jobs)), np.asarray(whole))
