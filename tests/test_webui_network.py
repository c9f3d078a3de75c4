"""The `<hypernet:...>` extra network inside the webui stand-in: apply, chain, hires, infotext, paste."""
import torch

from helpers_webui import start, txt2img, webui, write_hypernetwork  # noqa: F401 (fixture)


def _setup(webui, names=("a", "b")):
    for seed, name in enumerate(names, start=1):
        write_hypernetwork(webui.folder, name, seed=seed)
    start(webui)
    return webui.modules


def _runtime():
    from hypernet_ext.webui.runtime import runtime
    return runtime


def _manual(m, pairs, tagged_prompt):
    """The output for `tagged_prompt` with its tags removed and `pairs` attached directly."""
    from hypernet_ext.attach import attach_hypernetworks
    unet = m.shared.sd_model.model.diffusion_model
    attachment = attach_hypernetworks(unet, pairs)
    try:
        return txt2img(m, m.extra_networks.parse_prompt(tagged_prompt)[0])[1].outputs[0]
    finally:
        attachment.detach()


def test_our_handler_replaces_the_builtin_one(webui):
    m = _setup(webui)
    from hypernet_ext.webui.network import HypernetExtraNetwork
    assert isinstance(m.extra_networks.extra_network_registry["hypernet"], HypernetExtraNetwork)


def test_tag_applies_and_deactivate_detaches(webui):
    m = _setup(webui)
    base = txt2img(m, "cat")[1].outputs[0]
    p, processed = txt2img(m, "cat <hypernet:a:1>")
    assert not torch.allclose(processed.outputs[0], base)
    library = _runtime().library
    expected = _manual(m, [(library.load("a"), 1.0)], "cat <hypernet:a:1>")
    torch.testing.assert_close(processed.outputs[0], expected)
    assert _runtime().attachment is None  # deactivate ran at the end of processing
    assert torch.equal(txt2img(m, "cat")[1].outputs[0], base)


def test_weight_is_used(webui):
    m = _setup(webui)
    library = _runtime().library
    half = txt2img(m, "cat <hypernet:a:0.5>")[1].outputs[0]
    torch.testing.assert_close(half, _manual(m, [(library.load("a"), 0.5)], "cat <hypernet:a:0.5>"))
    assert not torch.allclose(half, _manual(m, [(library.load("a"), 1.0)], "cat <hypernet:a:0.5>"))


def test_two_tags_chain_in_prompt_order(webui):
    m = _setup(webui)
    library = _runtime().library
    a, b = library.load("a"), library.load("b")
    out = txt2img(m, "cat <hypernet:a:1> <hypernet:b:0.8>")[1].outputs[0]
    torch.testing.assert_close(out, _manual(m, [(a, 1.0), (b, 0.8)], "cat <hypernet:a:1> <hypernet:b:0.8>"))
    assert not torch.allclose(out, _manual(m, [(b, 0.8), (a, 1.0)], "cat <hypernet:a:1> <hypernet:b:0.8>"))


def test_empty_prompt_activation_detaches(webui):
    m = _setup(webui)
    network = m.extra_networks.extra_network_registry["hypernet"]
    p = m.processing.StableDiffusionProcessingTxt2Img(prompt="x")
    network.activate(p, [m.extra_networks.ExtraNetworkParams(items=["a", "1"])])
    assert _runtime().attachment.hooked_projections > 0
    network.activate(p, [])
    assert _runtime().attachment is None
    assert not any(mod._forward_pre_hooks for mod in m.shared.sd_model.modules())


def test_unknown_name_warns_and_applies_nothing(webui, capsys):
    m = _setup(webui)
    base = txt2img(m, "cat ")[1].outputs[0]  # the prompt the text encoder sees once the tag is removed
    p, processed = txt2img(m, "cat <hypernet:missing:1>")
    assert torch.equal(processed.outputs[0], base)
    assert "Unknown hypernetwork" in capsys.readouterr().err
    assert any("missing" in comment for comment in p.comments)  # shown under the image too
    assert "Hypernet hashes" not in p.extra_generation_params


def test_builtin_path_applies_nothing(webui):
    m = _setup(webui)
    builtin = m.hypernetworks.hypernetwork
    txt2img(m, "cat <hypernet:a:1>")
    assert builtin.load_calls == [] and builtin.applied_calls == []
    assert m.shared.loaded_hypernetworks == []


def test_stand_in_detects_builtin_application_without_the_extension(webui):
    """Control for the test above: the stand-in's built-in path does apply when we are absent."""
    for seed, name in enumerate(("a", "b"), start=1):
        write_hypernetwork(webui.folder, name, seed=seed)
    m = start(webui, with_extension=False).modules
    txt2img(m, "cat <hypernet:a:1>")
    assert m.hypernetworks.hypernetwork.load_calls == ["a"]
    assert m.hypernetworks.hypernetwork.applied_calls


def test_stale_builtin_list_is_cleared(webui):
    m = _setup(webui)
    m.hypernetworks.hypernetwork.load_hypernetworks(["a"])  # e.g. left over by built-in training
    assert m.shared.loaded_hypernetworks
    txt2img(m, "cat")
    assert m.shared.loaded_hypernetworks == []


def test_hires_pass_uses_the_hires_prompt(webui):
    m = _setup(webui)
    library = _runtime().library
    p, processed = txt2img(m, "cat <hypernet:a:1>", enable_hr=True, hr_prompt="cat <hypernet:b:1>")
    torch.testing.assert_close(processed.outputs[0], _manual(m, [(library.load("b"), 1.0)], "cat <hypernet:b:1>"))
    hashes = p.extra_generation_params["Hypernet hashes"]
    assert hashes.startswith("a: ") and ", b: " in hashes


