"""The extension's HTTP routes, mounted from `on_app_started` and called through FastAPI's TestClient."""
import warnings

import pytest
from fastapi import FastAPI

from helpers_webui import start, webui, write_hypernetwork  # noqa: F401 (fixture)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "/hypernet-ext/v1"


@pytest.fixture
def client(webui):
    write_hypernetwork(webui.folder, "existing", seed=1)
    start(webui)
    app = FastAPI()
    webui.modules.script_callbacks.app_started_callback(None, app)
    return TestClient(app)


def test_list_returns_name_path_hash_and_header(client, webui):
    from hypernet_ext.storage import short_hash
    response = client.get(f"{BASE}/hypernetworks")
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["name"] == "existing"
    assert entry["path"] == str(webui.folder / "existing.pt")
    assert entry["hash"] == short_hash(webui.folder / "existing.pt")
    assert entry["info"]["sizes"] == [768, 32, 64] and entry["info"]["step"] == 0


def test_get_one_and_unknown_name_is_404(client):
    assert client.get(f"{BASE}/hypernetworks/existing").json()["name"] == "existing"
    response = client.get(f"{BASE}/hypernetworks/nope")
    assert response.status_code == 404 and "No hypernetwork named 'nope'" in response.json()["detail"]


def test_create_with_all_options_writes_a_loadable_file(client, webui):
    body = {"name": "fresh", "sizes": "768, 32", "layer_structure": "1, 1.5, 1", "activation": "relu",
            "weight_init": "XavierUniform", "layer_norm": True, "use_dropout": True,
            "dropout_structure": [0, 0.1, 0], "activate_output": False, "skip_connection": False,
            "optional_info": "made by the API", "init_seed": 7, "file_format": "safetensors"}
    response = client.post(f"{BASE}/hypernetworks", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["path"] == str(webui.folder / "fresh.safetensors")
    info = created["info"]
    assert info["sizes"] == [768, 32] and info["layer_structure"] == [1.0, 1.5, 1.0]
    assert info["activation"] == "relu" and info["layer_norm"] is True
    assert info["dropout_structure"] == [0.0, 0.1, 0.0] and info["optional_info"] == "made by the API"
    names = [entry["name"] for entry in client.get(f"{BASE}/hypernetworks").json()]
    assert names == ["existing", "fresh"]  # the library was refreshed


@pytest.mark.parametrize("body, status, words", [
    ({"name": "x", "activation": "no-such-activation"}, 400, "activation"),
    ({"name": "x", "layer_structure": "1, two, 1"}, 400, "layer_structure"),
    ({"name": "x", "sizes": []}, 400, "No attention widths"),
    ({"name": "x", "file_format": "ckpt"}, 400, "file_format"),
    ({"name": "x", "folder": "/somewhere/else"}, 400, "not a hypernetwork folder"),
    ({"name": "existing"}, 409, "already exists"),
    ({"layer_structure": [1, 2, 1]}, 422, ""),
])
def test_bad_requests_get_4xx_json_with_a_message(client, body, status, words):
    response = client.post(f"{BASE}/hypernetworks", json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail and words in str(detail)


def test_overwrite_replaces_an_existing_file(client):
    response = client.post(f"{BASE}/hypernetworks", json={"name": "existing", "overwrite": True,
                                                           "sizes": [768]})
    assert response.status_code == 201 and response.json()["info"]["sizes"] == [768]


def test_refresh_lists_files_added_on_disk(client, webui):
    write_hypernetwork(webui.folder, "later", seed=2)
    response = client.post(f"{BASE}/refresh")
    assert response.status_code == 200
    assert response.json() == {"count": 2, "names": ["existing", "later"]}


def test_routers_are_listed_per_module():
    from hypernet_ext.webui import api
    assert api.ROUTER_MODULES[0] == "library"
    app = FastAPI()
    paths = api.mount_api(app)
    assert f"{BASE}/hypernetworks" in paths and f"{BASE}/refresh" in paths
