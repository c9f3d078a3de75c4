"""The webui's BLIP and DeepDanbooru offered as preprocessing captioners (against the stand-in)."""
from PIL import Image

from helpers_webui import start, webui  # noqa: F401  (fixture)


def write_images(folder, colours):
    folder.mkdir()
    for i, colour in enumerate(colours):
        Image.new("RGB", (80, 64), colour).save(folder / f"{i}.png")


def test_webui_captioners_are_registered_at_start_and_caption_a_run(webui):
    from hypernet_ext.preprocess import PreprocessOptions, preprocess
    from hypernet_ext.preprocess.captioners import REGISTRY

    start(webui)
    assert {"blip", "deepdanbooru"} <= set(REGISTRY.names())
    src, dst = webui.tmp / "src", webui.tmp / "dst"
    write_images(src, [(250, 10, 10), (10, 10, 250)])
    report = preprocess(PreprocessOptions(source=str(src), destination=str(dst), width=64, height=64,
                                          captioners=["BLIP", "DeepDanbooru"]))
    captions = sorted(p.read_text() for p in dst.glob("*.txt"))
    assert report.written == 2
    assert captions == ["a picture of size 64x64, blue, solo", "a picture of size 64x64, red, solo"]
    m = webui.modules
    assert m.deepbooru.model.calls[0] == "start" and m.deepbooru.model.calls[-1] == "stop"
    assert m.deepbooru.model.calls.count("start") == 1 and not m.deepbooru.model.on_device
    assert m.shared.interrogator.calls.count("load") == 1 and m.shared.interrogator.calls[-1] == "unload"


def test_captioners_restart_after_a_finished_run(webui):
    from hypernet_ext.preprocess import PreprocessOptions, preprocess

    start(webui)
    for run in ("a", "b"):
        src = webui.tmp / f"src{run}"
        write_images(src, [(10, 250, 10)])
        preprocess(PreprocessOptions(source=str(src), destination=str(webui.tmp / f"dst{run}"), width=64,
                                     height=64, captioners=["DeepDanbooru"]))
    assert webui.modules.deepbooru.model.calls.count("start") == 2


def test_outside_the_webui_they_are_not_offered():
    from hypernet_ext.preprocess.captioners import REGISTRY

    assert "blip" not in REGISTRY and "deepdanbooru" not in REGISTRY
