"""Live training in a real browser: start, watch the curve grow, pause, resume, stop, reload."""

import time

import pytest

from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle

pytestmark = pytest.mark.e2e

POINTS_JS = """() => {
  const plot = document.querySelector('.st-key-loss_chart .js-plotly-plot');
  return plot && plot.data && plot.data[0] ? plot.data[0].x.length : -1;
}"""


def plotted(page) -> int:
    return page.evaluate(POINTS_JS)


def wait_until(page, predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            page.screenshot(path=ARTIFACTS / "training-timeout.png", full_page=True)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 6000)})
    time.sleep(0.8)  # plotly charts re-layout to the new size
    page.screenshot(path=ARTIFACTS / name)
    page.set_viewport_size({"width": 1400, "height": 1000})


def status_text(page) -> str:
    return page.locator("main").inner_text()


def test_train_pause_resume_stop_and_reload(page):
    open_app(page, "training")
    page.get_by_label("Batch size").fill("16")
    page.get_by_label("Epochs").fill("20")
    page.get_by_label("Run name (optional)").fill("browser run")
    page.get_by_role("button", name="Start training").click()

    wait_until(page, lambda: plotted(page) >= 5, what="first plotted batches")
    first = plotted(page)
    wait_until(page, lambda: plotted(page) > first + 5, what="the curve to grow")
    assert_no_exception(page)

    page.get_by_role("button", name="Pause").click()
    wait_until(page, lambda: "paused" in status_text(page) and
               page.get_by_role("button", name="Resume").count() == 1, what="paused")  # fmt: skip
    time.sleep(1.0)
    held = plotted(page)
    time.sleep(1.5)
    assert plotted(page) == held, "points kept coming while paused"
    page.get_by_role("button", name="Resume").click()
    wait_until(page, lambda: plotted(page) > held + 3, what="training to resume")
    screenshot(page, "training-live.png")

    page.get_by_role("button", name="Stop").click()
    wait_until(page, lambda: "Saved as run" in status_text(page), what="stopped and saved")
    wait_idle(page)
    text = status_text(page)
    assert "stopped" in text
    run_id = text.split("Saved as run ")[1].split(".")[0].strip()
    stopped_at = plotted(page)
    assert stopped_at > held

    page.reload()
    wait_idle(page, 90)
    assert_no_exception(page)
    text = status_text(page)
    assert f"Saved as run {run_id}" in text, "the run is not found after a reload"
    assert "browser run" in text
    assert plotted(page) == stopped_at
    assert page.locator(".st-key-confusion .js-plotly-plot").count() == 1
    screenshot(page, "training-after-reload.png")
    assert page.errors == []


def test_bad_learning_rate_is_refused(page):
    open_app(page, "training")
    page.get_by_role("textbox", name="Learning rate").fill("-1")
    page.get_by_role("button", name="Start training").click()
    wait_idle(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Training not started")
    assert alert.count() == 1 and "learning rate must be" in alert.inner_text()
