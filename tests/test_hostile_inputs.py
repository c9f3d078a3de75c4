"""Hostile and broken inputs, one class per test, all generated here at test time.

Each test asserts the clean refusal (our error type, or a 4xx with a message), that nothing was
written outside the folder the operation owns, that the user's files are unchanged, and (for the
loaders) that memory stays bounded: those run in a subprocess under RLIMIT_AS.
"""
import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from hypernet_ext import create_hypernetwork
from hypernet_ext.errors import HypernetError, HypernetworkFileError
from hypernet_ext.progress import Progress
from hypernet_ext.safe_paths import UnsafePathError, inside, safe_component
from hypernet_ext.standalone import load_host
from hypernet_ext.storage import save_hypernetwork, torch_file_bytes
from hypernet_ext.training.host import PreviewParams
from hypernet_ext.training.trainer import train_hypernetwork

from helpers_training import make_dataset, make_hypernetwork, make_options
from helpers_webui import webui, write_hypernetwork  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_NAMES = ("../../escaped", "/tmp/hostile-absolute", "..", "a/../../b", "C:\\evil\\x", "nul\x00byte",
                 "." * 3, "x" * 400, "\u202etxt.exe")


@pytest.fixture(scope="module")
def host():
    return load_host("tiny")


def snapshot(folder: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file under `folder` (links not followed)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                out[str(path.relative_to(folder))] = "special"
            else:
                out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_limited(code: str, memory_mb: int = 1500, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter whose address space is capped (bounded-memory check)."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        import torch  # imported before the cap: its libraries' reservations are not the loader's allocations
        limit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + {memory_mb} * 2**20
        vm = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + {memory_mb} * 2**20, resource.RLIM_INFINITY))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


def hostile_named_file(folder: Path, stored_name: str, suffix: str = ".pt", file_name: str = "downloaded") -> Path:
    hn = create_hypernetwork("victim", sizes=(32, 64, 128), seed=0)
    hn.name = stored_name  # what a stranger's file can say
    return save_hypernetwork(hn, folder / f"{file_name}{suffix}")


# -- 1. stored names never decide output paths ------------------------------------------------------------------
@pytest.mark.parametrize("text", HOSTILE_NAMES)
def test_safe_component_and_inside_refuse_escapes(tmp_path, text):
    component = safe_component(text)
    assert component and "/" not in component and "\\" not in component and "\x00" not in component
    assert component not in (".", "..") and not component.startswith(".")
    assert len(component.encode()) <= 160
    assert inside(tmp_path, component).parent == tmp_path
    with pytest.raises(UnsafePathError):
        inside(tmp_path, "..", "x")
    with pytest.raises(UnsafePathError):
        inside(tmp_path, "/etc/passwd")
    (tmp_path / "link").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafePathError, match="outside"):
        inside(tmp_path, "link", "x.pt")


def test_stored_name_cannot_steer_trainer_checkpoints_or_previews(host, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "escaped-2.pt").write_bytes(b"the user's own checkpoint")
    (user / "escaped-2.png").write_bytes(b"the user's own picture")
    before = snapshot(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    data = make_dataset(work / "data", count=1)
    for index, (stored, suffix) in enumerate((("../../user/escaped", ".pt"), (str(user / "escaped"), ".safetensors"))):
        source = hostile_named_file(work, stored, suffix, f"downloaded{index}")
        log = work / f"log{index}"
        options = make_options(work, source, data, steps=2, log=f"log{index}", save_every=1, preview_every=1,
                               preview=PreviewParams("p", steps=1, width=64, height=64, seed=1))
        result = train_hypernetwork(host, options)
        assert result.stopped == "finished"
        for path in [*result.checkpoints, *result.previews]:
            assert log in path.parents, path
        written = files_under(log)
        assert any(name.startswith("hypernetworks/") and name.endswith(f"-2{suffix}") for name in written)
        assert any(name.startswith("images/") and name.endswith("-2.png") for name in written)
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("work/")} == before


# -- 2. optimizer state validated against the parameters before torch sees it ----------------------------------
def _first(sd):
    return sd["param_groups"][0]["params"][0]


