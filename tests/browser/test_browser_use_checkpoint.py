"""The standalone UI in headless Chromium, after training: Generate offers the run's checkpoints, 'Use this
checkpoint' copies one into the hypernetworks folder, the tag list offers it at once and the tag renders with the
trained file (not the untrained step-0 file of the run's name). Screenshots land in test-artifacts/browser/."""
from __future__ import annotations

import re

import pytest

from helpers_browser import ARTIFACTS, choose_option, skip_reason, text_input, ui_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REASON = skip_reason()
if REASON:
    pytest.skip(f"browser tests skipped: {REASON}", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from hypernet_ext.hypernetwork import create_hypernetwork  # noqa: E402
from hypernet_ext.storage import save_hypernetwork  # noqa: E402

LONG = 180_000
RUN = "style/20260102-030405"


def write_hypernetwork(folder, name: str, seed: int, std: float = 0.3):
    """A hypernetwork file for the tiny model's widths (text 768, attention 32/64/128)."""
    folder.mkdir(parents=True, exist_ok=True)
    hn = create_hypernetwork(name, sizes=(768, 32, 64, 128), init_std=std, seed=seed)
    return save_hypernetwork(hn, folder / f"{name}.pt")


def make_run(root, steps):
    """Checkpoints as training writes them: `<root>/style/<start time>/hypernetworks/style-<step>.pt`."""
    run = root / RUN
    for step in steps:
        write_hypernetwork(run / "hypernetworks", f"style-{step}", seed=100 + step)
    return run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_use")
    write_hypernetwork(tmp / "hypernetworks", "style", seed=0, std=0.01)  # Create's step-0 file
    return tmp


@pytest.fixture(scope="module")
def page(workspace):
    with ui_page(workspace) as page:
        yield page


def test_a_trained_checkpoint_is_copied_and_rendered_from_generate(page, workspace):
    run = make_run(workspace / "runs", steps=(2, 4))  # training finished while the page was open
    trained = run / "hypernetworks" / "style-4.pt"
    page.locator("#hnx_tabs .tab-nav button", has_text="Generate").first.click()
    choose_option(page, "hnx_generate_run_checkpoint", f"style-4.pt (step 4) in {RUN}", "hnx_generate_refresh")
    expect(text_input(page, "hnx_generate_use_name")).to_have_value("style-4", timeout=LONG)
    page.locator("#hnx_generate_use_button").click()
    info = page.locator("#hnx_generate_use_info .hnx-ok")
    expect(info).to_contain_text("<hypernet:style-4:1>", timeout=LONG)
    expect(text_input(page, "hnx_generate_tag_name")).to_have_value("style-4", timeout=LONG)  # offered at once
    copy = workspace / "hypernetworks" / "style-4.pt"
    assert copy.read_bytes() == trained.read_bytes() and trained.is_file()  # copied, never moved

    text_input(page, "hnx_generate_prompt").fill("a red cat")
    page.locator("#hnx_generate_add_tag").click()
    expect(text_input(page, "hnx_generate_prompt")).to_have_value("a red cat <hypernet:style-4:1>", timeout=LONG)
    text_input(page, "hnx_generate_steps").fill("2")
    page.locator("#hnx_generate_button").click()
    expect(page.locator("#hnx_generate_info").first).to_contain_text("Hypernetworks applied: style-4:1",
                                                                     timeout=LONG)
    page.screenshot(path=str(ARTIFACTS / "use-checkpoint-1-copied.png"), full_page=True)


def test_the_name_of_an_existing_file_is_kept_unless_overwrite_is_ticked(page, workspace):
    untrained = (workspace / "hypernetworks" / "style.pt").read_bytes()
    choose_option(page, "hnx_generate_run_checkpoint", f"style-2.pt (step 2) in {RUN}", "hnx_generate_refresh")
    name = text_input(page, "hnx_generate_use_name")
    expect(name).to_have_value("style-2", timeout=LONG)
    name.fill("style")
    page.locator("#hnx_generate_use_button").click()
    error = page.locator("#hnx_generate_use_info .hnx-error")
    expect(error).to_contain_text("already exists", timeout=LONG)
    expect(error).to_contain_text("tick 'Overwrite an existing file'")
    assert (workspace / "hypernetworks" / "style.pt").read_bytes() == untrained
    page.locator("#hnx_generate_use_overwrite input").check()
    page.locator("#hnx_generate_use_button").click()
    expect(page.locator("#hnx_generate_use_info .hnx-ok")).to_contain_text("It replaces", timeout=LONG)
    trained = workspace / "runs" / RUN / "hypernetworks" / "style-2.pt"
    assert (workspace / "hypernetworks" / "style.pt").read_bytes() == trained.read_bytes()
    page.screenshot(path=str(ARTIFACTS / "use-checkpoint-2-overwrite.png"), full_page=True)


def test_resume_tab_offers_the_checkpoint_chosen_there(page, workspace):
    """The webui's way in (its Train tab holds our Resume panel): the checkpoint picked for resuming is preselected."""
    page.locator("#hnx_tabs .tab-nav button", has_text="Resume training").first.click()
    page.locator("#hnx_resume_refresh_runs").click()
    run_box = text_input(page, "hnx_resume_run")
    if run_box.input_value() != str(workspace / "runs" / RUN):  # the list read at start-up was empty
        choose_option(page, "hnx_resume_run", RUN, "hnx_resume_refresh_runs")
    page.locator("#hnx_resume_show").click()
    expect(text_input(page, "hnx_resume_checkpoint")).to_have_value(re.compile("style-4.pt"), timeout=LONG)
    page.locator("#hnx_resume_use").click()  # open the accordion
    expect(text_input(page, "hnx_resume_run_checkpoint")).to_have_value(f"style-4.pt (step 4) in {RUN}",
                                                                        timeout=LONG)
    name = text_input(page, "hnx_resume_use_name")
    expect(name).to_have_value("style-4")
    name.fill("from-resume")
    page.locator("#hnx_resume_use_button").click()
    expect(page.locator("#hnx_resume_use_info .hnx-ok")).to_contain_text("<hypernet:from-resume:1>", timeout=LONG)
    trained = workspace / "runs" / RUN / "hypernetworks" / "style-4.pt"
    assert (workspace / "hypernetworks" / "from-resume.pt").read_bytes() == trained.read_bytes()
    page.screenshot(path=str(ARTIFACTS / "use-checkpoint-3-resume.png"), full_page=True)


def test_a_page_opened_later_lists_runs_made_since_the_start(page, workspace):
    make_run(workspace / "runs", steps=(6,))
    page.reload()
    page.locator("#hnx_tabs .tab-nav button", has_text="Generate").first.click()
    page.locator("#hnx_generate_run_checkpoint input").click()
    expect(page.locator("ul.options li", has_text="style-6.pt (step 6)").first).to_be_visible(timeout=LONG)
    page.keyboard.press("Escape")


def test_opening_the_generate_tab_lists_runs_made_meanwhile(page, workspace):
    make_run(workspace / "runs", steps=(8,))  # e.g. training in the Train tab just saved it
    page.locator("#hnx_tabs .tab-nav button", has_text="Resume training").first.click()
    page.locator("#hnx_tabs .tab-nav button", has_text="Generate").first.click()
    page.wait_for_timeout(1000)
    page.locator("#hnx_generate_run_checkpoint input").click()
    expect(page.locator("ul.options li", has_text="style-8.pt (step 8)").first).to_be_visible(timeout=LONG)
    page.keyboard.press("Escape")
