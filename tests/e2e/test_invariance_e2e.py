"""The translation-invariance page in a real browser: run the comparison, move the shift sliders,
see the models' probabilities change; switch to circular shifts and see the circular model reach
100% consistency."""

import re
import time

import pytest

from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle
from tests.e2e.test_layout_e2e import PROBLEMS_JS

pytestmark = pytest.mark.e2e


def _probability_titles(page) -> str:
    """The probability bars' titles, e.g. "convnet: says 7 (99%) fcnet: says 7 (97%)"."""
    titles = page.locator(".st-key-inv_probs figcaption")
    titles.first.wait_for(timeout=30_000)
    return " ".join(titles.all_text_contents())


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
        page.wait_for_timeout(800)  # charts and components lay themselves out
        page.screenshot(path=ARTIFACTS / f"invariance-{width}.png", full_page=True)
        # with results (the layout test sees the page before any): nothing cut or overlapping
        assert page.evaluate(PROBLEMS_JS) == [], f"at {width} px"
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
    page.screenshot(path=ARTIFACTS / "invariance-circular.png", full_page=True)


def _click_map_pixel(page, panel: str, column: int, row: int, col: int) -> str:
    """Click pixel (row, col) of the map in ``column`` (0-5) of the ``panel`` row ("original":
    the digit's maps, "shifted": the shifted digit's) of the equivariance pictures; return the
    page's text once the panel names that pixel, and the equation's (its code block draws in a
    shadow root, which the page's text leaves out)."""
    canvas = page.locator(f".st-key-inv_eq canvas[data-panel='{panel}'][data-column='{column}']")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    size = 20  # conv 2's maps of the lesson's ConvNet: 20 x 20
    page.mouse.click(
        box["x"] + (col + 0.5) * box["width"] / size, box["y"] + (row + 0.5) * box["height"] / size
    )
    deadline = time.monotonic() + 30
    while f"pixel ({row}, {col})" not in page.locator("main").inner_text():
        assert time.monotonic() < deadline, f"the panel never showed pixel ({row}, {col})"
        time.sleep(0.25)
    wait_idle(page)
    equation = page.locator(".st-key-inv_rf_products_equation pre").inner_text()
    return page.locator("main").inner_text() + "\n" + equation


def _check_equation(text: str) -> float:
    """The equation's ReLU output equals the model's own activation the panel states."""
    own = float(re.search(r"own activation there: (-?\d+\.\d+)", text).group(1))
    relu = re.search(r"ReLU\(([−\d.]+)\) = ([−\d.]+)", text)
    assert relu, "no equation on the page"
    assert abs(float(relu.group(2).replace("−", "-")) - own) < 1e-3, (relu.group(0), own)
    return own


def test_click_a_feature_map_pixel_and_read_its_equation(page):
    open_app(page, "invariance", timeout=300)
    page.get_by_text("s on this machine").wait_for(timeout=300_000)
    _set_number(page, "Epochs (same for all)", "1")
    _set_number(page, "Largest shift K (px)", "2")
    page.get_by_text("2-D grid of shifts").click()  # off: a smaller measurement
    wait_idle(page)
    _train(page)
    _move_slider(page, "dx (→ right)", 3)
    page.get_by_text("From a feature map to its arithmetic").wait_for(timeout=30_000)

    # a pixel of the unshifted digit's third map: conv 2's 9x9 field on the unshifted digit
    text = _click_map_pixel(page, "original", 2, 5, 11)
    assert re.search(r"conv 2, map \d+, pixel \(5, 11\) of the unshifted digit", text)
    assert "the 9x9 input pixels at rows 5–13, columns 11–19" in text
    assert "the other 13 channels" in text and "total:" in text and "(bias)" in text
    _check_equation(text)

    # the same place in the shifted digit's map: the field is on the shifted digit
    text = _click_map_pixel(page, "shifted", 2, 6, 2)
    assert re.search(r"conv 2, map \d+, pixel \(6, 2\) of the digit shifted by \(3, 0\)", text)
    assert "the 9x9 input pixels at rows 6–14, columns 2–10" in text
    _check_equation(text)
    assert_no_exception(page)

    page.locator(".st-key-inv_eq").scroll_into_view_if_needed()
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 4600})
        wait_idle(page)
        page.screenshot(path=ARTIFACTS / f"invariance-arithmetic-{width}.png", full_page=True)
    assert page.errors == []
