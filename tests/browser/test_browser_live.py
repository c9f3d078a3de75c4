"""The standalone UI tells the truth without a click: live views, messages and lists (issue 10).

One UI server, several pages (a reload, a second browser tab): a page that opens shows the running job
at once and keeps polling; a finished job's elapsed time and speed stop counting; messages keep their
own place (a status refresh never overwrites them), are styled as errors and appear once; lists of
hypernetworks, runs and checkpoints refresh themselves.
"""
from __future__ import annotations

import re

import pytest

from helpers_browser import (ARTIFACTS, CHROMIUM_ARGS, LONG, chromium_path, set_text, skip_reason, start_ui, stop_ui,
                             tab, text_input, wait_state)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REASON = skip_reason()
if REASON:
    pytest.skip(f"browser tests skipped: {REASON}", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

NAME = "live"
SHORT = 30_000  # ms: what a page open, a tab switch or a poll may take on a busy 2-core machine


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A captioned 64x64 dataset; no hypernetwork and no run yet (the UI creates them after it starts)."""
    tmp = tmp_path_factory.mktemp("browser-live")
    from PIL import Image
    data = tmp / "data"
    data.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 160, 40)]):
        Image.new("RGB", (64, 64), color).save(data / f"shape_{i}.png")
        (data / f"shape_{i}.txt").write_text("a red shape", encoding="utf-8")
    return tmp


@pytest.fixture(scope="module")
def ui(workspace):
    process, url = start_ui(workspace)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            yield context, url
            browser.close()
    finally:
        stop_ui(process)


@pytest.fixture(scope="module")
def page(ui):
    """The first browser tab: it creates, trains and interrupts."""
    return open_page(ui)


def open_page(ui):
    context, url = ui
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#hnx_create_name", timeout=LONG)
    page.wait_for_function("() => typeof window.hypernetExtStartJob === 'function'", timeout=LONG)
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"live-{name}.png"), full_page=True)


def status_text(page, panel: str = "train") -> str:
    return page.locator(f"#hnx_{panel}_live_status").first.inner_text()


def row(page, label: str, panel: str = "train") -> str:
    """A value of the live view's table (e.g. "Elapsed"), "" when it has no such row."""
    found = re.search(rf"^{label}\s+(.+)$", status_text(page, panel), re.MULTILINE)
    return found.group(1).strip() if found else ""


def current_step(page) -> int:
    step = row(page, "Step")
    return int(step.split("/")[0]) if step else -1


def wait_for_steps_to_pass(page, count: int = 2) -> None:
    """Wait until the page's live view showed `count` more steps: it was refreshed that often by itself."""
    start = current_step(page)
    page.wait_for_function(
        """([start, count]) => {
            const status = document.querySelector('#hnx_train_live_status');
            const found = status && status.innerText.match(/Step\\s+(\\d+) \\//);
            return found && Number(found[1]) >= start + count;
        }""", arg=[start, count], timeout=LONG)


def test_1_a_created_network_is_listed_for_training_without_refresh(page, workspace):
    set_text(page, "hnx_create_name", NAME)
    set_text(page, "hnx_create_layer_structure", "1, 2, 1")
    page.locator("#hnx_create_button").click()
    expect(page.locator("#hnx_create_result").first).to_contain_text("Created", timeout=LONG)
    assert (workspace / "hypernetworks" / f"{NAME}.pt").is_file()
    # the Train list was read when the server started (no file then); nobody clicks "Refresh list"
    expect(text_input(page, "hnx_train_hypernetwork")).to_have_value(NAME, timeout=SHORT)
    tab(page, "Train hypernetwork")
    expect(text_input(page, "hnx_train_hypernetwork")).to_have_value(NAME, timeout=SHORT)


def test_2_the_create_error_appears_once(page):
    tab(page, "Create hypernetwork")
    set_text(page, "hnx_create_name", "broken")
    set_text(page, "hnx_create_layer_structure", "1, 3")
    expect(page.locator("#hnx_create_estimate").first).to_contain_text("must start and end with 1", timeout=SHORT)
    page.locator("#hnx_create_button").click()
    expect(page.locator("#hnx_create_result").first).to_contain_text("must start and end with 1", timeout=LONG)
    expect(page.locator(".hnx-error", has_text="must start and end with 1")).to_have_count(1, timeout=SHORT)
    set_text(page, "hnx_create_layer_structure", "1, 2, 1")  # the estimate comes back once the field is fixed
    expect(page.locator("#hnx_create_estimate").first).to_contain_text("parameters", timeout=SHORT)
    set_text(page, "hnx_create_name", NAME)
    page.locator("#hnx_create_button").click()
    expect(page.locator("#hnx_create_result").first).to_contain_text("already exists", timeout=LONG)
    expect(page.locator(".hnx-error", has_text="already exists")).to_have_count(1)
    shot(page, "2-create-error-once")


def test_3_a_page_opened_after_the_file_was_made_lists_it_for_generate(ui):
    """The Generate tag list is filled when a page opens, not only when the server started."""
    other = open_page(ui)
    expect(text_input(other, "hnx_generate_tag_name")).to_have_value(NAME, timeout=SHORT)
    other.close()


def test_4_a_second_tab_shows_the_running_job_at_once_and_follows_it(page, ui, workspace):
    tab(page, "Train hypernetwork")
    set_text(page, "hnx_train_data_dir", workspace / "data")
    set_text(page, "hnx_train_steps", 3000)
    for field in ("hnx_train_save_every", "hnx_train_preview_every"):
        set_text(page, field, 0)
    page.locator("#hnx_train_start").click()
    wait_state(page, "hnx_train_live_status", "running", kind="training")
    second = open_page(ui)  # nobody clicks "Refresh status" in it
    tab(second, "Train hypernetwork")
    wait_state(second, "hnx_train_live_status", "running", kind="training")
    wait_for_steps_to_pass(second)  # it keeps polling by itself
    # the Resume tab's live view was filled on open too
    expect(second.locator('#hnx_resume_live_status [data-hnx-state="running"]')).to_have_count(1)
    shot(second, "4-second-tab")
    second.close()


def test_5_the_busy_message_stays_through_status_refreshes_and_looks_like_an_error(page):
    page.locator("#hnx_train_start").click()
    message = page.locator("#hnx_train_message").first
    expect(message).to_contain_text("still running", timeout=LONG)
    wait_for_steps_to_pass(page)  # the live view was refreshed at least twice since
    expect(message).to_contain_text("still running")
    expect(page.locator("#hnx_train_live_status").first).not_to_contain_text("still running")
    error = message.locator(".hnx-error")
    # style.css is loaded: an error has its red left border, unlike plain text
    assert error.evaluate("e => getComputedStyle(e).borderLeftWidth") == "3px"
    shot(page, "5-busy-message")


def test_6_a_finished_jobs_elapsed_time_and_speed_stop_counting(page, ui):
    page.locator("#hnx_train_interrupt").click()
    expect(page.locator("#hnx_train_message").first).to_contain_text("Interrupting", timeout=LONG)
    wait_state(page, "hnx_train_live_status", "interrupted", kind="training")
    elapsed, speed = row(page, "Elapsed"), row(page, "Speed")
    assert elapsed and speed
    page.wait_for_timeout(2_500)  # long enough for a counting clock to show another second
    later = open_page(ui)  # a fresh page reads the job's status anew
    tab(later, "Train hypernetwork")
    wait_state(later, "hnx_train_live_status", "interrupted", kind="training")
    assert (row(later, "Elapsed"), row(later, "Speed")) == (elapsed, speed)
    later.close()


def test_7_a_new_error_has_its_own_place_and_stays_until_the_next_action(page, workspace):
    set_text(page, "hnx_train_data_dir", workspace / "missing")
    page.locator("#hnx_train_start").click()
    message = page.locator("#hnx_train_message").first
    expect(message.locator(".hnx-error")).to_contain_text("does not exist", timeout=LONG)
    status = page.locator("#hnx_train_live_status").first
    expect(status.locator('[data-hnx-state="interrupted"]')).to_have_count(1)  # the previous job, as it was
    expect(status).not_to_contain_text("does not exist")
    page.locator("#hnx_train_live_refresh").click()
    expect(status.locator('[data-hnx-state="interrupted"]')).to_have_count(1)
    expect(message.locator(".hnx-error")).to_contain_text("does not exist")
    page.locator("#hnx_train_interrupt").click()  # the user's next action replaces it
    expect(message).to_contain_text("No job is running", timeout=LONG)
    expect(message.locator(".hnx-error")).to_have_count(0)
    set_text(page, "hnx_train_data_dir", workspace / "data")


def test_8_the_resume_run_list_is_filled_on_open_and_its_table_follows_a_resume(ui, workspace):
    page = open_page(ui)
    run = text_input(page, "hnx_resume_run")  # filled when the page opened, before the tab is shown
    expect(run).to_have_value(re.compile("^" + re.escape(str(workspace / "runs" / NAME)) + "/"), timeout=SHORT)
    tab(page, "Resume training")
    table = page.locator("#hnx_resume_table")
    expect(table).to_contain_text(".pt", timeout=SHORT)
    [checkpoint] = list((workspace / "runs" / NAME).glob("*/hypernetworks/*.pt"))
    step = int(checkpoint.stem.rsplit("-", 1)[1])
    set_text(page, "hnx_resume_steps", step + 2)
    page.locator("#hnx_resume_start").click()
    expect(page.locator("#hnx_resume_message").first).to_contain_text("Resuming from step", timeout=LONG)
    wait_state(page, "hnx_resume_live_status", "finished", kind="training")
    # nobody clicks "Show checkpoints": the table lists the checkpoint the resume wrote
    expect(table).to_contain_text(f"{NAME}-{step + 2}.pt", timeout=SHORT)
    shot(page, "8-resume-table")
    page.close()
