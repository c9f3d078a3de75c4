"""Options declared once: the CLI flags, panel components, API fields and webui settings are generated
from the declarations, with the same defaults; an option declared later appears everywhere by itself."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass
from typing import Optional

import pytest

from hypernet_ext.cli import _create_arguments
from hypernet_ext.create_options import CreateOptions
from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.option_cli import add_option_flags, defaults_with, given_values
from hypernet_ext.option_spec import convert, declared_options, display_value, option
from hypernet_ext.preprocess import PreprocessOptions
from hypernet_ext.preprocess.command import add_arguments as preprocess_arguments
from hypernet_ext.service import TRAIN_OPTION_CLASSES
from hypernet_ext.training.command import add_arguments as train_arguments

ALL_CLASSES = (*TRAIN_OPTION_CLASSES, PreprocessOptions, CreateOptions)


def _parser(add) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser


def _flag_defaults(parser: argparse.ArgumentParser) -> dict:
    """{dest: flag strings} of every flag of a parser."""
    return {action.dest: action.option_strings for action in parser._actions}


@pytest.mark.parametrize("cls, add", [(c, train_arguments) for c in TRAIN_OPTION_CLASSES] +
                         [(PreprocessOptions, preprocess_arguments), (CreateOptions, _create_arguments)])
def test_every_declared_option_has_a_cli_flag_whose_help_shows_the_default(cls, add):
    parser = _parser(add)
    flags = _flag_defaults(parser)
    help_text = " ".join(parser.format_help().split())
    for spec in declared_options(cls, "cli"):
        assert spec.cli_flag in flags[spec.name], spec.name
        assert "(default: " in spec.help_with_default()
        assert " ".join(spec.help_with_default().split())[:30] in help_text, spec.name


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_cli_defaults_are_the_declared_defaults(cls):
    parser = argparse.ArgumentParser()
    add_option_flags(parser, cls)
    assert given_values(parser.parse_args([]), cls) == {}  # nothing typed: nothing given
    defaults = defaults_with(cls)
    assert defaults == {s.name: s.default for s in declared_options(cls)}


def test_every_declared_option_has_a_panel_component_with_its_default(tmp_path):
    gradio = pytest.importorskip("gradio")
    from hypernet_ext.ui import create_panel, preprocess_panel, train_panel
    from helpers_ui import make_context
    ctx = make_context(tmp_path)
    ctx.defaults = {}
    with gradio.Blocks():
        train = train_panel.build(ctx)
        preprocess = preprocess_panel.build(ctx)
        create = create_panel.build(ctx)
    for classes, components in ((TRAIN_OPTION_CLASSES, train), ((PreprocessOptions,), preprocess),
                                ((CreateOptions,), create)):
        for cls in classes:
            for spec in declared_options(cls, "panel"):
                assert components[spec.name].value == display_value(spec, spec.default), spec.name
                assert components[spec.name].label == spec.label


def test_every_declared_option_has_an_api_field_with_its_default():
    pytest.importorskip("fastapi")
    from hypernet_ext.webui.api.jobs import PreprocessRequest, TrainRequest
    for model, classes in ((TrainRequest, TRAIN_OPTION_CLASSES), (PreprocessRequest, (PreprocessOptions,))):
        for cls in classes:
            for spec in declared_options(cls, "api"):
                assert model.__fields__[spec.name].default == spec.default, spec.name


def test_every_training_option_has_a_webui_setting_with_its_default():
    from hypernet_ext.webui.settings import SETTINGS_BY_KEY, training_setting_key
    for cls in TRAIN_OPTION_CLASSES:
        for spec in declared_options(cls, "settings"):
            assert SETTINGS_BY_KEY[training_setting_key(spec.name)].default == display_value(spec, spec.default)
    assert SETTINGS_BY_KEY["hypernet_ext_train_learn_rate"].default == "1e-5"  # was "0.00001" beside "1e-5"


def test_the_fixed_drift():
    from hypernet_ext.images import RESIZE_MODES
    from hypernet_ext.preprocess import resize
    from hypernet_ext.training import sizing
    from hypernet_ext.training.data_options import DataOptions
    from hypernet_ext.training.options import PreviewOptions
    assert resize.RESIZE_MODES is sizing.RESIZE_MODES is RESIZE_MODES
    # the preview seed: one default everywhere, meaning the training seed (comparable previews)
    preview = PreviewOptions(preview_prompt="a cat")
    assert preview.params(64, 64, training_seed=7).seed == 7
    assert PreviewOptions(preview_prompt="a cat", preview_seed=3).params(64, 64, 7).seed == 3
    # the panel's grad_accum, seed and template come from the declarations, not literals
    assert {s.name for s in declared_options(DataOptions)} >= {"seed", "template"}


@dataclass
class _Later:
    """An option class as another engineer might declare it."""

    clip_skip: int = option(1, help="skip the last N text-encoder layers", label="CLIP skip", group="new",
                            minimum=1, maximum=12)
    low_vram: bool = option(False, help="keep the model in RAM between steps", label="Low VRAM")
    ratio: Optional[float] = option(None, help="share held out", label="Held out", minimum=0)
    names: list = option(help="names", label="Names", default_factory=list, flag="--name")


def test_a_new_declaration_gets_a_flag_a_component_and_an_api_field_without_other_edits():
    parser = argparse.ArgumentParser()
    add_option_flags(parser, _Later)
    args = parser.parse_args(["--clip-skip", "2", "--low-vram", "--name", "a,b", "--name", "c"])
    assert given_values(args, _Later) == {"clip_skip": 2, "low_vram": True, "names": ["a", "b", "c"]}
    with pytest.raises(InvalidOptionError, match="--clip-skip must be at most 12"):
        given_values(parser.parse_args(["--clip-skip", "13"]), _Later)
    gradio = pytest.importorskip("gradio")
    from hypernet_ext.ui.option_components import build_options
    with gradio.Blocks():
        made = build_options(gradio, declared_options(_Later), {}, "x", layout=(("known", None),))
    assert type(made["clip_skip"]).__name__ == "Slider" and type(made["low_vram"]).__name__ == "Checkbox"
    assert made["ratio"].value == 0 and made["names"].value == ""
    from hypernet_ext.webui.api.requests import request_model
    model = request_model("LaterRequest", (_Later,), {}, "")
    assert set(model.__fields__) == {"clip_skip", "low_vram", "ratio", "names"}


def test_convert_names_the_option_as_the_front_end_shows_it():
    [steps] = [s for s in declared_options(TRAIN_OPTION_CLASSES[0]) if s.name == "steps"]
    with pytest.raises(InvalidOptionError, match="Train until step must be a whole number"):
        convert(steps, 2.5)
    with pytest.raises(InvalidOptionError, match="steps must be at least 1"):
        convert(steps, 0, "steps")
    assert convert(steps, 4.0) == 4 and steps.default is not MISSING
