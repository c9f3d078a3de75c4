"""`pip install .`: the package list, package data and console script in pyproject.toml point at real things."""
import importlib
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_names_real_packages_data_and_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["hypernet_ext", "hypernet_ext.*"]
    templates = [g for g in setuptools["package-data"]["hypernet_ext"] if g.startswith("training/")]
    assert templates and all(list((REPO / "hypernet_ext").glob(g)) for g in templates)
    module, _, function = project["project"]["scripts"]["hypernet-ext"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    assert {"standalone", "test"} <= set(project["project"]["optional-dependencies"])


def test_installed_copy_finds_the_panels_script(tmp_path, monkeypatch):
    """An installed package has no javascript/ folder beside it: the copy in ui/assets is used."""
    from hypernet_ext.ui import panels
    copy = tmp_path / "assets" / panels.JS_NAME
    copy.parent.mkdir()
    copy.write_text("// copy", encoding="utf-8")
    monkeypatch.setattr(panels, "JS_PLACES", (tmp_path / "missing.js", copy))
    assert panels.panels_javascript() == "// copy"


def test_the_standalone_ui_loads_the_stylesheet(tmp_path, monkeypatch):
    """style.css (errors styled as errors) is read from the checkout, else from the installed copy."""
    from hypernet_ext.ui import panels
    assert ".hnx-error" in panels.panels_stylesheet()
    copy = tmp_path / "assets" / panels.CSS_NAME
    copy.parent.mkdir()
    copy.write_text(".hnx-error {}", encoding="utf-8")
    monkeypatch.setattr(panels, "CSS_PLACES", (tmp_path / "missing.css", copy))
    assert panels.panels_stylesheet() == ".hnx-error {}"
