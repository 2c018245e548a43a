"""Server kill drill in a real browser: training started from the page, the Streamlit server
killed with SIGKILL after the first epoch-end checkpoint, and the run is then listed as
interrupted (with curves and weights) by the CLI and by the page of a restarted server."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnncore.runs import RunStore
from tests import serving
from tests.conftest import ROOT
from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle

pytestmark = pytest.mark.e2e
WAIT_S = 300  # a guard against a hang, not a speed requirement


def start_server(runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    url, proc = serving.start_server({"CNN_EXPLORER_RUNS": str(runs)}, log=log)
    return proc, url


def stores(runs: Path) -> list[RunStore]:
    """The run stores under ``runs`` (the top folder, or workspace folders inside it)."""
    folders = {p.parent.parent for p in runs.glob("**/config.json")}
    return [RunStore(f) for f in sorted(folders)]


def checkpointed_run(runs: Path):
    for store in stores(runs):
        for info in store.list():
            if info.status == "running" and info.checkpoint_epoch:
                return store, info
    return None


def test_kill_9_of_the_server_leaves_an_interrupted_run(browser, tmp_path):
    runs = tmp_path / "runs"
    proc, url = start_server(runs, tmp_path / "server.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.base_url = url
    try:
        open_app(page, "training")
        page.get_by_role("textbox", name="Batch size", exact=True).fill("64")
        page.get_by_role("textbox", name="Epochs", exact=True).fill("20")
        page.get_by_label("Run name (optional)").fill("server drill")
        page.get_by_role("button", name="Start training").click()
        deadline = time.monotonic() + WAIT_S
        while (found := checkpointed_run(runs)) is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "server-kill-timeout.png", full_page=True)
                pytest.fail("no checkpointed run appeared while the server trained")
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()

    store, info = found
    after = store.info(info.id)
    assert after.status == "interrupted" and after.name == "server drill"
    assert (store.metrics(info.id)["kind"] == "train").sum() >= 1
    store.load_model(info.id)  # the epoch-end checkpoint
    listing = subprocess.run(
        [sys.executable, "-m", "cnncore", "runs", "--runs", str(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "interrupted" in next(ln for ln in listing.stdout.splitlines() if info.id in ln)

    # A restarted server lists it too: its page shows the run's status. The same browser context
    # (same cookies: the same visitor, should runs be kept per visitor) opens it.
    proc, url = start_server(runs, tmp_path / "server2.log")
    page.base_url = url
    try:
        open_app(page, "training")
        wait_idle(page)
        assert_no_exception(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "server-kill-restarted.png"), full_page=True)
        page.get_by_text("interrupted", exact=True).first.wait_for(timeout=60_000)
    finally:
        context.close()
        serving.stop_server(proc)
