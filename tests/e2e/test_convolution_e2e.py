"""The convolution page in a real browser: one stepper, one step, whatever moved it; the quiz."""

import itertools
import re

import pytest

from cnncore import conv
from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle

pytestmark = pytest.mark.e2e

N = 9  # the lesson's 3x3 kernel on the 5x5 X: a 3x3 output map


def stepper(page, key: str = "cv_stepper"):
    return page.locator(f".st-key-{key} .stepper")


def seen(page) -> dict:
    """Everything the stepper shows that depends on the step, read from the page."""
    box = stepper(page)
    head = box.locator(".head").inner_text()
    k = int(re.match(r"Step (\d+) of (\d+)", head).group(1))
    window = box.locator(".input .cell.inwin").first
    return {
        "head": k,
        "attr": int(box.get_attribute("data-step")),
        "scrub": int(box.locator("input.scrub").input_value()),
        "equation": box.locator(".eq").inner_text(),
        "window": (int(window.get_attribute("data-r")), int(window.get_attribute("data-c"))),
        "revealed": box.locator('.output .cell[data-shown="1"]').count(),
        "head_text": head,
    }


def expected(k: int, bias: float) -> dict:
    steps = conv.conv_steps(conv.sample("X (lesson)"), conv.preset("X detector (lesson)"), bias)
    st = steps.step(k - 1)
    return {"equation": st.equation(), "window": (st.top, st.left), "cell": (st.row, st.col)}


def assert_one_story(page, bias: float) -> int:
    s = seen(page)
    k = s["head"]
    want = expected(k, bias)
    where = f"after {s['head_text']!r}"
    assert s["attr"] == s["scrub"] == k, f"stepper parts disagree {where}: {s}"
    assert s["equation"] == want["equation"], f"equation is not step {k}'s {where}"
    assert s["window"] == want["window"], f"window not at step {k}'s position {where}"
    assert s["revealed"] == k, f"output map shows {s['revealed']} cells {where}"
    assert f"output[{want['cell'][0]}, {want['cell'][1]}]" in s["head_text"]
    return k


def press(page, label: str, key: str = "cv_stepper") -> None:
    page.locator(f".st-key-{key}").get_by_role("button", name=label).click()


def test_play_step_scrub_and_filter_in_every_order_tell_one_story(page):
    open_app(page, "convolution")
    stepper(page).wait_for()
    page.screenshot(path=ARTIFACTS / "convolution_start.png", full_page=True)
    bias = 0.0
    assert assert_one_story(page, bias) == 1
    stepper(page).locator("select.speed").select_option(label="fast")

    def play():
        before = seen(page)["head"]
        press(page, "▶ Play")
        page.wait_for_timeout(600)
        if before < N:  # Play starts from the current step and moves on (later on a busy machine)
            for _ in range(50):
                if seen(page)["head"] > before:
                    break
                page.wait_for_timeout(200)
            else:
                raise AssertionError(f"Play did not move on from step {before} within 10 s")
        if stepper(page).get_by_role("button", name="❚❚ Pause").count():
            press(page, "❚❚ Pause")

    def step_twice_back_once():
        before = seen(page)["head"]
        for label in ("Step ▶", "Step ▶", "◀ Back"):
            if not stepper(page).get_by_role("button", name=label).is_disabled():
                press(page, label)
        assert abs(seen(page)["head"] - before) <= 2

    scrub_to = itertools.cycle([7, 2, 5, 9, 4, 1])

    def scrub():
        target = next(scrub_to)
        stepper(page).locator("input.scrub").fill(str(target))
        assert seen(page)["head"] == target

    def filter_change():
        nonlocal bias
        before = seen(page)["head"]
        slider = page.get_by_role("slider", name="Bias", exact=True)
        slider.focus()
        up = bias < 0.05  # between 0 and 0.1, inside the slider's range
        slider.press("ArrowRight" if up else "ArrowLeft")
        bias = 0.1 if up else 0.0
        wait_idle(page)
        page.wait_for_function(
            "([e, b]) => e.getAttribute('aria-valuetext') === b",
            arg=[slider.element_handle(), f"{bias:.2f}"],
        )
        assert seen(page)["head"] == before, "changing the filter moved the step"

    actions = {"play": play, "step": step_twice_back_once, "scrub": scrub, "filter": filter_change}
    for order in itertools.permutations(actions):
        for name in order:
            actions[name]()
            wait_idle(page)
            assert_no_exception(page)
            assert_one_story(page, bias)
    page.screenshot(path=ARTIFACTS / "convolution_stepped.png", full_page=True)
    assert page.errors == []


