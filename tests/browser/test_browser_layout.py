"""The standalone UI's layout in headless Chromium (issue 10): Generate's fields on one grid with no label
over its input, Width/Height sliders that snap to multiples of 8, the empty checkpoint table with its real
column headers, skipped files shown as a list. Screenshots land in test-artifacts/browser/."""
from __future__ import annotations

import itertools

import pytest

from helpers_browser import ARTIFACTS, skip_reason, ui_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REASON = skip_reason()
if REASON:
    pytest.skip(f"browser tests skipped: {REASON}", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from hypernet_ext.training.run_folder import CHECKPOINT_COLUMNS  # noqa: E402

LONG = 180_000
GENERATE = "hnx_generate"
# Generate's cells, row by row: three per row (the tag buttons share the third cell of the first row)
GRID = (("tag_name", "tag_weight", ("add_tag", "refresh")), ("steps", "cfg", "seed"), ("width", "height", "button"))
ALIGNED = 3  # px: cells of one column start within this of each other


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("layout")
    from PIL import Image
    raw = tmp / "raw"
    raw.mkdir()
    Image.new("RGB", (96, 80), (200, 30, 30)).save(raw / "good.png")
    (raw / "broken_one.png").write_bytes(b"not an image")
    (raw / "broken_two.png").write_bytes(b"not an image either")
    return tmp


@pytest.fixture(scope="module")
def page(workspace):
    with ui_page(workspace) as page:
        yield page


def tab(page, title: str) -> None:
    page.locator("#hnx_tabs .tab-nav button", has_text=title).first.click()


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def cell_box(page, cell) -> dict:
    """The box of one grid cell: a component, or the smallest box around several stacked ones."""
    boxes = [box(page, f"#{GENERATE}_{name}") for name in ((cell,) if isinstance(cell, str) else cell)]
    left, top = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    right, bottom = max(b["x"] + b["width"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1 and
            a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1)


def inside(inner: dict, outer: dict) -> bool:
    return (inner["x"] >= outer["x"] - 1 and inner["y"] >= outer["y"] - 1 and
            inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1 and
            inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1)


def test_generate_fields_sit_on_one_grid_without_overlaps(page):
    tab(page, "Generate")
    page.locator(f"#{GENERATE}_width").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "layout-generate.png"), full_page=True)
    cells = [[cell_box(page, cell) for cell in row] for row in GRID]
    for column in range(3):  # each column starts at one x and has one width, row after row
        lefts = [row[column]["x"] for row in cells]
        widths = [row[column]["width"] for row in cells]
        assert max(lefts) - min(lefts) <= ALIGNED and max(widths) - min(widths) <= 2 * ALIGNED, (column, lefts, widths)
    for row in cells:  # the three cells of a row sit side by side, left to right
        assert row[0]["x"] < row[1]["x"] < row[2]["x"]
        assert max(c["y"] for c in row) - min(c["y"] for c in row) <= ALIGNED
    flat = [c for row in cells for c in row]
    assert not any(overlap(a, b) for a, b in itertools.combinations(flat, 2))
    for name in ("tag_weight", "width", "height"):  # a slider's label, number box and track do not collide
        block = box(page, f"#{GENERATE}_{name}")
        label = box(page, f"#{GENERATE}_{name} [data-testid='block-info']")
        number = box(page, f"#{GENERATE}_{name} input[type=number]")
        track = box(page, f"#{GENERATE}_{name} input[type=range]")
        assert all(inside(part, block) for part in (label, number, track)), name
        assert not overlap(label, number) and not overlap(number, track) and not overlap(label, track), name
    for name in ("tag_name", "steps", "cfg", "seed"):
        block = box(page, f"#{GENERATE}_{name}")
        label = box(page, f"#{GENERATE}_{name} [data-testid='block-info']")
        field = box(page, f"#{GENERATE}_{name} input")
        assert inside(label, block) and inside(field, block) and not overlap(label, field), name


@pytest.mark.parametrize("name", ["width", "height"])
def test_size_sliders_snap_to_multiples_of_8(page, name):
    tab(page, "Generate")
    track = page.locator(f"#{GENERATE}_{name} input[type=range]")
    number = page.locator(f"#{GENERATE}_{name} input[type=number]")
    low, step = int(float(track.get_attribute("min"))), int(float(track.get_attribute("step")))
    assert step == 8 and low % 8 == 0 and int(float(track.get_attribute("max"))) % 8 == 0
    track.focus()
    start = int(float(number.input_value()))
    page.keyboard.press("ArrowRight")
    expect(number).to_have_value(str(start + 8))
    bounds = track.bounding_box()
    for fraction in (0.13, 0.37, 0.61, 0.83):  # wherever the track is clicked, the value is a multiple of 8
        page.mouse.click(bounds["x"] + bounds["width"] * fraction, bounds["y"] + bounds["height"] / 2)
        page.wait_for_timeout(100)
        value = int(float(number.input_value()))
        assert value % 8 == 0 and value > low, (fraction, value)


def test_empty_checkpoint_table_shows_its_column_headers(page):
    tab(page, "Resume training")
    headers = page.locator("#hnx_resume_table thead th")
    expect(headers.first).to_be_visible()
    texts = [t.strip() for t in headers.all_inner_texts()]
    page.screenshot(path=str(ARTIFACTS / "layout-resume-empty.png"), full_page=True)
    assert texts == list(CHECKPOINT_COLUMNS), texts


def test_skipped_files_are_shown_as_a_list(page, workspace):
    tab(page, "Preprocess images")
    for elem_id, value in (("hnx_preprocess_source", workspace / "raw"), ("hnx_preprocess_destination",
                                                                           workspace / "data")):
        field = page.locator(f"#{elem_id}").locator("textarea, input").first
        field.fill(str(value))
        field.press("Tab")
    for slider in ("hnx_preprocess_width", "hnx_preprocess_height"):
        number = page.locator(f"#{slider} input[type=number]")
        number.fill("64")
        number.press("Enter")
    page.locator("#hnx_preprocess_start").click()
    status = page.locator("#hnx_preprocess_live_status").first
    status.locator('[data-hnx-state="finished"]').first.wait_for(timeout=LONG)
    items = status.locator("ul li")
    expect(items).to_have_count(2, timeout=LONG)
    texts = sorted(items.all_inner_texts())
    page.screenshot(path=str(ARTIFACTS / "layout-skipped-list.png"), full_page=True)
    assert texts[0].startswith("skipped broken_one.png: ") and texts[1].startswith("skipped broken_two.png: ")
