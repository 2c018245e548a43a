"""The translation-invariance page in a real browser: run the comparison, move the shift sliders,
see the models' probabilities change; switch to circular shifts and see the circular model reach
100% consistency."""

import re
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


def _set_number(page, label: str, value: str) -> None:
    box = page.get_by_role("spinbutton", name=label)
    box.fill(value)
    box.press("Tab")
    wait_idle(page)


def _choose_models(page, names: list[str]) -> None:
    """Replace the models multiselect's choice with ``names`` (their display names' starts)."""
    select = page.locator('[data-testid="stMultiSelect"]').first
    clear = select.get_by_role("button", name=re.compile("Clear all", re.I))
    if clear.count():
        clear.first.click()
        wait_idle(page)
    for name in names:
        select.locator("input").click()
        select.locator("input").fill(name)
        page.keyboard.press("Enter")
        wait_idle(page)
    page.keyboard.press("Escape")


def _train(page) -> None:
    page.get_by_role("button", name="Train and compare").click()
    # the background job reports progress, then the results appear without a manual refresh
    page.get_by_text("Shift one digit").wait_for(timeout=600_000)
    wait_idle(page, 60)
    assert_no_exception(page)


def test_compare_then_shift_a_digit(page):
    open_app(page, "invariance", timeout=300)
    # the estimate, from this machine's speed (measured once per server, in the background)
    page.get_by_text("s on this machine").wait_for(timeout=300_000)
    _set_number(page, "Epochs (same for all)", "1")
    _train(page)
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
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 4600})
        wait_idle(page)
        page.screenshot(path=ARTIFACTS / f"invariance-{width}.png", full_page=True)
    assert page.errors == []


def test_circular_shifts_make_the_circular_model_fully_consistent(page):
    open_app(page, "invariance", timeout=300)
    page.get_by_role("radio", name="circular (wrap round)").click()
    wait_idle(page)
    _choose_models(page, ["ConvNet, circular padding", "FCNet"])
    _set_number(page, "Epochs (same for all)", "1")
    _set_number(page, "Largest shift K (px)", "2")
    page.get_by_text("2-D grid of shifts").click()  # off: a smaller measurement
    wait_idle(page)
    _train(page)
    main = page.locator("main").inner_text()
    assert "convnet-circular, circular shifts: consistency C(2) 100.0%" in main
    assert re.search(r"convnet-circular · 13,578 parameters · clean [\d.]+% · C\(2\) 100\.0%", main)
    assert not re.search(r"fcnet · [\d,]+ parameters · clean [\d.]+% · C\(2\) 100\.0%", main)
    assert "global average" in main and "flatten + Linear" in main
    assert page.errors == []
