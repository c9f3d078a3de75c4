"""The standalone host conditions prompts exactly as the real webui v1.10.1 does (issue 12).

The reference (tests/data/webui_conditioning_reference.npz) was computed by the webui's own
`FrozenCLIPEmbedderWithCustomWords` from the checkpoint that `tools/webui_env/
standalone_tiny_checkpoint.py` writes; how is in tests/data/webui_conditioning_reference.md. Here
the same checkpoint is rebuilt, loaded with `load_host(path, clip_skip=N, emphasis=MODE)`, and each
case's chunk count, per-token norms and 16-dim projections must agree within TOLERANCE.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from hypernet_ext.standalone.host import load_host

DATA = Path(__file__).resolve().parent / "data"
REFERENCE = DATA / "webui_conditioning_reference.npz"
TOOL = Path(__file__).resolve().parents[1] / "tools" / "webui_env" / "standalone_tiny_checkpoint.py"
# Agreement "within 1e-5": |ours - webui| <= 1e-5 + 1e-5 * |webui| per value (numpy.allclose). Token norms
# are ~28, so float32 rounding in different CLIP attention code (transformers 4.30 eager here, the
# webui's; newer sdpa in ours) reaches ~2e-5 absolute on them; a wrong token or weight moves them by >1e-2.
TOLERANCE = 1e-5


def _reference() -> tuple[dict, list[dict], dict]:
    with np.load(REFERENCE) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(str(arrays.pop("index"))), json.loads(str(arrays.pop("meta")))


ARRAYS, CASES, META = _reference()


def _tool():
    spec = importlib.util.spec_from_file_location("standalone_tiny_checkpoint", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The reference's checkpoint, rebuilt; it must be byte-identical to the one the webui read."""
    path = _tool().write(tmp_path_factory.mktemp("parity"), "tiny-standalone-sd1", None)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == META["checkpoint_sha256"], (
        f"the rebuilt tiny checkpoint ({digest[:16]}) is not the one the webui reference was computed from "
        f"({META['checkpoint_sha256'][:16]}): the tiny model changed; regenerate the reference as "
        f"tests/data/webui_conditioning_reference.md describes")
    return path


@pytest.fixture(scope="module")
def hosts(checkpoint):
    cache = {}

    def host(clip_skip: int, emphasis: str):
        if (clip_skip, emphasis) not in cache:
            cache[clip_skip, emphasis] = load_host(str(checkpoint), clip_skip=clip_skip, emphasis=emphasis)
        return cache[clip_skip, emphasis]
    return host


def _projection(width: int) -> np.ndarray:
    rng = np.random.default_rng(META["projection_seed"])
    return rng.standard_normal((width, META["projection_dims"])) / np.sqrt(width)


def test_reference_covers_the_issue_cases():
    """The recorded set has what issue 12 asks to compare; a trimmed reference fails here."""
    prompts = [p for case in CASES for p in case["batch"]]
    assert {c["emphasis"] for c in CASES} == {"Original", "No norm"}
    assert {c["clip_skip"] for c in CASES} == {1, 2}
    for needle in ("(red cube:1.3)", "[blue]", "\\(paren\\)", "BREAK", "1girl, solo"):
        assert any(needle in p for p in prompts), needle
    assert max(c["chunks"] for c in CASES) >= 3
    assert any(len(c["batch"]) > 1 for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["key"] for c in CASES])
def test_conditioning_matches_webui(case, hosts):
    host = hosts(case["clip_skip"], case["emphasis"])
    cond = host.encode_text(case["batch"]).double().numpy()
    assert cond.shape[1] // 77 == case["chunks"], (
        f"{cond.shape[1] // 77} chunks, the webui made {case['chunks']} for {case['batch']!r}")
    norms = np.linalg.norm(cond, axis=-1)
    proj = cond @ _projection(cond.shape[-1])
    want_norms, want_proj = ARRAYS[case["key"] + "_norms"], ARRAYS[case["key"] + "_proj"]
    for name, got, want in (("norms", norms, want_norms), ("projections", proj, want_proj)):
        excess = np.abs(got - want) - TOLERANCE * (1 + np.abs(want))
        assert excess.max() <= 0, (
            f"{case['batch']!r} ({case['emphasis']}, clip skip {case['clip_skip']}): {name} differ by up to "
            f"{np.abs(got - want).max():.3g}, worst at token {int(np.argmax(excess.max(axis=(0, 2) if got.ndim == 3 else 0)))}")
