"""Preprocess and Generate callbacks, tooltips for every option, the assembled standalone app and `ui` command."""
from __future__ import annotations

import re

import pytest

from hypernet_ext.cli import build_parser
from hypernet_ext.preprocess.captioners import default_registry
from hypernet_ext.ui.generate_panel import add_tag, generate
from hypernet_ext.ui.panels import panels_javascript
from hypernet_ext.service import preprocess_defaults, preprocess_options
from hypernet_ext.ui.preprocess_panel import FIELDS, start_html

from helpers_data import write_image
from helpers_ui import make_context

gradio = pytest.importorskip("gradio")


def _preprocess_values(source, destination, **overrides) -> dict:
    values = dict(preprocess_defaults(), source=str(source), destination=str(destination), background="white")
    values.update(width=64.0, height=64.0)
    values.update(overrides)
    return values


def test_preprocess_runs_as_a_job_with_registry_captioners(tmp_path):
    ctx = make_context(tmp_path)
    ctx.captioners = default_registry()
    for i in range(3):
        write_image(tmp_path / "raw", f"red_cat_{i}.png", width=96, height=80, seed=i)
    html = start_html(_preprocess_values(tmp_path / "raw", tmp_path / "out", captioners=["filename"],
                                                  flip=True), ctx)
    assert html == "" and ctx.jobs.current is not None  # started: the live view shows it, no message
    job = ctx.jobs.wait(60)
    assert job.state == "finished" and "Preprocessed 3 image(s) into 6 file(s)" in job.message
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()).count(".txt") == 6


def test_preprocess_errors_name_the_option(tmp_path):
    ctx = make_context(tmp_path)
    assert "Enter the source folder" in start_html(_preprocess_values("", tmp_path / "out"), ctx)
    (tmp_path / "raw").mkdir()
    html = start_html(_preprocess_values(tmp_path / "raw", tmp_path / "out", captioners=["blip"]), ctx)
    assert "captioner &#x27;blip&#x27; is not available" in html and not ctx.jobs.busy
    assert "whole number" in start_html(_preprocess_values(tmp_path / "raw", tmp_path / "o", width=64.5), ctx)


def test_preprocess_values_cover_every_option(tmp_path):
    (tmp_path / "raw").mkdir()
    options = preprocess_options(_preprocess_values(tmp_path / "raw", tmp_path / "out", background="10, 20, 30"))
    assert options.width == 64 and isinstance(options.width, int) and options.background == (10, 20, 30)
    from dataclasses import fields
    assert {f.name for f in fields(type(options))} == set(FIELDS)


def test_generate_applies_tagged_hypernetworks(tmp_path):
    from hypernet_ext.standalone import load_host
    from hypernet_ext.ui.create_panel import CreateForm, create
    host = load_host("tiny")
    ctx = make_context(tmp_path, host)
    create(CreateForm("strong", ["768"], init_std=0.5, init_seed=0), ctx)
    plain, _ = generate(ctx, "a castle", "", 2, 7.0, 1, 64, 64)
    tagged, info = generate(ctx, add_tag("a castle", "strong", 1.0), "", 2, 7.0, 1, 64, 64)
    assert "strong:1" in info and plain.size == tagged.size == (64, 64)
    assert list(plain.getdata()) != list(tagged.getdata())
    image, info = generate(ctx, "a castle <hypernet:nosuch>", "", 2, 7.0, 1, 64, 64)
    assert image is not None and "nosuch" in info
    with ctx.model_lock:  # a training job holds the model
        image, info = generate(ctx, "a castle", "", 2, 7.0, 1, 64, 64)
    assert image is None and "busy with a training job" in info
    assert add_tag("x", "bad:name", 1.0) == "x"


def _labels(demo) -> set[str]:
    skip = ("Tab", "Accordion", "Image", "Dataframe", "Markdown", "HTML")
    return {b.label for b in demo.blocks.values() if getattr(b, "label", None) and type(b).__name__ not in skip}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from hypernet_ext.standalone import load_host
    from hypernet_ext.ui.app import StandaloneSettings, build_app, standalone_context
    tmp = tmp_path_factory.mktemp("app")
    ctx = standalone_context(StandaloneSettings(hypernetwork_dir=str(tmp / "hn"), log_dir=str(tmp / "runs")),
                             host=load_host("tiny"))
    return build_app(ctx)


def test_every_option_and_button_has_a_tooltip(demo):
    from hypernet_ext.ui import create_panel, preprocess_panel, train_panel
    from hypernet_ext.ui.option_components import option_titles
    titles = set(re.findall(r'^\s*"([^"]+)":', panels_javascript(), flags=re.M))
    titles |= set(option_titles(train_panel.SPECS + preprocess_panel.SPECS + create_panel.SPECS))  # generated from the declarations
    buttons = {b.value for b in demo.blocks.values() if type(b).__name__ == "Button"}
    missing = (_labels(demo) | buttons) - titles
    assert not missing, f"add tooltips to javascript/hypernet_ext_panels.js for: {sorted(missing)}"


def test_components_have_stable_unique_ids(demo):
    ids = [b.elem_id for b in demo.blocks.values() if getattr(b, "label", None) and type(b).__name__ != "Tab"]
    assert all(i and i.startswith("hnx_") for i in ids) and len(ids) == len(set(ids))


def test_widths_offered_are_the_models(demo):
    boxes = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "hnx_create_widths"]
    assert [value for value, _ in boxes[0].choices] == ["768", "32", "64", "128"]


def test_ui_subcommand_arguments():
    args = build_parser().parse_args(["ui", "--port", "7999", "--hypernetwork-dir", "hn", "--log-dir", "runs"])
    assert (args.command, args.model, args.port, args.hypernetwork_dir, args.log_dir) == ("ui", "tiny-shapes", 7999, "hn",
                                                                                          "runs")
    from hypernet_ext.errors import InvalidOptionError
    with pytest.raises(InvalidOptionError, match="not a port number"):
        args._run(build_parser().parse_args(["ui", "--port", "0"]))
