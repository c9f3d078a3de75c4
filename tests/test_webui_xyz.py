"""X/Y/Z plot axes against the webui stand-in's xyz-grid script (tests/webui_stub/scripts/xyz_grid.py)."""
import numpy as np
import pytest

from helpers_webui import start, txt2img, webui, write_hypernetwork  # noqa: F401 (fixture)


def _xyz(m):
    data = [d for d in m.scripts.scripts_data if d.script_class.__module__ == "xyz_grid.py"]
    assert len(data) == 1
    script = data[0].script_class()
    script.ui(is_img2img=False)
    return data[0].module, script


@pytest.fixture
def plot(webui):  # noqa: F811
    import modules.scripts
    webui.modules.scripts = modules.scripts
    modules.scripts.load_scripts()  # the webui loads scripts before before_ui runs
    for name, seed in (("alpha", 1), ("beta", 2)):
        write_hypernetwork(webui.folder, name, seed)
    start(webui)
    return webui


def _index(script, label):
    return [o.label for o in script.current_axis_options].index(label)


def test_axes_are_registered_once_as_the_modules_own_axis_options(plot):
    m = plot.modules
    module, script = _xyz(m)
    labels = [o.label for o in module.axis_options]
    assert labels.count("Hypernetwork") == 1 and labels.count("Hypernetwork strength") == 1
    option = module.axis_options[labels.index("Hypernetwork")]
    assert type(option) is module.AxisOption and option.choices() == ["None", "alpha", "beta"]
    m.script_callbacks.before_ui_callback()  # UI reload: nothing added twice
    assert [o.label for o in module.axis_options] == labels
    assert "Hypernetwork" in [o.label for o in script.current_axis_options]


def test_cells_render_like_the_equivalent_prompts(plot):
    m = plot.modules
    _, script = _xyz(m)
    p = m.processing.StableDiffusionProcessingTxt2Img(sd_model=m.shared.sd_model, prompt="a castle", seed=1,
                                                      width=32, height=32)
    cells = script.run(p, _index(script, "Hypernetwork"), "None, alpha, beta:0.25", None,
                       _index(script, "Hypernetwork strength"), "1, 0.5", None, csv_mode=True)
    prompts = [processed.prompt for _, processed in cells]
    assert prompts == ["a castle", "a castle <hypernet:alpha:1>", "a castle <hypernet:beta:0.25>",
                       "a castle", "a castle <hypernet:alpha:0.5>", "a castle <hypernet:beta:0.25>"]
    assert cells[4][0][:2] == ("Hypernetwork: alpha", "Hypernetwork strength: 0.5")
    for (_, processed), prompt in zip(cells, prompts):
        _, expected = txt2img(m, prompt)
        assert np.array_equal(np.asarray(processed.images[0]), np.asarray(expected.images[0]))
    assert not np.array_equal(np.asarray(cells[0][1].images[0]), np.asarray(cells[1][1].images[0]))


def test_strength_axis_first_and_tags_already_in_the_prompt(plot):
    m = plot.modules
    _, script = _xyz(m)
    p = m.processing.StableDiffusionProcessingTxt2Img(sd_model=m.shared.sd_model, prompt="x <hypernet:beta:1>",
                                                      seed=1, width=32, height=32)
    cells = script.run(p, _index(script, "Hypernetwork strength"), "0.3", None, _index(script, "Hypernetwork"),
                       "alpha", None, csv_mode=True)
    assert cells[0][1].prompt == "x <hypernet:beta:0.3> <hypernet:alpha:0.3>"


def test_unknown_names_stop_before_rendering(plot):
    m = plot.modules
    _, script = _xyz(m)
    p = m.processing.StableDiffusionProcessingTxt2Img(sd_model=m.shared.sd_model, prompt="x", seed=1,
                                                      width=32, height=32)
    with pytest.raises(RuntimeError, match="Unknown hypernetwork: gamma"):
        script.run(p, _index(script, "Hypernetwork"), "alpha, gamma:0.5", None, csv_mode=True)
    cells = script.run(p, _index(script, "Hypernetwork"), "", ["alpha", "beta"], csv_mode=False)  # dropdown
    assert [c[1].prompt for c in cells] == ["x <hypernet:alpha:1>", "x <hypernet:beta:1>"]


def test_without_an_xyz_script_nothing_breaks(webui):  # noqa: F811
    start(webui)  # scripts_data empty: before_ui must still succeed
    from hypernet_ext.webui.xyz import register_axes
    assert register_axes() is False
