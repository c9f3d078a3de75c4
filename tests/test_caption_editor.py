"""The caption editor: show an image with its caption, edit, save atomically, next."""
import pytest

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.ui.caption_editor import save, save_and_step, show, step

from helpers_data import write_image


@pytest.fixture
def folder(tmp_path):
    for name in ("b", "a", "c"):
        write_image(tmp_path, f"{name}.png", width=16, height=16)
    (tmp_path / "a.txt").write_text("a cat, (red:1.2)\n", encoding="utf-8")
    return tmp_path


def test_show_walks_the_sorted_images_and_wraps(folder):
    image, caption, index, status = show(str(folder), 0)
    assert image.endswith("a.png") and caption == "a cat, (red:1.2)" and index == 0 and status == "1 / 3: a.png"
    assert show(str(folder), 1)[1] == "" and show(str(folder), 3)[2] == 0 and show(str(folder), -1)[2] == 2


def test_save_writes_the_caption_beside_the_image(folder):
    assert save(str(folder), 1, " a dog \n") == "Saved b.txt"
    assert (folder / "b.txt").read_text(encoding="utf-8") == "a dog"
    assert show(str(folder), 1)[1] == "a dog"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a.txt", "b.png", "b.txt", "c.png"]


def test_save_and_next_moves_on(folder):
    image, caption, index, status = save_and_step(str(folder), 0, "edited", 1)
    assert (folder / "a.txt").read_text(encoding="utf-8") == "edited"
    assert image.endswith("b.png") and index == 1 and "Saved a.txt" in status and "2 / 3" in status


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(InvalidOptionError, match="Enter the folder"):
        show("", 0)
    with pytest.raises(InvalidOptionError, match="does not exist"):
        show(str(tmp_path / "none"), 0)
    with pytest.raises(InvalidOptionError, match="holds no images"):
        show(str(tmp_path), 0)
    assert "hnx-error" in step(str(tmp_path), 0, 1)[3]
    with pytest.raises(InvalidOptionError, match="press Load again"):
        write_image(tmp_path, "x.png", width=8, height=8)
        save(str(tmp_path), 5, "text")
