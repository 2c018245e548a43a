"""Browser tests: a real `streamlit run` server on a free port and headless Chromium driven by
Playwright with the system browser (no browser download). Without /usr/bin/chromium these tests
skip with the reason, unless CNN_REQUIRE_BROWSER=1 (CI sets it), where they fail instead."""

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.serving import (  # noqa: F401 (CHROMIUM_ARGS: used by browser test files)
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    launch_chromium,
    running_server,
)

ARTIFACTS = ROOT / "test-artifacts"


def _require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install -r requirements.txt)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CNN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but cannot run: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Base URL of a streamlit server running the app with its own run store."""
    _require_browser()
    work = tmp_path_factory.mktemp("server")
    # class mode: every browser context is its own visitor with its own workspace, so tests
    # sharing this server never see each other's runs or jobs
    env = {"CNN_EXPLORER_RUNS": str(work / "runs"), "CNN_EXPLORER_MODE": "class"}
    with running_server(env, log=work / "server.log") as (url, _proc):
        yield url
    shutil.copy(work / "server.log", ARTIFACTS / "server.log") if ARTIFACTS.exists() else None


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    """A fresh browser page (1400x1000); page errors are collected in ``page.errors``."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.base_url = app_server
    yield pg
    context.close()


def wait_idle(page, timeout: float = 60) -> None:
    """Wait until the app's script run has finished: Streamlit marks its root element with
    data-test-script-state="notRunning" (seen twice in a row, so a rerun that is about to
    start is not mistaken for the end). Live fragments may run again afterwards."""
    app = page.locator('[data-testid="stApp"]')
    app.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        state = app.get_attribute("data-test-script-state")
        quiet = quiet + 1 if state == "notRunning" else 0
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not finish its run in {timeout} s (state {state})")
        time.sleep(0.3)


def open_app(page, path: str = "", timeout: float = 90) -> None:
    """Load ``/path`` and wait for the script run to finish; fail on a shown exception."""
    page.goto(f"{page.base_url}/{path}")
    wait_idle(page, timeout)
    assert_no_exception(page)


def assert_no_exception(page) -> None:
    shown = page.locator('[data-testid="stException"]')
    assert shown.count() == 0, f"the page shows an exception: {shown.first.inner_text()[:500]}"
