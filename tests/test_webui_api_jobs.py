"""Job routes (preprocess, train, status, interrupt, runs, resume) through FastAPI's TestClient on the
webui stand-in: real short training of its tiny ldm model with WebuiHost, on the Train tab's JobManager."""
import os
import time
import warnings
from pathlib import Path

import pytest
import torch
from fastapi import FastAPI

from helpers_data import write_image
from helpers_training import make_dataset, same_weights, state
from helpers_webui import start, webui, write_hypernetwork  # noqa: F401 (fixture)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "/hypernet-ext/v1"
SMALL = dict(width=64, height=64, learning_rate="1e-3", batch_size=1, preview_steps=2, preview_seed=1)


@pytest.fixture
def one_thread():
    """One intra-op thread keeps CPU float summation order, so an exact resume is bitwise equal."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def client(webui):
    write_hypernetwork(webui.folder, "style", seed=1)
    webui.modules.shared.cmd_opts.data_dir = str(webui.tmp)  # the panel's log root: <data dir>/textual_inversion
    start(webui)
    app = FastAPI()
    webui.modules.script_callbacks.app_started_callback(None, app)
    webui.data = make_dataset(webui.tmp / "data")
    webui.log_root = webui.tmp / "textual_inversion" / "hypernet_ext"
    yield TestClient(app)
    from hypernet_ext.webui.context import job_manager
    job_manager().interrupt()
    job_manager().wait(60)


def wait_done(client, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"{BASE}/status").json()
        if status["finished"]:
            return status
        time.sleep(0.05)
    raise AssertionError(f"the job did not end: {status}")


def wait_step(client, step=1, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"{BASE}/status").json()
        if (status["step"] or 0) >= step or status["finished"]:
            return status
        time.sleep(0.02)
    raise AssertionError(f"training did not reach step {step}: {status}")


def train(client, webui, **body):
    return client.post(f"{BASE}/train", json={"hypernetwork": "style", "data_dir": str(webui.data), **SMALL, **body})


def test_status_before_any_job_and_interrupt_with_nothing_running(client):
    status = client.get(f"{BASE}/status").json()
    assert status["state"] == "idle" and status["running"] is False and status["step"] is None
    assert client.post(f"{BASE}/interrupt").json() == {"interrupted": False}
    assert client.get(f"{BASE}/runs").json() == []


def test_preprocess_runs_as_a_job(client, webui):
    source, destination = webui.tmp / "raw", webui.tmp / "prepared"
    for i in range(3):
        write_image(source, f"p{i}.png", width=96, height=80, seed=i)
    body = {"source": str(source), "destination": str(destination), "width": 64, "height": 64,
            "captioners": ["filename"], "flip": True, "background": [0, 0, 0]}
    response = client.post(f"{BASE}/preprocess", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "preprocessing" and response.json()["description"] == "Preprocess raw"
    status = wait_done(client)
    assert status["state"] == "finished" and status["error"] is None
    assert status["result"] == str(destination) and "Preprocessed 3 image(s) into 6 file(s)" in status["message"]
    assert len(list(destination.glob("*.png"))) == 6 and len(list(destination.glob("*.txt"))) == 6


@pytest.mark.parametrize("body, status, words", [
    ({"source": "missing"}, 400, "does not exist"),
    ({"width": 100}, 400, "width must be a multiple of 8"),
    ({"height": 64.5}, 400, "height must be a whole number"),
    ({"captioners": ["nope"]}, 400, "captioner 'nope' is not available"),
    ({"resize_mode": "squash"}, 400, "resize_mode must be one of crop, fit, stretch; got 'squash'"),
    ({"destination": None}, 422, ""),
])
def test_preprocess_bad_options(client, webui, body, status, words):
    (webui.tmp / "raw").mkdir()
    full = {"source": str(webui.tmp / "raw"), "destination": str(webui.tmp / "out"), **body}
    response = client.post(f"{BASE}/preprocess", json={k: v for k, v in full.items() if v is not None})
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])
    assert client.get(f"{BASE}/status").json()["state"] == "idle"


@pytest.mark.parametrize("body, status, words", [
    ({"hypernetwork": "nope"}, 404, "No hypernetwork named 'nope'"),
    ({"data_dir": "/no/such/folder"}, 400, "does not exist"),
    ({"steps": 2.5}, 400, "steps must be a whole number"),
    ({"optimizer": "NoSuchOptimizer"}, 400, "NoSuchOptimizer"),
    ({"precision": "fp8"}, 400, "precision must be one of"),
    ({"width": 100}, 400, "width=100 is not a training size"),
    ({"hypernetwork": None}, 422, ""),
])
def test_train_bad_options(client, webui, body, status, words):
    full = {"hypernetwork": "style", "data_dir": str(webui.data), **SMALL, **body}
    response = client.post(f"{BASE}/train", json={k: v for k, v in full.items() if v is not None})
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])
    assert client.get(f"{BASE}/status").json()["state"] == "idle"


def test_train_status_runs_and_exact_resume(client, webui, one_thread):
    response = train(client, webui, steps=4, save_every=2, preview_every=2, optimizer_args={"weight_decay": 0.02})
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["kind"] == "training" and started["description"] == "Training style"
    assert f"checkpoints, previews and loss.csv go to {webui.log_root / 'style'}{os.sep}" in started["started"]
    status = wait_done(client)
    assert status["state"] == "finished", status
    assert (status["step"], status["total"], status["fraction"]) == (4, 4, 1.0)
    assert isinstance(status["loss"], float) and status["lr"] == pytest.approx(1e-3) and status["rate"] > 0
    assert status["eta"] == 0 and status["error"] is None and "Training finished at step 4" in status["message"]
    [run] = client.get(f"{BASE}/runs").json()  # default log root: the Train panel's
    checkpoints = Path(run["run"]) / "hypernetworks"
    assert status["result"] == status["checkpoint"] == str(checkpoints / "style-4.pt")
    assert status["preview"].endswith("style-4.png")
    assert Path(run["run"]).parent == webui.log_root / "style" and run["name"].startswith("style/")
    assert [c["step"] for c in run["checkpoints"]] == [2, 4]
    assert all(c["resumable"] and c["has_optimizer"] and c["optimizer_matches"] and c["optimizer"] == "AdamW"
               and isinstance(c["loss"], float) for c in run["checkpoints"])
    straight = state(checkpoints / "style-4.pt")
    response = client.post(f"{BASE}/resume", json={"run": run["name"], "step": 2})
    assert response.status_code == 202, response.text
    resumed = response.json()
    assert resumed["description"] == "Resuming style-2" and resumed["resumed_from"]["step"] == 2
    assert "Resuming from step 2 exactly, with its optimizer state" in resumed["started"]
    status = wait_done(client)
    assert status["state"] == "finished" and status["step"] == 4, status
    assert same_weights(straight, state(checkpoints / "style-4.pt"))  # continued exactly from step 2


def test_busy_interrupt_checkpoint_and_resume_from_it(client, webui):
    from hypernet_ext.webui.context import job_manager
    assert train(client, webui, steps=5000, save_every=0, preview_every=0).status_code == 202
    assert job_manager().current.kind == "training"  # the Train tab's own job runner
    running = wait_step(client, 1)
    assert running["running"] and not running["finished"] and running["eta"] is not None
    assert webui.modules.call_queue.queue_lock.locked()  # txt2img waits while we train
    busy = client.post(f"{BASE}/preprocess", json={"source": str(webui.data), "destination": str(webui.tmp / "o")})
    assert busy.status_code == 409 and "still running" in busy.json()["detail"]
    assert train(client, webui, steps=4).status_code == 409
    assert client.post(f"{BASE}/interrupt").json() == {"interrupted": True}
    status = wait_done(client)
    assert status["state"] == "interrupted" and "interrupted" in status["message"], status
    step = status["step"]
    assert 1 <= step < 5000 and status["result"].endswith(f"style-{step}.pt")
    assert not webui.modules.call_queue.queue_lock.locked()
    [run] = client.get(f"{BASE}/runs", params={"log_dir": str(webui.log_root)}).json()
    [checkpoint] = run["checkpoints"]
    assert checkpoint["step"] == step and checkpoint["resumable"]
    response = client.post(f"{BASE}/resume", json={"checkpoint": checkpoint["path"], "steps": step + 2})
    assert response.status_code == 202, response.text
    assert response.json()["resumed_from"]["path"] == checkpoint["path"]
    status = wait_done(client)
    assert status["state"] == "finished" and (status["step"], status["total"]) == (step + 2, step + 2), status
    [run] = client.get(f"{BASE}/runs").json()
    assert [c["step"] for c in run["checkpoints"]] == [step, step + 2]


def test_resume_errors(client, webui):
    checkpoints = webui.log_root / "style" / "hypernetworks"
    checkpoints.mkdir(parents=True)
    empty = client.post(f"{BASE}/resume", json={"run": "style"})
    assert empty.status_code == 404 and "has no checkpoints yet" in empty.json()["detail"]
    write_hypernetwork(checkpoints, "style-2", seed=3)  # a checkpoint without settings-*.json or optimizer state
    cases = [({}, 400, "Give run"), ({"run": "nope"}, 404, "No training run 'nope'"),
             ({"run": "style", "step": 5}, 404, "no checkpoint at step 5; its checkpoints are at steps 2."),
             ({"run": "style", "step": 2.5}, 400, "step must be a whole number"),
             ({"run": str(webui.log_root / "style")}, 400, "has no settings-*.json"),
             ({"checkpoint": str(checkpoints / "style-9.pt")}, 404, "does not exist"),
             ({"checkpoint": str(write_hypernetwork(webui.tmp / "loose", "one", seed=4))}, 400,
              "not in a training run's"),
             ({"checkpoint": str(webui.folder / "style.pt")}, 400, "is not named <name>-<step>.pt")]
    for body, status, words in cases:
        response = client.post(f"{BASE}/resume", json=body)
        assert response.status_code == status and words in response.json()["detail"], (body, response.text)
    assert client.get(f"{BASE}/status").json()["state"] == "idle"


def test_request_models_cover_every_option():
    from dataclasses import fields
    from hypernet_ext.preprocess import PreprocessOptions
    from hypernet_ext.service import TRAIN_INPUTS, train_option_names
    from hypernet_ext.webui.api.jobs import PreprocessRequest, TrainRequest
    assert set(PreprocessRequest.__fields__) == {f.name for f in fields(PreprocessOptions)}
    assert set(TrainRequest.__fields__) == set(TRAIN_INPUTS) | set(train_option_names())
    assert PreprocessRequest.__fields__["width"].default == 512


def test_omitted_train_fields_take_the_train_panels_initial_values(client):
    gradio = pytest.importorskip("gradio")
    from hypernet_ext.ui import train_panel
    from hypernet_ext.service import training_defaults
    from hypernet_ext.ui.train_panel import FIELDS
    from hypernet_ext.webui.context import webui_context
    ctx = webui_context()
    with gradio.Blocks():
        components = train_panel.build(ctx)
    defaults = {k: v for k, v in training_defaults(ctx).items()}
    defaults.update(optimizer_args="", loss_guard_threshold=0, preview_from_txt2img=False)
    panel = {name: components[name].value for name in FIELDS if name not in ("hypernetwork", "data_dir")}
    assert panel == {name: defaults[name] for name in panel}