OPTIM_FORGERIES = {
    "wrong shape": lambda sd: sd["state"][_first(sd)].update(exp_avg=torch.zeros(7, 3)),
    "huge broadcast shape": lambda sd: sd["state"][_first(sd)].update(exp_avg_sq=torch.zeros(1, 1, 1)),
    "missing parameter": lambda sd: sd["param_groups"][0]["params"].pop(),
    "extra group": lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0], params=[999])),
    "unknown parameter id": lambda sd: sd["state"].update({12345: {"step": torch.tensor(1.0)}}),
    "NaN moment": lambda sd: sd["state"][_first(sd)]["exp_avg"].fill_(float("nan")),
    "integer moment": lambda sd: sd["state"][_first(sd)].update(
        exp_avg=torch.zeros_like(sd["state"][_first(sd)]["exp_avg"], dtype=torch.int64)),
    "negative step": lambda sd: sd["state"][_first(sd)].update(step=torch.tensor(-4.0)),
    "absurd step": lambda sd: sd["state"][_first(sd)].update(step=torch.tensor(1e30)),
    "infinite learning rate": lambda sd: sd["param_groups"][0].update(lr=float("inf")),
    "state is a list": lambda sd: sd.update(state=[1, 2]),
}


def forged_resume_pair(folder: Path, mutate) -> Path:
    """A step-0 hypernetwork and a `.optim` whose hash matches it but whose state was tampered with."""
    from hypernet_ext.storage import load_hypernetwork, save_optimizer_state
    path = make_hypernetwork(folder, "resume")
    hn = load_hypernetwork(path)
    optimizer = torch.optim.AdamW(hn.parameters(), lr=1e-3)
    for p in hn.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    state = optimizer.state_dict()
    mutate(state)
    save_optimizer_state(path, "AdamW", state, extra={"format": 1, "step": 0})
    return path


@pytest.mark.parametrize("forgery", sorted(OPTIM_FORGERIES))
def test_forged_optimizer_state_is_refused_before_training(host, tmp_path, forgery):
    source = forged_resume_pair(tmp_path / "files", OPTIM_FORGERIES[forgery])
    data = make_dataset(tmp_path / "data", count=1)
    before = snapshot(tmp_path)
    options = make_options(tmp_path, source, data, steps=3, resume=True, save_every=1)
    with pytest.raises(HypernetworkFileError, match="does not fit this hypernetwork|not a torch optimizer state"):
        train_hypernetwork(host, options)
    assert snapshot(tmp_path) == before and not (tmp_path / "log").exists()


def test_forged_optimizer_state_through_the_cli_exits_cleanly_in_bounded_memory(tmp_path):
    """Before the check this was a SIGSEGV in fused AdamW (or unbounded growth)."""
    source = forged_resume_pair(tmp_path, OPTIM_FORGERIES["wrong shape"])
    data = make_dataset(tmp_path / "data", count=1)
    result = run_limited(f"""
        from hypernet_ext.cli import main
        sys.exit(main(["train", "--model", "tiny", "--hypernetwork", {str(source)!r}, "--data", {str(data)!r},
                       "--log-dir", {str(tmp_path / 'log')!r}, "--steps", "3", "--size", "64x64", "--resume"]))
    """)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "does not fit this hypernetwork" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "log" / "hypernetworks").exists()


# -- 3. small files that would make the loader allocate far more than their size -------------------------------
def _pickle_marker_replaced(obj: dict, marker: str, opcodes: bytes) -> bytes:
    """A torch zip of `obj` whose pickled string `marker` is swapped for raw pickle `opcodes`."""
    data = torch_file_bytes(obj)
    encoded = marker.encode()
    needle = b"X" + struct.pack("<I", len(encoded)) + encoded
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith("data.pkl"):
                assert needle in content
                content = content.replace(needle, opcodes)
            target.writestr(info.filename, content)
    return out.getvalue()


