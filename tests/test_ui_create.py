"""Create panel callbacks: live estimate equals the real file, widths from the model, overwrite protection."""
from __future__ import annotations

import pytest

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.hypernetwork import KNOWN_SIZES
from hypernet_ext.storage import load_hypernetwork, read_header
from hypernet_ext.ui.create_panel import CreateForm, create, create_html, estimate, estimate_html

from helpers_ui import make_context


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
@pytest.mark.parametrize("options", [
    dict(layer_structure="1, 2, 1"),
    dict(layer_structure="1, 1.5, 0.5, 1", layer_norm=True, dropout_structure="0, 0.1, 0.2, 0",
         activation="relu"),
    dict(layer_structure="1, 2, 1", skip_connection=True, activation="swish"),
])
def test_estimate_matches_the_created_file(tmp_path, fmt, options):
    ctx = make_context(tmp_path)
    form = CreateForm("net", ["768", "64"], file_format=fmt, init_seed=3, **options)
    count, size = estimate(form)
    path = create(form, ctx)
    assert path.name == f"net.{fmt}" and path.parent == tmp_path / "hypernetworks"
    assert read_header(path)["parameter_count"] == count == load_hypernetwork(path).parameter_count()
    assert abs(path.stat().st_size - size) / path.stat().st_size < 0.05  # "about" the real size


def test_estimate_html_is_live_text_or_a_readable_error(tmp_path):
    assert "parameters for widths 768, 320" in estimate_html(CreateForm("", ["768", "320"]))
    bad = estimate_html(CreateForm("", ["768"], layer_structure="2, 1"))
    assert "hnx-error" in bad and "must start and end with 1" in bad
    assert "No attention widths selected" in estimate_html(CreateForm("", []))


def test_create_refuses_to_overwrite_unless_asked(tmp_path):
    ctx = make_context(tmp_path)
    first = create(CreateForm("keep", ["768"], init_seed=1), ctx)
    before = first.read_bytes()
    message = create_html(CreateForm("keep", ["768"], init_seed=2), ctx)
    assert "already exists" in message and "Overwrite an existing file" in message
    assert first.read_bytes() == before
    assert "Created" in create_html(CreateForm("keep", ["768"], init_seed=2, overwrite=True), ctx)
    assert first.read_bytes() != before


def test_create_records_every_option(tmp_path):
    ctx = make_context(tmp_path)
    form = CreateForm("full", ["768", "32"], layer_structure="1, 3, 1", activation="elu", weight_init="XavierNormal",
                      layer_norm=True, dropout_structure="0, 0.25, 0", activate_output=True,
                      optional_info="my notes", folder=str(tmp_path / "other"))
    header = read_header(create(form, ctx))
    assert header["sizes"] == [768, 32] and header["layer_structure"] == [1.0, 3.0, 1.0]
    assert header["activation"] == "elu" and header["weight_init"] == "XavierNormal" and header["layer_norm"]
    assert header["dropout_structure"] == [0.0, 0.25, 0.0] and header["activate_output"]
    assert header["optional_info"] == "my notes" and header["filename"].startswith(str(tmp_path / "other"))


def test_create_errors_name_the_fix(tmp_path):
    ctx = make_context(tmp_path)
    with pytest.raises(InvalidOptionError, match="Enter a name"):
        create(CreateForm("  ", ["768"]), ctx)
    assert "not a list of numbers" in create_html(CreateForm("x", ["768"], layer_structure="1, two, 1"), ctx)
    assert not (tmp_path / "hypernetworks" / "x.pt").exists()


def test_widths_come_from_the_model_or_fall_back_to_sd_widths(tmp_path):
    assert make_context(tmp_path, widths=(2048, 640, 1280)).widths_offered() == [2048, 640, 1280]
    assert make_context(tmp_path, widths=()).widths_offered() == list(KNOWN_SIZES)
