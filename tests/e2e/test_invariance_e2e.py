"""The translation-invariance page in a real browser: run the comparison, move the shift sliders,
see both models' probabilities change."""

import time

import pytest

from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle

pytestmark = pytest.mark.e2e


def _probability_titles(page) -> str:
    """The probability chart's subplot titles, e.g. "convnet: says 7 (99%) fcnet: says 7 (97%)"."""
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="says")
    chart.first.wait_for(timeout=30_000)
    return " ".join(chart.first.locator("text.annotation-text").all_text_contents())


def _move_slider(page, label: str, presses: int) -> None:
    slider = page.get_by_role("slider", name=label)
    slider.focus()
    for _ in range(presses):
        slider.press("ArrowRight")
    wait_idle(page)


def test_compare_then_shift_a_digit(page):
    open_app(page, "invariance")
    epochs = page.get_by_label("Epochs (same for all)")
    epochs.fill("3")
    epochs.press("Tab")
    page.get_by_role("button", name="Train and compare").click()
    # the background job reports progress, then the results appear without a manual refresh
    page.get_by_text("Shift one digit").wait_for(timeout=240_000)
    wait_idle(page, 60)
    assert_no_exception(page)
    main = page.locator("main").inner_text()
    assert "141,258" in main and "139,930" in main  # parameter counts next to the curves
    assert "chance (10%)" in main and "Download the tables" in main

    before = _probability_titles(page)
    assert "convnet: says" in before and "fcnet: says" in before
    _move_slider(page, "dx (→ right)", 6)
    _move_slider(page, "dy (↓ down)", 3)
    assert_no_exception(page)
    deadline = time.monotonic() + 20
    after = _probability_titles(page)
    while after == before and time.monotonic() < deadline:
        time.sleep(0.5)
        after = _probability_titles(page)
    assert after != before, f"probabilities did not change: {before!r}"
    assert "shifted by (6, 3)" in page.locator("main").inner_text()
    # Streamlit scrolls inside its own container, so a tall window shows the whole page
    page.set_viewport_size({"width": 1400, "height": 4200})
    wait_idle(page)
    page.screenshot(path=ARTIFACTS / "invariance.png", full_page=True)
    assert page.errors == []
