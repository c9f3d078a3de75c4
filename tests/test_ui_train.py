"""Train and Resume panel callbacks on the tiny model: options, live view, interrupt, resume from a checkpoint."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from hypernet_ext.standalone import load_host
from hypernet_ext.ui.create_panel import CreateForm, create
from hypernet_ext.ui.live import live_values, status_html
from hypernet_ext.ui.resume_panel import checkpoints_view, resume_html
from hypernet_ext.service import training_options
from hypernet_ext.training.run_folder import list_checkpoints, list_runs
from hypernet_ext.ui.train_panel import FIELDS, hypernetwork_choices, interrupt_html, start_html

from helpers_training import make_dataset
from helpers_ui import make_context, train_values


@pytest.fixture(scope="module")
def host():
    return load_host("tiny")


@pytest.fixture
def setup(tmp_path, host):
    ctx = make_context(tmp_path, host, widths=host.attention_widths)
    create(CreateForm("style", [str(w) for w in host.attention_widths], init_seed=0), ctx)
    data = make_dataset(tmp_path / "data")
    return ctx, data, tmp_path / "runs"


def test_panel_fields_cover_every_training_and_data_option():
    from dataclasses import fields as dc_fields
    from hypernet_ext.training.data import DataOptions
    from hypernet_ext.training.options import TrainingOptions
    covered = set(FIELDS) | {"name"}
    assert {f.name for f in dc_fields(DataOptions)} <= covered
    handled = {"hypernetwork", "log_dir", "data", "preview", "resume", "optimizer_args"}
    assert {f.name for f in dc_fields(TrainingOptions)} - handled <= covered


def test_training_options_from_panel_values(setup):
    ctx, data, runs = setup
    values = train_values("style", data, runs, optimizer_args="weight_decay=0.02; betas=(0.9, 0.99)",
                          loss_guard_threshold=0.3, grad_clip="norm", preview_prompt="a cat")
    options = training_options(values, ctx)
    assert Path(options.log_dir).parent == runs / "style" and options.hypernetwork.endswith("style.pt")
    assert options.optimizer_args == {"weight_decay": 0.02, "betas": (0.9, 0.99)}
    assert options.loss_guard_threshold == 0.3 and options.data.width == 64 and isinstance(options.data.width, int)
    assert options.preview.prompt == "a cat" and options.preview.seed == 1 and options.preview.width == 64


def test_previews_can_read_the_txt2img_parameters(setup):
    ctx, data, runs = setup
    txt2img = ["castle", "blurry", 12, "DDIM", 5.5, 42, 128, 96]
    options = training_options(train_values("style", data, runs, preview_from_txt2img=True), ctx, txt2img)
    p = options.preview
    assert (p.prompt, p.negative_prompt, p.steps, p.sampler, p.cfg_scale, p.seed, p.width, p.height) == \
        ("castle", "blurry", 12, "DDIM", 5.5, 42, 128, 96)


def test_errors_are_messages_and_start_nothing(setup):
    ctx, data, runs = setup
    html = start_html(train_values("style", runs / "missing", runs), ctx)
    assert "hnx-error" in html and "does not exist" in html and not ctx.jobs.busy
    assert "Choose a hypernetwork" in start_html(train_values("", data, runs), ctx)
    assert "whole number" in start_html(train_values("style", data, runs, steps=2.5), ctx)
    assert ctx.jobs.status()["state"] == "idle"


def test_hypernetwork_list_refreshes_without_restart(setup, tmp_path):
    ctx, _, _ = setup
    assert hypernetwork_choices(ctx) == ["style"]
    create(CreateForm("later", ["768"]), ctx)
    assert hypernetwork_choices(ctx) == ["later", "style"]


def test_train_live_view_and_resume_from_a_checkpoint(setup):
    ctx, data, runs = setup
    html = start_html(train_values("style", data, runs, steps=4), ctx)
    assert "Training style.pt to step 4" in html
    job = ctx.jobs.wait(120)
    assert job.state == "finished", job.message
    status, plot, preview = live_values(ctx.jobs)
    assert 'data-hnx-running="false"' in status and "4 / 4" in status and "Loss" in status
    assert plot is not None and plot.size == (640, 320)
    assert preview.endswith("style-4.png")
    [run] = list_runs(str(runs))
    assert Path(run).parent == runs / "style"
    rows, labels, note = checkpoints_view(run)
    assert [r[0] for r in rows] == [2, 4] and all(r[3] == "yes" and r[4] == "yes" for r in rows) and note == ""
    assert labels[0].startswith("step 2 | loss ") and "optimizer AdamW ok" in labels[0]
    html = resume_html(run, labels[0], 6, ctx)
    assert "Resuming from step 2 exactly" in html
    job = ctx.jobs.wait(120)
    assert job.state == "finished", job.message
    assert [c.step for c in list_checkpoints(run)] == [2, 4, 6]


def test_interrupt_stops_training_and_leaves_a_resumable_checkpoint(setup):
    ctx, data, runs = setup
    start_html(train_values("style", data, runs, steps=500, save_every=0, preview_every=0), ctx)
    job = ctx.jobs.current
    for _ in range(1200):  # wait until training really runs (the dataset is prepared)
        if job.progress.snapshot()["step"] >= 1 or not job.running:
            break
        time.sleep(0.05)
    assert 'data-hnx-running="true"' in status_html(ctx.jobs.status())
    assert "Interrupting" in interrupt_html(ctx)
    job = ctx.jobs.wait(120)
    assert job.state == "interrupted" and "interrupted" in job.message
    checkpoints = list_checkpoints(list_runs(str(runs))[0])
    assert len(checkpoints) == 1 and 1 <= checkpoints[0].step < 500 and checkpoints[0].resumable
    assert "No job is running" in interrupt_html(ctx)


def test_resume_errors_are_readable(setup, tmp_path):
    ctx, _, runs = setup
    assert "Pick a training run" in resume_html("", "", 0, ctx)
    assert "does not exist" in checkpoints_view(str(tmp_path / "nowhere"))[2]
