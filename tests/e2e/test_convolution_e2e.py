"""The convolution page in a real browser: play the Plotly animation, step, screenshot."""

import time

import pytest

from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle

pytestmark = pytest.mark.e2e

WINDOW_JS = """() => {
  const gd = document.querySelector('.st-key-cv_anim .js-plotly-plot');
  const w = gd.data.find(t => t.name === 'window');
  return [w.x[0] + 0.5, w.y[0] + 0.5];
}"""


def _window(page):
    return tuple(page.evaluate(WINDOW_JS))


def test_play_moves_the_window_and_steps_back(page):
    open_app(page, "convolution")
    page.locator(".st-key-cv_anim .js-plotly-plot").wait_for()
    assert _window(page) == (0, 0)  # step 1: top-left window
    page.screenshot(path=ARTIFACTS / "convolution_start.png", full_page=True)

    page.locator(".st-key-cv_anim .updatemenu-button").filter(has_text="fast").click()
    seen = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and (not seen or seen[-1] != (2, 2)):
        seen.append(_window(page))
        if len(set(seen)) == 4:
            page.screenshot(path=ARTIFACTS / "convolution_playing.png", full_page=True)
        time.sleep(0.05)
    order = list(dict.fromkeys(seen))  # distinct positions in the order they appeared
    # (left, top) of a 3x3 window over a 5x5 image, row by row
    expected = [(left, top) for top in range(3) for left in range(3)]
    assert len(order) >= 5, f"the window barely moved while playing: {order}"
    assert all(pos in expected for pos in order), order
    indices = [expected.index(pos) for pos in order]
    assert indices == sorted(indices), f"the window did not move row by row: {order}"
    assert indices[-1] == 8, f"the animation did not reach the last window: {order}"
    assert "step 9 of 9" in page.locator(".st-key-cv_anim").inner_text()

    # Step with the server-side buttons: forward twice, back once.
    for label in ("Step ▶", "Step ▶", "◀ Back"):
        page.get_by_role("button", name=label).click()
        wait_idle(page)
    assert_no_exception(page)
    assert "Step 2 of 9" in page.locator("main").inner_text()
    assert _window(page) == (1, 0)
    page.screenshot(path=ARTIFACTS / "convolution_step2.png", full_page=True)
    assert page.errors == []
