"""Workspaces in real browsers on a class-profile server: two students are two browser contexts.

B opening A's page URL sees neither A's job nor A's run and cannot stop it; A's workspace is kept
by its cookie across a refresh and a browser restart (the same cookies in a new context)."""

import time

import pytest

from tests.e2e.conftest import ARTIFACTS, _require_browser, assert_no_exception, wait_idle
from tests.serving import running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    _require_browser()
    work = tmp_path_factory.mktemp("class-server")
    env = {
        "CNN_EXPLORER_RUNS": str(work / "runs"),
        "CNN_EXPLORER_OFFLINE": "1",
        "CNN_EXPLORER_PROFILE": "class",
    }
    with running_server(env, log=work / "server.log") as (url, _proc):
        yield url


def open_page(context, url):
    page = context.new_page()
    page.goto(url)
    wait_idle(page, 90)
    assert_no_exception(page)
    return page


def code_of(page) -> str:
    page.get_by_text("Workspace code").first.click()
    box = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]', has_text="Workspace")
    code = box.locator('[data-testid="stText"]').first
    code.wait_for(timeout=10_000)
    return code.inner_text().strip()


def wait_until(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_a_shared_url_hands_over_nothing_and_the_cookie_keeps_the_workspace(browser, class_server):
    ARTIFACTS.mkdir(exist_ok=True)
    alice = browser.new_context(viewport={"width": 1400, "height": 1000})
    bob = browser.new_context(viewport={"width": 1400, "height": 1000})
    a = open_page(alice, f"{class_server}/training")
    a.get_by_role("textbox", name="Batch size", exact=True).fill("16")
    a.get_by_role("textbox", name="Epochs", exact=True).fill("20")
    a.get_by_label("Run name (optional)").fill("alice's run")
    a.get_by_role("button", name="Start training").click()
    stop = a.get_by_role("button", name="Stop")
    stop.wait_for(timeout=60_000)
    code_a = code_of(a)
    assert "cnn_explorer_ws" in {c["name"] for c in alice.cookies()}
    cookie = next(c for c in alice.cookies() if c["name"] == "cnn_explorer_ws")
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > time.time() + 300 * 86400

    # Bob opens exactly the URL Alice's browser shows: nothing of Alice's is there
    b = open_page(bob, a.url)
    time.sleep(2)
    assert code_of(b) != code_a
    assert b.get_by_role("button", name="Stop").count() == 0
    assert "alice's run" not in b.locator("main").inner_text()
    b.screenshot(path=ARTIFACTS / "workspaces-bob.png")

    # Alice refreshes: the cookie brings her workspace and her running job back; she stops it
    a.reload()
    wait_idle(a, 90)
    assert code_of(a) == code_a
    a.get_by_role("button", name="Stop").click()
    wait_until(lambda: "Saved as run" in a.locator("main").inner_text(), what="the run saved")

    # a browser restart (the same cookies in a new context) opens the same workspace
    state = alice.storage_state()
    alice.close()
    again = browser.new_context(viewport={"width": 1400, "height": 1000}, storage_state=state)
    a2 = open_page(again, f"{class_server}/training")
    assert code_of(a2) == code_a
    assert "alice's run" in a2.locator("main").inner_text()
    # and Bob, reloading, still has no run
    b.reload()
    wait_idle(b, 90)
    assert "No saved runs yet" in b.locator("main").inner_text()
    again.close()
    bob.close()