def test_a_click_as_play_ends_pauses_and_does_not_start_over(page):
    """Play can end by itself just as a student clicks "Pause": that click must not start Play
    over from step 1; a click a moment later does."""
    open_app(page, "convolution")
    box = stepper(page)
    box.locator("select.speed").select_option(label="fast")
    box.locator("input.scrub").fill(str(N - 1))
    press(page, "▶ Play")  # one step to go: it ends by itself 250 ms later
    page.wait_for_function(
        "(b) => b.querySelector('button.play').textContent === '▶ Play'",
        arg=box.element_handle(),
        polling=10,
    )
    box.locator("button.play").click()
    page.wait_for_timeout(600)
    assert seen(page)["head"] == N and box.locator("button.play").inner_text() == "▶ Play"
    press(page, "▶ Play")  # now it starts over
    page.wait_for_timeout(300)
    assert seen(page)["head"] < N
    assert_one_story(page, 0.0)


def test_quiz_right_then_wrong(page):
    open_app(page, "convolution")
    page.get_by_role("switch", name=re.compile("Quiz me: predict each output cell")).click()
    wait_idle(page)
    box = stepper(page)
    assert box.get_attribute("data-step") == "1" and box.get_attribute("data-hidden") == "1"
    assert box.locator(".eq").inner_text().endswith("= ?")
    assert box.get_by_role("button", name="Step ▶").is_disabled()  # waits for a prediction

    guess = page.get_by_role("textbox", name=re.compile(r"Your prediction for output\[0, 0\]"))
    guess.fill("abc")
    page.get_by_role("button", name="Check").click()
    wait_idle(page)
    assert "not a number" in page.locator("main").inner_text()
    assert box.get_attribute("data-hidden") == "1"

    guess.fill("3")
    page.get_by_role("button", name="Check").click()
    wait_idle(page)
    main = page.locator("main").inner_text()
    assert "Right: you said 3, output[0, 0] is 3" in main and "±0.05" in main
    assert box.get_attribute("data-hidden") == "0" and box.locator(".eq").inner_text().endswith(
        "= 3"
    )

    press(page, "Step ▶")
    wait_idle(page)
    assert box.get_attribute("data-step") == "2" and box.get_attribute("data-hidden") == "1"
    page.get_by_role("textbox", name=re.compile(r"Your prediction for output\[0, 1\]")).fill("2")
    page.get_by_role("button", name="Check").click()
    wait_idle(page)
    main = page.locator("main").inner_text()
    assert "Not quite: you said 2, output[0, 1] is −3" in main
    assert "1 of 2 right" in main
    assert box.locator(".eq").inner_text().endswith("= −3")
    page.screenshot(path=ARTIFACTS / "convolution_quiz.png", full_page=True)
    assert page.errors == []