def zero_stride_file(folder: Path) -> Path:
    """1 KB on disk, about a billion parameters once materialised (every weight views one float)."""
    from hypernet_ext.file_format import hypernetwork_to_dict
    hn = create_hypernetwork("bomb", sizes=(2048,), layer_structure=(1, 1, 1))
    d = hypernetwork_to_dict(hn)
    d["layer_structure"] = [1.0, 64.0, 1.0]  # valid structure: 2 x 2 x 2048 x 131072 parameters
    one = torch.zeros(1)
    views = {"linear.0.weight": one.as_strided((131072, 2048), (0, 0)), "linear.0.bias": one.as_strided((131072,), (0,)),
             "linear.1.weight": one.as_strided((2048, 131072), (0, 0)), "linear.1.bias": one.as_strided((2048,), (0,))}
    d[2048] = (views, dict(views))
    path = folder / "zero-stride.pt"
    raw = io.BytesIO()
    torch.save(d, raw)
    path.write_bytes(raw.getvalue())
    return path


def shared_storage_file(folder: Path) -> Path:
    """4 MB on disk, 4 GB of tensors: a thousand full views of one storage in an extra key."""
    hn = create_hypernetwork("views", sizes=(32,))
    big = torch.zeros(1 << 20)
    hn.extra = {"notes": [big[:] for _ in range(1000)]}
    from hypernet_ext.file_format import hypernetwork_to_dict
    raw = io.BytesIO()
    torch.save(hypernetwork_to_dict(hn), raw)
    path = folder / "shared-views.pt"
    path.write_bytes(raw.getvalue())
    return path


def overlapping_zip_file(folder: Path) -> Path:
    """Two records whose central-directory entries point at the same bytes (reads twice what is stored)."""
    hn = create_hypernetwork("overlap", sizes=(32,))
    hn.extra = {"a": torch.zeros(1 << 18), "b": torch.ones(1 << 18)}
    from hypernet_ext.file_format import hypernetwork_to_dict
    data = bytearray(torch_file_bytes(hypernetwork_to_dict(hn)))
    infos = {i.filename.split("/", 1)[1]: i for i in zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()}
    records = sorted((i for n, i in infos.items() if n.startswith("data/")), key=lambda i: -i.file_size)
    first, second = records[0], records[1]
    assert first.file_size == second.file_size
    position = 0
    while True:  # patch the second record's central-directory offset to the first's local header
        position = data.index(b"PK\x01\x02", position)
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        name = bytes(data[position + 46:position + 46 + name_length]).decode()
        if name == second.filename:
            struct.pack_into("<I", data, position + 42, first.header_offset)
            break
        position += 4
    path = folder / "overlap.pt"
    path.write_bytes(bytes(data))
    return path


LOAD_AND_REPORT = """
    from hypernet_ext.errors import HypernetworkFileError
    from hypernet_ext.storage import load_hypernetwork, read_header
    for action in (read_header, load_hypernetwork):
        try:
            action({path!r})
        except HypernetworkFileError as exc:
            print("REFUSED", action.__name__, str(exc)[:300])
        else:
            print("LOADED", action.__name__)
"""


@pytest.mark.parametrize("builder,reason", [(zero_stride_file, "stride"),
                                            (shared_storage_file, "in memory|forged"),
                                            (overlapping_zip_file, "share bytes")])
def test_small_file_cannot_make_the_loader_allocate_gigabytes(tmp_path, builder, reason):
    path = builder(tmp_path)
    assert path.stat().st_size < 8 << 20
    result = run_limited(LOAD_AND_REPORT.format(path=str(path)), memory_mb=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("REFUSED load_hypernetwork") for line in lines), result.stdout
    import re
    assert re.search(reason, result.stdout), result.stdout


# -- 4. deep nesting: bounded depth, the loader's own error, the rest of a listing unaffected ------------------
def deep_pt(folder: Path, depth: int = 200_000) -> Path:
    from hypernet_ext.file_format import hypernetwork_to_dict
    d = hypernetwork_to_dict(create_hypernetwork("deep", sizes=(32,)))
    d["layer_structure"] = "DEEPMARKER"
    path = folder / "deep.pt"
    path.write_bytes(_pickle_marker_replaced(d, "DEEPMARKER", b"]" * depth + b"a" * (depth - 1)))
    return path


