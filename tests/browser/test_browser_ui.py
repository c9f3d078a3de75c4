"""The standalone UI in headless Chromium: create, preprocess, train (loss plot + preview), interrupt,
resume, generate with a tag. Screenshots land in test-artifacts/browser/."""
from __future__ import annotations

import re

import pytest

from helpers_browser import (ARTIFACTS, LONG, choose_option, set_text, skip_reason, ui_page,
                             tab, text_input, wait_state)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REASON = skip_reason()
if REASON:
    pytest.skip(f"browser tests skipped: {REASON}", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    from PIL import Image
    raw = tmp / "raw"
    raw.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 160, 40), (40, 60, 200)]):
        image = Image.new("RGB", (96, 80), color)
        for x in range(0, 96, 12):
            for y in range(0, 80, 10):
                image.putpixel((x, y), (255, 255, 255))
        image.save(raw / f"red_cat_{i}.png")
    return tmp


@pytest.fixture(scope="module")
def page(workspace):
    with ui_page(workspace, "() => typeof window.hypernetExtStartJob === 'function'") as page:
        yield page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_1_create(page, workspace):
    set_text(page, "hnx_create_name", "style")
    expect(page.locator("#hnx_create_estimate").first).to_contain_text("parameters for widths 768, 32, 64, 128")
    set_text(page, "hnx_create_layer_structure", "1, 3, 1")
    expect(page.locator("#hnx_create_estimate").first).to_contain_text("parameters")
    page.locator("#hnx_create_button").click()
    expect(page.locator("#hnx_create_result").first).to_contain_text("Created", timeout=LONG)
    assert (workspace / "hypernetworks" / "style.pt").is_file()
    page.locator("#hnx_create_button").click()  # a second click must not overwrite
    expect(page.locator("#hnx_create_result").first).to_contain_text("already exists", timeout=LONG)
    expect(text_input(page, "hnx_create_name")).to_have_value("style")  # nothing typed is lost
    page.locator('[title^="Width multipliers"]').first.wait_for(timeout=LONG)  # tooltips are applied
    shot(page, "1-create")


def test_2_preprocess(page, workspace):
    tab(page, "Preprocess images")
    set_text(page, "hnx_preprocess_source", workspace / "raw")
    set_text(page, "hnx_preprocess_destination", workspace / "data")
    for slider in ("hnx_preprocess_width", "hnx_preprocess_height"):
        number = page.locator(f"#{slider} input[type=number]")
        number.fill("64")
        number.press("Enter")
    page.locator("#hnx_preprocess_captioners label", has_text="filename").click()
    page.locator("#hnx_preprocess_start").click()
    wait_state(page, "hnx_preprocess_live_status", "finished")
    expect(page.locator("#hnx_preprocess_live_status").first).to_contain_text("Preprocessed 3 image(s)")
    assert len(list((workspace / "data").glob("*.png"))) == 3 and len(list((workspace / "data").glob("*.txt"))) == 3
    shot(page, "2-preprocess")


def test_3_train_with_live_view(page, workspace):
    tab(page, "Train hypernetwork")
    expect(text_input(page, "hnx_train_hypernetwork")).to_have_value("style")
    set_text(page, "hnx_train_data_dir", workspace / "data")
    set_text(page, "hnx_train_steps", 4)
    set_text(page, "hnx_train_save_every", 2)
    set_text(page, "hnx_train_preview_every", 2)
    set_text(page, "hnx_train_learning_rate", "0.001")
    page.locator("#hnx_train_start").click()
    wait_state(page, "hnx_train_live_status", "finished", kind="training")
    status = page.locator("#hnx_train_live_status").first.first
    expect(status).to_contain_text("4 / 4")
    expect(status).to_contain_text("Loss")
    expect(page.locator("#hnx_train_loss_plot img")).to_be_visible(timeout=LONG)
    expect(page.locator("#hnx_train_preview_image img")).to_be_visible(timeout=LONG)
    assert len(list((workspace / "runs" / "style").glob("*/hypernetworks/style-4.pt"))) == 1  # a run folder of its own
    shot(page, "3-train")


def test_4_interrupt(page, workspace):
    set_text(page, "hnx_train_steps", 3000)
    set_text(page, "hnx_train_save_every", 0)
    set_text(page, "hnx_train_preview_every", 0)
    page.locator("#hnx_train_start").click()
    page.locator('#hnx_train_live_status [data-hnx-state="running"]').first.wait_for(timeout=LONG)
    expect(page.locator("#hnx_train_live_status").first).to_contain_text("Speed", timeout=LONG)
    page.locator("#hnx_train_interrupt").click()
    wait_state(page, "hnx_train_live_status", "interrupted")
    shot(page, "4-interrupted")


def test_5_resume(page, workspace):
    tab(page, "Resume training")
    page.locator("#hnx_resume_refresh_runs").click()
    # the newest run (the interrupted one) is offered first; the finished run is a folder of its own
    expect(text_input(page, "hnx_resume_run")).to_have_value(
        re.compile("^" + re.escape(str(workspace / "runs" / "style")) + r"/\d{8}-\d{6}"), timeout=LONG)
    assert len(list((workspace / "runs" / "style").iterdir())) == 2
    page.locator("#hnx_resume_show").click()
    table = page.locator("#hnx_resume_table")
    expect(table).to_contain_text(".pt", timeout=LONG)
    set_text(page, "hnx_resume_steps", 0)
    checkpoint = text_input(page, "hnx_resume_checkpoint")
    expect(checkpoint).not_to_have_value("", timeout=LONG)
    last = checkpoint.input_value()
    step = int(last.split("|")[0].split()[1])
    set_text(page, "hnx_resume_steps", step + 2)
    page.locator("#hnx_resume_start").click()
    expect(page.locator("#hnx_resume_message").first).to_contain_text("exactly, with its optimizer state", timeout=LONG)
    wait_state(page, "hnx_resume_live_status", "finished")
    expect(page.locator("#hnx_resume_live_status").first).to_contain_text(f"{step + 2} / {step + 2}")
    shot(page, "5-resume")


def test_6_generate_with_tag(page, workspace):
    tab(page, "Generate")
    set_text(page, "hnx_generate_prompt", "a red cat")
    choose_option(page, "hnx_generate_tag_name", "style", refresh_id="hnx_generate_refresh")
    page.locator("#hnx_generate_add_tag").click()
    expect(text_input(page, "hnx_generate_prompt")).to_have_value("a red cat <hypernet:style:1>", timeout=LONG)
    set_text(page, "hnx_generate_steps", 4)
    page.locator("#hnx_generate_button").click()
    expect(page.locator("#hnx_generate_info").first).to_contain_text("Hypernetworks applied: style:1", timeout=LONG)
    expect(page.locator("#hnx_generate_image img")).to_be_visible(timeout=LONG)
    shot(page, "6-generate")
