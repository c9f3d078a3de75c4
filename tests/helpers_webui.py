"""Start the webui stand-in (tests/webui_stub) with this extension loaded, as the webui would.

`webui` fixture: a fresh stand-in per test (modules imported anew, hypernetwork folder in
tmp_path), torn down completely afterwards so no `modules` package leaks into other tests.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
STUB = TESTS / "webui_stub"
SCRIPT = REPO / "scripts" / "hypernet_ext_webui.py"
SMALL_SIZES = (768, 32, 64)  # text width and the tiny UNet's self-attention widths
_MODELS: dict = {}  # built once per session: construction dominates a test's run time


def _purge() -> None:
    for name in list(sys.modules):
        if name in ("modules", "launch", "install") or name.startswith("modules.") \
                or name == "hypernet_ext.webui" or name.startswith("hypernet_ext.webui."):
            del sys.modules[name]


def load_script(path: Path = SCRIPT):
    """Import a `scripts/*.py` file the way the webui does: by file path, extension dir first on sys.path."""
    saved = list(sys.path)
    sys.path.insert(0, str(path.parent.parent))
    try:
        spec = importlib.util.spec_from_file_location(path.name, str(path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


def start(ns: SimpleNamespace, *, with_extension: bool = True) -> SimpleNamespace:
    """The webui start-up order: defaults, scripts, model, settings, before_ui, app."""
    m = ns.modules
    m.shared.reload_hypernetworks()
    m.ui_extra_networks.initialize()
    m.ui_extra_networks.register_default_pages()
    m.extra_networks.initialize()
    m.extra_networks.register_default_extra_networks()
    if with_extension:
        ns.script = load_script()
    ns.model = m.sd_models.load_tiny_model(model=tiny_model(m))
    m.script_callbacks.ui_settings_callback()
    m.script_callbacks.before_ui_callback()
    return ns


def tiny_model(m, key: str = "sd1"):
    """The shared tiny model (a fresh stand-in module set reuses the same weights)."""
    if key not in _MODELS:
        _MODELS[key] = m.sd_models.TinyLatentDiffusion(name=f"tiny-{key}")
    return _MODELS[key]


def write_hypernetwork(folder: Path, name: str, seed: int, std: float = 0.3, sizes=SMALL_SIZES,
                       suffix: str = ".pt", **options) -> Path:
    from hypernet_ext.hypernetwork import create_hypernetwork
    from hypernet_ext.storage import save_hypernetwork
    folder.mkdir(parents=True, exist_ok=True)
    hn = create_hypernetwork(name, sizes=sizes, init_std=std, seed=seed, **options)
    return save_hypernetwork(hn, folder / f"{name}{suffix}")


def txt2img(m, prompt: str, **kwargs):
    p = m.processing.StableDiffusionProcessingTxt2Img(sd_model=m.shared.sd_model, prompt=prompt, seed=1,
                                                     width=32, height=32, **kwargs)
    return p, m.processing.process_images(p)


@pytest.fixture
def webui(tmp_path):
    _purge()
    sys.path.insert(0, str(STUB))
    try:
        import modules.extra_networks
        import modules.hypernetworks.hypernetwork
        import modules.infotext_utils
        import modules.processing
        import modules.script_callbacks
        import modules.sd_models
        import modules.shared
        import modules.ui_extra_networks
        m = modules
        m.shared.cmd_opts.hypernetwork_dir = str(tmp_path / "hypernetworks")
        (tmp_path / "hypernetworks").mkdir()
        m.script_callbacks.clear_callbacks()
        m.hypernetworks.hypernetwork.load_calls.clear()
        m.hypernetworks.hypernetwork.applied_calls.clear()
        torch.manual_seed(0)
        yield SimpleNamespace(modules=m, folder=tmp_path / "hypernetworks", tmp=tmp_path)
    finally:
        from hypernet_ext.preprocess.captioners import REGISTRY
        for name in ("BLIP", "DeepDanbooru"):  # the webui's captioners exist only inside the webui
            REGISTRY.unregister(name)
        runtime_module = sys.modules.get("hypernet_ext.webui.runtime")
        if runtime_module is not None:
            runtime_module.runtime.detach()
        if str(STUB) in sys.path:
            sys.path.remove(str(STUB))
        _purge()