def test_typing_into_the_input_grid(page):
    """A student types into a real cell: "abc" is refused with a message and the cell shows the kept
    value; "1" changes the equation; Enter moves down a row, the arrow keys move between cells."""
    open_app(page, "convolution")
    cell = page.get_by_role("textbox", name="input row 1, column 2", exact=True)
    assert cell.input_value() == "0"
    eq = stepper(page).locator(".eq")
    before = eq.inner_text()
    assert before == expected(1, 0.0)["equation"]

    cell.click()
    page.keyboard.type("abc")
    page.keyboard.press("Enter")
    below = page.get_by_role("textbox", name="input row 2, column 2", exact=True)
    assert below.evaluate("(e) => e === e.getRootNode().activeElement")  # Enter moved down
    wait_idle(page)
    error = page.locator('main [data-testid="stAlert"]').filter(has_text="previous value was kept")
    error.wait_for()
    assert "input cell at row 1, column 2 is 'abc', not a number" in error.inner_text()
    assert "previous value was kept" in error.inner_text()
    page.wait_for_function(  # the grid is redrawn from the kept value
        "(c) => c.value === '0'", arg=cell.element_handle(), timeout=10_000
    )
    assert eq.inner_text() == before

    page.keyboard.press("ArrowUp")  # back to the cell, its text selected: typing replaces it
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    wait_idle(page)
    page.wait_for_function(
        "(e) => e.innerText.startsWith('1·1 + (−1)·1')", arg=eq.element_handle(), timeout=10_000
    )
    assert error.count() == 0  # the message stayed until this next action
    assert cell.input_value() == "1"

    below.press("ArrowRight")  # a selected cell: the arrow moves to the next cell
    right = page.get_by_role("textbox", name="input row 2, column 3", exact=True)
    assert right.evaluate("(e) => e === e.getRootNode().activeElement")
    page.screenshot(path=ARTIFACTS / "convolution_grid_edit.png")
    assert page.errors == []


def test_filter_sliders_move_by_key_and_by_mouse(page):
    """The nine filter weights are real sliders: an arrow key or a drag changes the weight, its
    shown value and the stepper's equation; a preset moves the sliders themselves."""
    open_app(page, "convolution")
    eq = stepper(page).locator(".eq")
    assert eq.inner_text() == expected(1, 0.0)["equation"]  # 1·1 + (−1)·0 + ... = 3
    w00 = page.get_by_role("slider", name="w[0,0]", exact=True)
    assert page.get_by_role("slider", name=re.compile(r"^w\[")).count() == 9
    assert w00.input_value() == "1"

    w00.focus()
    w00.press("ArrowLeft")  # 1.0 -> 0.9
    wait_idle(page)
    page.wait_for_function(
        "(e) => e.innerText.startsWith('0.9·1 + ')", arg=eq.element_handle(), timeout=10_000
    )
    cell = page.locator(".st-key-cv_kernel_sliders .cell").first
    assert "0.90" in cell.inner_text()
    # quick presses all count: the answers to the earlier ones do not move the slider back
    for _ in range(8):
        w00.press("ArrowRight")
    wait_idle(page)
    page.wait_for_function(
        "(e) => e.innerText.startsWith('1.7·1 + ')", arg=eq.element_handle(), timeout=10_000
    )
    assert w00.input_value() == "1.7" and "1.70" in cell.inner_text()

    box = w00.bounding_box()  # drag the thumb to the far left: the range's lowest weight
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] - 20, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    wait_idle(page)
    lo = conv.KERNEL_RANGE[0]
    page.wait_for_function(
        "([e, lo]) => e.innerText.startsWith(lo + '·1 + ')",
        arg=[eq.element_handle(), conv.fmt(lo, paren=True)],
        timeout=10_000,
    )
    assert float(w00.input_value()) == lo

    page.get_by_label("Preset", exact=True).select_option(label="identity")
    wait_idle(page)
    page.wait_for_function(
        "(e) => e.getAttribute('aria-valuetext') === '1.00'",
        arg=page.get_by_role("slider", name="w[1,1]", exact=True).element_handle(),
        timeout=10_000,
    )
    values = [
        page.get_by_role("slider", name=f"w[{r},{c}]", exact=True).input_value()
        for r in range(3)
        for c in range(3)
    ]
    assert values == ["0", "0", "0", "0", "1", "0", "0", "0", "0"]

    # the input's and the filter's headings (drawn with their controls) are headings
    for name in ("Input (5x5, values 0–1)", "Filter"):
        assert page.get_by_role("heading", name=name, exact=True).is_visible()
    # the option controls: a menu, a radio choice and a switch, each read back from the server
    head = stepper(page).locator(".head")
    page.get_by_label("Stride", exact=True).select_option(label="2")
    wait_idle(page)
    page.wait_for_function("(e) => e.innerText.includes('of 4')", arg=head.element_handle())
    page.get_by_role("radio", name="5x5").check()
    wait_idle(page)
    page.wait_for_function("(e) => e.innerText.includes('Step 1 of 1')", arg=head.element_handle())
    assert page.get_by_role("radio", name="5x5").is_checked()
    assert page.get_by_label("Stride", exact=True).input_value() == "1"  # index of 2 in (1, 2, 3)
    page.get_by_role("switch", name=re.compile("Colour image")).click()
    wait_idle(page)
    page.get_by_role("tab", name="G").first.wait_for()
    assert page.get_by_role("switch", name=re.compile("Colour image")).is_checked()
    assert page.get_by_label("Sample input", exact=True).input_value() == "0"  # the colour sample

    page.get_by_role("tab", name="On a real digit").click()  # the views under the options
    wait_idle(page)
    assert not page.locator(".st-key-cv_stepper").count()  # only the open view is drawn
    digit = page.get_by_role("spinbutton", name="Test digit #")
    title = page.locator(".st-key-cv_digit_fig").get_by_text(re.compile("test digit #"))
    digit.fill("7")
    digit.press("Enter")
    wait_idle(page)
    title.filter(has_text="test digit #7 ").wait_for()
    digit.fill("5000")
    digit.press("Enter")
    page.get_by_text("Type a whole number from 0 to 499; 7 was kept.").wait_for()
    assert digit.input_value() == "7" and "test digit #7 " in title.inner_text()
    # the tabs follow the arrow keys too: ArrowLeft from "On a real digit" opens the one before it
    page.get_by_role("tab", name="On a real digit").press("ArrowLeft")
    wait_idle(page)
    page.locator(".st-key-cv_torch_code").wait_for()
    assert (
        page.get_by_role("tab", name="Verify with PyTorch").get_attribute("aria-selected") == "true"
    )
    assert not page.locator(".st-key-cv_digit_fig").count()
    assert_no_exception(page)
    assert page.errors == []


