"""POST /use-checkpoint on the webui stand-in: a run's checkpoint copied into the hypernetwork folder, then the
tag loads it; names taken are a 409 unless "overwrite" is sent; paths outside the webui's folders are refused."""
import warnings

import pytest
from fastapi import FastAPI

from hypernet_ext.training.run_folder import CHECKPOINT_FOLDER

from helpers_training import make_run, same_weights, state
from helpers_webui import start, webui, write_hypernetwork  # noqa: F401 (fixture)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "/hypernet-ext/v1"


@pytest.fixture
def client(webui):
    write_hypernetwork(webui.folder, "style", seed=1)  # the untrained file of the same name
    webui.modules.shared.cmd_opts.data_dir = str(webui.tmp)  # the panel's log root: <data dir>/textual_inversion
    start(webui)
    app = FastAPI()
    webui.modules.script_callbacks.app_started_callback(None, app)
    webui.run = make_run(webui.tmp / "textual_inversion" / "hypernet_ext")
    return TestClient(app)


def test_a_checkpoint_file_is_copied_and_the_library_loads_it(client, webui):
    source = webui.run / CHECKPOINT_FOLDER / "style-4.pt"
    before = source.read_bytes()
    response = client.post(f"{BASE}/use-checkpoint", json={"checkpoint": str(source)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "style-4" and body["path"] == str(webui.folder / "style-4.pt")
    assert body["info"]["step"] is not None and "<hypernet:style-4:1>" in body["message"]
    assert (webui.folder / "style-4.pt").read_bytes() == before == source.read_bytes()
    names = [entry["name"] for entry in client.get(f"{BASE}/hypernetworks").json()]
    assert "style-4" in names  # listed at once
    from hypernet_ext.webui.runtime import runtime
    assert same_weights(runtime.library.load("style-4").state_dict(), state(source))


def test_a_run_and_step_by_name_and_a_taken_name_is_409_unless_overwrite(client, webui):
    body = {"run": "style/20260102-030405", "step": 2, "name": "style"}
    response = client.post(f"{BASE}/use-checkpoint", json=body)
    assert response.status_code == 409
    assert 'send "overwrite": true' in response.json()["detail"] and "already exists" in response.json()["detail"]
    response = client.post(f"{BASE}/use-checkpoint", json={**body, "overwrite": True})
    assert response.status_code == 201, response.text
    assert (webui.folder / "style.pt").read_bytes() == (webui.run / CHECKPOINT_FOLDER / "style-2.pt").read_bytes()
    assert response.json()["replaced"] == [str(webui.folder / "style.pt")]


@pytest.mark.parametrize("body, status, words", [
    ({}, 400, "Give checkpoint"),
    ({"run": "style/20260102-030405", "step": 3}, 400, "no checkpoint at step 3"),
    ({"run": "../outside"}, 400, "not a plain relative name"),
    ({"checkpoint": "/etc/passwd.pt"}, 400, "outside the folders this server may use"),
    ({"run": "style/20260102-030405", "name": "  "}, 400, "Enter a name for the copy"),
    ({"run": "style/20260102-030405", "nmae": "typo"}, 422, "nmae"),
])
def test_bad_requests_say_what_to_fix(client, body, status, words):
    response = client.post(f"{BASE}/use-checkpoint", json=body)
    assert response.status_code == status, response.text
    assert words in response.text


def test_every_run_checkpoint_is_listed_with_the_name_it_would_get(client, webui, monkeypatch):
    builtin = webui.tmp / "webui-root" / "textual_inversion" / "2026-11-27" / "anime" / "hypernetworks"
    write_hypernetwork(builtin, "anime-500", seed=3)
    monkeypatch.chdir(webui.tmp / "webui-root")  # the webui's trainer writes under its working directory
    entries = client.get(f"{BASE}/run-checkpoints").json()
    assert [(e["run_name"], e["step"], e["suggested_name"]) for e in entries] == [
        ("style/20260102-030405", 2, "style-2"), ("style/20260102-030405", 4, "style-4"),
        ("textual_inversion/2026-11-27/anime", 500, "anime-500")]
    response = client.post(f"{BASE}/use-checkpoint", json={"checkpoint": entries[-1]["path"]})
    assert response.status_code == 201, response.text
    assert (webui.folder / "anime-500.pt").read_bytes() == (builtin / "anime-500.pt").read_bytes()
