"""The `preprocess` command line: every option has a flag, summary on success, message on failure."""
from __future__ import annotations

import argparse
from dataclasses import fields

from PIL import Image

from hypernet_ext.preprocess import PreprocessOptions
from hypernet_ext.preprocess.command import add_arguments, main, options_from_args

from helpers_images import pixel, quadrants


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p


def test_every_option_has_a_flag():
    help_text = parser().format_help()
    declared = {f.name for f in fields(PreprocessOptions)} - {"source", "destination"}
    assert all(f"--{name.replace('_', '-')}" in help_text or name == "captioners" for name in declared)
    built = options_from_args(parser().parse_args(["a", "b"]))
    defaults = PreprocessOptions("a", "b")
    for f in fields(PreprocessOptions):
        assert getattr(built, f.name) == getattr(defaults, f.name), f.name


def test_flags_reach_options():
    args = parser().parse_args(["a", "b", "--width", "256", "--resize-mode", "fit", "--flip", "--captioner",
                                "filename", "--captioner", "other", "--auto-objective", "Minimize error",
                                "--keep-alpha", "--existing", "replace"])
    o = options_from_args(args)
    assert (o.width, o.resize_mode, o.flip, o.captioners, o.auto_objective, o.keep_alpha, o.existing) == \
        (256, "fit", True, ["filename", "other"], "Minimize error", True, "replace")


def test_run_prints_summary(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    quadrants(128, 128).save(tmp_path / "src" / "q.png")
    (tmp_path / "src" / "bad.jpg").write_bytes(b"junk")
    rc = main([str(tmp_path / "src"), str(tmp_path / "dst"), "--width", "64", "--height", "64",
               "--captioner", "filename"])
    out = capsys.readouterr().out
    assert rc == 0 and "Preprocessed 1 image(s)" in out and "skipped bad.jpg" in out
    image = Image.open(tmp_path / "dst" / "00001-0-q.png")
    assert image.size == (64, 64) and pixel(image, 2, 2) == (255, 0, 0)
    assert (tmp_path / "dst" / "00001-0-q.txt").read_text() == "q"


def test_failure_is_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    rc = main([str(tmp_path / "src"), str(tmp_path / "src" / "out"), "--width", "500"])
    err = capsys.readouterr().err
    assert rc == 1 and "error:" in err and "Traceback" not in err
    rc = main([str(tmp_path / "src"), str(tmp_path / "dst"), "--captioner", "blip"])
    assert rc == 1 and "'blip' is not available here" in capsys.readouterr().err