def deep_safetensors(folder: Path, depth: int = 200_000) -> Path:
    from safetensors.torch import save_file
    from hypernet_ext.file_format import hypernetwork_to_safetensors
    tensors, metadata = hypernetwork_to_safetensors(create_hypernetwork("deepst", sizes=(32,)))
    metadata["layer_structure"] = "[" * depth + "]" * depth
    metadata["hypernet_ext"] = json.dumps({"version": 1, "metadata": {}})[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    save_file(tensors, str(folder / "deep-meta.safetensors"), metadata=metadata)
    return folder / "deep-meta.safetensors"


def test_deep_nesting_is_refused_with_the_loader_error_and_listings_go_on(tmp_path):
    from hypernet_ext.library import HypernetworkLibrary
    from hypernet_ext.storage import load_hypernetwork, read_header
    folder = tmp_path / "library"
    folder.mkdir()
    make_hypernetwork(folder, "good")
    bad = [deep_pt(folder), deep_safetensors(folder)]
    for path in bad:
        for action in (read_header, load_hypernetwork):
            with pytest.raises(HypernetworkFileError, match="nested|short list|JSON"):
                action(path)
    library = HypernetworkLibrary(folder)
    assert library.names() == ["deep", "deep-meta", "good"]
    headers, errors = {}, {}
    for name in library.names():
        try:
            headers[name] = read_header(library.path(name))
        except HypernetworkFileError as exc:
            errors[name] = str(exc)
    assert list(headers) == ["good"] and set(errors) == {"deep", "deep-meta"}
    assert all(str(library.path(name)) in message for name, message in errors.items())


# -- 5. absurd values are refused at the edge; the bound can be raised ---------------------------------------
def test_absurd_training_values_are_refused_and_limits_can_be_raised(tmp_path):
    from hypernet_ext import limits
    from hypernet_ext.errors import InvalidOptionError
    source = make_hypernetwork(tmp_path)
    data = make_dataset(tmp_path / "data", count=1)
    for field, value in (("grad_accum", 10 ** 9), ("steps", 10 ** 12), ("save_every", 10 ** 15)):
        with pytest.raises(InvalidOptionError, match=f"{field}.*limit"):
            make_options(tmp_path, source, data, **{field: value}).validate()
    with pytest.raises(InvalidOptionError, match="batch_size.*limit"):
        make_options(tmp_path, source, data, data={"batch_size": 10 ** 6}).validate()
    try:
        limits.configure(grad_accum=4096)
        make_options(tmp_path, source, data, grad_accum=4000).validate()
        limits.reset()
        limits.use_settings_source(lambda: "grad_accum=8192\nsteps=20000000")  # the webui setting's text
        make_options(tmp_path, source, data, grad_accum=8000, steps=15_000_000).validate()
    finally:
        limits.use_settings_source(None)
        limits.reset()
    with pytest.raises(InvalidOptionError, match="grad_accum.*limit"):
        make_options(tmp_path, source, data, grad_accum=4000).validate()
    assert not (tmp_path / "log").exists()


# -- 5, 6, 10. FIFOs, folders, long names and symlink loops: named, skipped, never waited on ---------------------
@pytest.fixture
def alarm():
    import signal

    def hang(*_):
        raise AssertionError("blocked on a special file")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_special_files_given_as_hypernetworks_are_named_for_what_they_are(tmp_path, alarm):
    from hypernet_ext.storage import load_hypernetwork, read_header
    os.mkfifo(tmp_path / "pipe.pt")
    (tmp_path / "folder.pt").mkdir()
    for path, kind in ((tmp_path / "pipe.pt", "FIFO"), (tmp_path / "folder.pt", "folder"),
                       (Path("/dev/zero"), "device"), (tmp_path / "missing.pt", "no such file")):
        for action in (load_hypernetwork, read_header):
            with pytest.raises(HypernetworkFileError, match=kind):
                action(path)


def test_one_bad_source_is_skipped_with_its_reason_and_preprocessing_goes_on(tmp_path, alarm):
    from helpers_data import write_image
    from hypernet_ext.preprocess import PreprocessOptions, preprocess
    source, destination = tmp_path / "raw", tmp_path / "out"
    write_image(source, "good.png", width=80, height=80, seed=1)
    write_image(source, "x" * 240 + ".png", width=80, height=80, seed=2)
    sub = source / "sub"
    sub.mkdir()
    os.mkfifo(sub / "pipe.png")
    (sub / "loop.png").symlink_to(sub / "loop.png")
    (sub / "back").symlink_to(source)  # a directory loop under --recursive
    options = PreprocessOptions(source=str(source), destination=str(destination), width=64, height=64, recursive=True)
    report = preprocess(options)
    skipped = {path.name: reason for path, reason in report.skipped}
    assert {p.name for p, _ in report.processed} == {"good.png", "x" * 240 + ".png"}
    assert "FIFO" in skipped["pipe.png"] and "loop.png" in skipped
    assert all(len(name.encode()) < 255 for name in os.listdir(destination))
    assert report.written == 2


# -- 8. leftovers: umask kept, stale temporaries of ours cleaned, sidecar before checkpoint --------------------
def test_written_files_keep_the_umask_and_stale_temporaries_are_cleaned(tmp_path):
    import time
    from hypernet_ext import atomic_files
    folder = tmp_path / "out"
    folder.mkdir()
    stale = folder / ".hn-5.pt.abcd1234.tmp"
    stale.write_bytes(b"left by a killed save")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = folder / ".hn-6.pt.zzzz9999.tmp"
    fresh.write_bytes(b"a save in progress elsewhere")
    mine = folder / ".hidden-user-file.tmp"
    mine.write_bytes(b"not ours")
    os.utime(mine, (time.time() - 7200, time.time() - 7200))
    old = os.umask(0o022)
    try:
        path = save_hypernetwork(create_hypernetwork("u", sizes=(32,)), folder / "u.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not stale.exists() and fresh.exists() and mine.exists()
    atomic_files._cleaned.clear()


# -- 9. listings: no directory symlinks out of the library, sidecar headers only -------------------------------
def test_library_scan_does_not_follow_links_out_of_its_folder(tmp_path):
    from hypernet_ext.library import HypernetworkLibrary
    library, elsewhere = tmp_path / "library", tmp_path / "elsewhere"
    library.mkdir()
    make_hypernetwork(elsewhere, "unrelated")
    make_hypernetwork(library / "inner", "mine")
    (library / "link-out").symlink_to(elsewhere)
    (library / "link-in").symlink_to(library / "inner")
    assert HypernetworkLibrary(library).names() == ["mine"]


# -- 1, 7. the REST API: stored names, absurd values, paths outside the webui's folders -> 4xx, never 500 ------
@pytest.fixture
def api(webui):
    import warnings
    from fastapi import FastAPI
    from helpers_webui import start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    write_hypernetwork(webui.folder, "style", seed=1)
    webui.modules.shared.cmd_opts.data_dir = str(webui.tmp)
    start(webui)
    app = FastAPI()
    webui.modules.script_callbacks.app_started_callback(None, app)
    yield TestClient(app, raise_server_exceptions=False)
    from hypernet_ext.webui.panels.train_tabs import job_manager
    job_manager().interrupt()
    job_manager().wait(60)


def test_api_refuses_absurd_values_and_outside_paths_with_4xx(api, webui, tmp_path):
    base = "/hypernet-ext/v1"
    outside = tmp_path.parent / "outside-the-webui"
    outside.mkdir(exist_ok=True)
    before = snapshot(webui.tmp)
    bad_creates = [{"name": "n" * 5000}, {"name": "a", "sizes": "inf"}, {"name": "a", "seed": 1e30},
                   {"name": "a", "init_std": 1e308}, {"name": "a\x00b"}, {"name": "a", "sizes": [10 ** 12]}]
    for body in bad_creates:
        response = api.post(f"{base}/hypernetworks", json=body)
        assert 400 <= response.status_code < 500 and response.json()["detail"], (body, response.text)
    for query in (str(outside), "/etc", "a\x00b", "x" * 10000):
        response = api.get(f"{base}/runs", params={"log_dir": query})
        assert 400 <= response.status_code < 500, (query, response.text)
    data = make_dataset(webui.tmp / "data", count=1)
    for body in ({"log_dir": str(outside)}, {"data_dir": str(outside)}, {"template": "/etc/passwd"},
                 {"log_dir": "a\x00b"}, {"grad_accum": 1e9}, {"seed": 1e30}, {"steps": "inf"}):
        response = api.post(f"{base}/train", json={"hypernetwork": "style", "data_dir": str(data), "width": 64,
                                                   "height": 64, **body})
        assert 400 <= response.status_code < 500, (body, response.text)
    response = api.post(f"{base}/preprocess", json={"source": str(data), "destination": str(outside)})
    assert 400 <= response.status_code < 500, response.text
    assert list(outside.iterdir()) == []
    after = snapshot(webui.tmp)
    assert {k: v for k, v in after.items() if not k.startswith("data/")} == before


def test_stored_name_cannot_steer_a_training_job_started_through_the_api(api, webui, tmp_path):
    import time
    base = "/hypernet-ext/v1"
    user_file = webui.folder / "escaped-1.pt"  # the user's own checkpoint beside the library
    user_file.write_bytes(b"precious")
    stored = "../../../hypernetworks/escaped"
    hostile_named_file(webui.folder, stored, ".pt", "downloaded")
    data = make_dataset(webui.tmp / "data", count=1)
    api.post(f"{base}/refresh")
    before = snapshot(tmp_path)
    response = api.post(f"{base}/train", json={"hypernetwork": "downloaded", "data_dir": str(data), "width": 64,
                                              "height": 64, "steps": 1, "save_every": 1, "preview_every": 1,
                                              "preview_steps": 1, "learning_rate": "1e-3"})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 300
    while not (status := api.get(f"{base}/status").json())["finished"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["state"] == "finished", status
    log_root = webui.tmp / "textual_inversion"
    changed = {k for k, v in snapshot(tmp_path).items() if before.get(k) != v}
    assert changed and all(k.startswith(str(log_root.relative_to(tmp_path)) + "/") for k in changed), changed
    assert user_file.read_bytes() == b"precious"


# -- 5. every long loop answers Interrupt: a long gradient accumulation stops inside the step -----------------
class CancelWhenTrainingStarts(Progress):
    def start(self, total, description="", step=0):
        super().start(total, description, step)
        if description.startswith("Training"):
            self.cancel()


def test_interrupt_stops_a_long_gradient_accumulation_inside_the_step(host, tmp_path):
    source = make_hypernetwork(tmp_path)
    data = make_dataset(tmp_path / "data", count=1)
    options = make_options(tmp_path, source, data, steps=1, grad_accum=1000)
    result = train_hypernetwork(host, options, CancelWhenTrainingStarts())
    assert result.stopped == "interrupted" and result.step == 0


# -- 8. a write error names the file and what is safe on disk -------------------------------------------------
def test_checkpoint_write_error_names_the_file_and_the_last_good_checkpoint(host, tmp_path):
    source = make_hypernetwork(tmp_path)
    data = make_dataset(tmp_path / "data", count=1)
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "hypernetworks").write_bytes(b"a file where the checkpoint folder goes")
    options = make_options(tmp_path, source, data, steps=2, save_every=1)
    with pytest.raises(HypernetError, match=r"Cannot write .*hypernetworks.*No checkpoint was written; .*unchanged"):
        train_hypernetwork(host, options)


# -- 9. run listings read the sidecars' headers, never their tensors ------------------------------------------
def test_run_listing_reads_only_sidecar_headers(host, tmp_path, monkeypatch):
    from hypernet_ext import storage
    from hypernet_ext.ui.runs import list_checkpoints
    source = make_hypernetwork(tmp_path)
    data = make_dataset(tmp_path / "data", count=1)
    train_hypernetwork(host, make_options(tmp_path, source, data, steps=2, save_every=1))

    def full_load(*args, **kwargs):
        raise AssertionError("a listing unpickled a whole sidecar")
    monkeypatch.setattr(storage, "safe_torch_load", full_load)
    checkpoints = list_checkpoints(str(tmp_path / "log"))
    assert [c.step for c in checkpoints] == [1, 2]
    assert all(c.resumable and c.optimizer_name == "AdamW" for c in checkpoints)