def test_infotext_records_name_and_short_hash(webui):
    m = _setup(webui)
    from hypernet_ext.storage import short_hash
    p, processed = txt2img(m, "cat <hypernet:a:0.7>")
    expected = f"a: {short_hash(webui.folder / 'a.pt')}"
    assert p.extra_generation_params["Hypernet hashes"] == expected
    assert "<hypernet:a:0.7>" in processed.infotexts[0]  # the tag stays in the prompt


def test_paste_restores_renamed_file_by_hash(webui):
    m = _setup(webui)
    p, processed = txt2img(m, "cat <hypernet:a:0.7>")
    (webui.folder / "a.pt").rename(webui.folder / "renamed.pt")
    params = m.infotext_utils.parse_generation_parameters(processed.infotexts[0])
    assert params["Prompt"] == "cat <hypernet:renamed:0.7>"


def test_paste_keeps_known_names_and_legacy_fields(webui):
    m = _setup(webui)
    params = m.infotext_utils.parse_generation_parameters("dog <hypernet:b:1>\nSteps: 20, Hypernet: a, "
                                                          "Hypernet strength: 0.6, Hypernet hashes: \"b: 0\"")
    assert params["Prompt"] == "dog <hypernet:b:1><hypernet:a:0.6>"  # legacy tag added once, b untouched


def test_legacy_sd_hypernetwork_option_goes_through_our_path(webui):
    m = _setup(webui)
    m.shared.opts.set("sd_hypernetwork", "a")
    m.shared.opts.set("extra_networks_default_multiplier", 0.5)
    p, processed = txt2img(m, "cat")
    torch.testing.assert_close(processed.outputs[0], _manual(m, [(_runtime().library.load("a"), 0.5)], "cat"))
    assert p.all_prompts[0] == "cat<hypernet:a:0.5>"
    p, processed = txt2img(m, "cat", enable_hr=True)
    assert p.all_prompts[0] == "cat<hypernet:a:0.5>"  # not added again by the hires pass
    assert m.hypernetworks.hypernetwork.load_calls == []


def test_strength_limit_clamps_with_warning(webui, capsys):
    m = _setup(webui)
    m.shared.opts.set("hypernet_ext_strength_limit", 0.5)
    out = txt2img(m, "cat <hypernet:a:3>")[1].outputs[0]
    torch.testing.assert_close(out, _manual(m, [(_runtime().library.load("a"), 0.5)], "cat <hypernet:a:3>"))
    assert "beyond the limit" in capsys.readouterr().err


def test_tag_without_weight_uses_default_strength(webui):
    m = _setup(webui)
    m.shared.opts.set("hypernet_ext_default_strength", 0.25)
    out = txt2img(m, "cat <hypernet:a>")[1].outputs[0]
    torch.testing.assert_close(out, _manual(m, [(_runtime().library.load("a"), 0.25)], "cat <hypernet:a>"))


def test_width_mismatch_warns(webui, capsys):
    write_hypernetwork(webui.folder, "sd2", seed=3, sizes=(1024,))
    m = start(webui).modules
    txt2img(m, "cat <hypernet:sd2:1>")
    err = capsys.readouterr().err
    assert "none match" in err and "widths [1024]" in err and "use [768, 32, 64]" in err


def test_other_family_warns_even_when_some_widths_match(webui, capsys):
    write_hypernetwork(webui.folder, "xl", seed=3, sizes=(2048, 64))
    m = start(webui).modules
    txt2img(m, "cat <hypernet:xl:1>")
    err = capsys.readouterr().err
    assert "made for SDXL, not SD1" in err and "[2048] are ignored" in err


def test_model_change_and_unload_detach(webui):
    m = _setup(webui)
    network = m.extra_networks.extra_network_registry["hypernet"]
    p = m.processing.StableDiffusionProcessingTxt2Img(prompt="x")
    network.activate(p, [m.extra_networks.ExtraNetworkParams(items=["a", "1"])])
    assert _runtime().attachment is not None
    m.script_callbacks.model_loaded_callback(m.shared.sd_model)
    assert _runtime().attachment is None
    network.activate(p, [m.extra_networks.ExtraNetworkParams(items=["a", "1"])])
    m.script_callbacks.script_unloaded_callback()
    assert _runtime().attachment is None


def test_strength_zero_installs_no_hooks_and_matches_no_tag(webui):
    m = _setup(webui)
    base = txt2img(m, m.extra_networks.parse_prompt("cat <hypernet:a:0>")[0])[1].outputs[0]  # tag removed
    network = m.extra_networks.extra_network_registry["hypernet"]
    p = m.processing.StableDiffusionProcessingTxt2Img(prompt="x")
    network.activate(p, [m.extra_networks.ExtraNetworkParams(items=["a", "0"])])
    assert _runtime().attachment is None
    assert not any(mod._forward_pre_hooks for mod in m.shared.sd_model.modules())
    network.activate(p, [m.extra_networks.ExtraNetworkParams(items=["a", "0"]),
                         m.extra_networks.ExtraNetworkParams(items=["b", "0.5"])])
    assert [hn.name for hn, _ in _runtime().applied] == ["b"]
    network.deactivate(p)
    assert torch.equal(txt2img(m, "cat <hypernet:a:0>")[1].outputs[0], base)
