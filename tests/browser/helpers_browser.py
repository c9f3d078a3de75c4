"""Fixtures' workings for the browser tests: a standalone UI subprocess and a headless Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
LONG = 180_000  # ms: the longest any one step of a browser test may wait
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def skip_reason() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("the 'playwright' Python package is not installed "
                "(pip install -r requirements-browser.txt -c constraints.txt)")
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ui(tmp: Path) -> tuple[subprocess.Popen, str]:
    """`python -m hypernet_ext ui` on a free 127.0.0.1 port with the tiny model; returns (process, url)."""
    port = free_port()
    log = open(tmp / "ui-server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "hypernet_ext", "ui", "--model", "tiny", "--port", str(port),
         "--hypernetwork-dir", str(tmp / "hypernetworks"), "--log-dir", str(tmp / "runs")],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"the UI exited early:\n{(tmp / 'ui-server.log').read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.25)
    process.terminate()
    raise RuntimeError(f"the UI did not answer at {url}:\n{(tmp / 'ui-server.log').read_text()}")


def stop_ui(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(20)


@contextmanager
def ui_page(tmp: Path, ready_script: str | None = None):
    """A headless Chromium page on a standalone UI serving `tmp`, once the Create panel is drawn (and
    `ready_script`, a JS predicate, holds); the UI and the browser are stopped afterwards."""
    from playwright.sync_api import sync_playwright

    process, url = start_ui(tmp)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#hnx_create_name", timeout=LONG)
            if ready_script:
                page.wait_for_function(ready_script, timeout=LONG)
            yield page
            browser.close()
    finally:
        stop_ui(process)


# -- driving the standalone UI's panels (ids are the panels' elem_ids) ---------------------------------
def text_input(page, elem_id: str):
    return page.locator(f"#{elem_id}").locator("textarea, input").first


def set_text(page, elem_id: str, value) -> None:
    box = text_input(page, elem_id)
    box.fill(str(value))
    box.press("Tab")


def tab(page, title: str) -> None:
    page.locator("#hnx_tabs .tab-nav button", has_text=title).first.click()


def wait_state(page, status_id: str, state: str, kind: str = "") -> None:
    """Wait for the live view to show a job of `kind` (any when empty) in `state`; a live view shows the
    last job of any kind, e.g. a finished preprocessing job until training starts."""
    of_kind = f'[data-hnx-kind="{kind}"]' if kind else ""
    page.locator(f'#{status_id} [data-hnx-state="{state}"]{of_kind}').first.wait_for(timeout=LONG)


def choose_option(page, elem_id: str, text: str, refresh_id: str, attempts: int = 12) -> None:
    """Refresh a gradio dropdown's choices from the server, then pick `text`.

    Opening the list before the refresh round-trip has landed shows the old choices, so refresh and
    reopen until the option appears (bounded: 12 tries of 5 s).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        page.locator(f"#{refresh_id}").click()
        page.wait_for_timeout(500)
        page.locator(f"#{elem_id} input").click()
        try:
            page.locator("ul.options li", has_text=text).first.click(timeout=5_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    page.screenshot(path=str(ARTIFACTS / f"failed-choose-{elem_id}.png"), full_page=True)
    raise AssertionError(f"option {text!r} never appeared in #{elem_id}")