# Samples, at every frame, whether any element is marked stale (a rerun is redrawing it) and which
# CSS transitions run on element containers.
FADES_JS = """() => {
  window.__fades = {stale: 0, fading: 0};
  const tick = () => {
    if (document.querySelector('[data-testid="stElementContainer"][data-stale="true"]'))
      window.__fades.stale += 1;
    window.__fades.fading += document.getAnimations().filter((a) =>
      a.effect?.target?.matches?.('[data-testid="stElementContainer"]')).length;
    requestAnimationFrame(tick);
  };
  tick();
}"""


def test_a_slider_move_redraws_without_starting_fades(page):
    """A move marks the fragment's elements stale while it reruns; Streamlit's stale fade (and a
    progress bar's slide) would start a transition on each and keep the browser drawing frames.
    The app turns them off (app/ui/motion.py): the elements stay as they are until redrawn."""
    open_app(page, "convolution")
    stepper(page).wait_for(timeout=60_000)
    slider = page.get_by_role("slider", name="Bias")
    page.evaluate(FADES_JS)
    for _ in range(3):
        slider.press("ArrowRight")
        page.wait_for_timeout(200)
        wait_idle(page)
    fades = page.evaluate("window.__fades")
    assert fades["stale"] > 0, "no rerun was seen: the test did not exercise a redraw"
    assert fades["fading"] == 0, fades
    assert (
        page.evaluate(
            """() => getComputedStyle(document.querySelector(
        '[data-testid="stElementContainer"]')).opacity"""
        )
        == "1"
    )
