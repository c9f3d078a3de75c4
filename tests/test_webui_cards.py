"""The Extra Networks "Hypernetworks" page in the webui stand-in."""
from PIL import Image

from helpers_webui import start, webui, write_hypernetwork  # noqa: F401 (fixture)


def _pages(m):
    return [page for page in m.ui_extra_networks.extra_pages if page.title == "Hypernetworks"]


def test_our_page_replaces_the_builtin_page(webui):
    m = start(webui).modules
    from hypernet_ext.webui.cards import HypernetworksPage
    pages = _pages(m)
    assert len(pages) == 1 and isinstance(pages[0], HypernetworksPage)


def test_cards_have_preview_description_and_summary(webui):
    path = write_hypernetwork(webui.folder / "styles", "anime", seed=1)
    Image.new("RGB", (8, 8), "red").save(path.with_suffix(".preview.png"))
    path.with_suffix(".txt").write_text("Soft anime shading.", encoding="utf-8")
    write_hypernetwork(webui.folder, "plain", seed=2, sizes=(1024, 320))
    m = start(webui).modules
    page = _pages(m)[0]
    items = {item["name"]: item for item in page.list_items()}
    assert sorted(items) == ["anime", "plain"]

    anime = items["anime"]
    assert anime["filename"] == str(path)
    assert "anime.preview.png" in anime["preview"] and anime["preview"].startswith("./sd_extra_networks/thumb?")
    assert anime["description"].startswith("Soft anime shading.\n")
    assert "SD1" in anime["description"] and "widths 768/32/64" in anime["description"]
    assert "step 0" in anime["description"]
    assert anime["prompt"] == '"<hypernet:anime:" + opts.hypernet_ext_default_strength + ">"'
    assert anime["search_terms"][0].endswith("styles/anime")
    assert anime["metadata"]["sizes"] == [768, 32, 64]
    assert page.metadata["anime"]["base model"] == "SD1"
    assert anime["sort_keys"]["default"] == 0

    plain = items["plain"]
    assert plain["preview"] is None and plain["description"].startswith("SD2")


def test_unreadable_file_still_gets_a_card_with_the_problem(webui):
    (webui.folder / "broken.pt").write_bytes(b"not a hypernetwork")
    m = start(webui).modules
    items = {item["name"]: item for item in _pages(m)[0].list_items()}
    assert items["broken"]["description"].startswith("unreadable file:")


def test_extra_folders_are_listed_and_allowed_for_previews(webui):
    extra = webui.tmp / "more"
    write_hypernetwork(extra, "elsewhere", seed=3)
    m = start(webui).modules
    m.shared.opts.set("hypernet_ext_extra_dirs", str(extra))
    page = _pages(m)[0]
    page.refresh()
    assert [item["name"] for item in page.list_items()] == ["elsewhere"]
    assert str(extra) in page.allowed_directories_for_previews()
    assert str(webui.folder) in page.allowed_directories_for_previews()


def test_refresh_sees_new_files_and_updates_the_builtin_list(webui):
    m = start(webui).modules
    page = _pages(m)[0]
    assert list(page.list_items()) == []
    write_hypernetwork(webui.folder, "new", seed=4)
    page.refresh()
    assert [item["name"] for item in page.list_items()] == ["new"]
    assert "new" in m.shared.hypernetworks  # keeps the legacy "Add hypernetwork to prompt" choices current
