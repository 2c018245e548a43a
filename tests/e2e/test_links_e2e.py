"""Share a view by link, as a student would: change the view, copy the link, open it in a fresh
browser (no cookies, no session) and see the same view."""

import pytest

from tests.e2e.conftest import ARTIFACTS, assert_no_exception, wait_idle

pytestmark = pytest.mark.e2e


def stepper_text(page) -> tuple[str, str]:
    box = page.locator(".st-key-cv_stepper .stepper")
    return box.locator(".head").inner_text(), box.locator(".eq").inner_text()


def test_a_copied_convolution_link_opens_the_same_view_in_a_fresh_browser(browser, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.base_url)
    page.goto(f"{page.base_url}/convolution")
    wait_idle(page, 90)
    page.locator(".st-key-cv_stepper .stepper").wait_for(timeout=60_000)
    slider = page.get_by_role("slider", name="Bias")
    slider.focus()
    for _ in range(3):  # bias 0 -> 0.3
        slider.press("ArrowRight")
        wait_idle(page)
    page.locator(".st-key-cv_stepper").get_by_role("button", name="Step ▶").click()
    page.wait_for_timeout(1500)  # the stepper reports where it came to rest
    wait_idle(page)
    head, equation = stepper_text(page)
    assert head.startswith("Step 2 of 9") and "0.3 (bias)" in equation

    page.get_by_role("button", name="Copy link").click()
    page.get_by_text("Link copied").wait_for(timeout=10_000)
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.url and "bias=0.3" in link and "step=2" in link

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = fresh.new_page()
        other.goto(link)
        wait_idle(other, 90)
        other.locator(".st-key-cv_stepper .stepper").wait_for(timeout=60_000)
        assert_no_exception(other)
        assert stepper_text(other) == (head, equation)
        other.screenshot(path=str(ARTIFACTS / "link-convolution.png"), full_page=True)
    finally:
        fresh.close()


def test_a_hand_edited_link_says_what_it_ignored(page):
    page.goto(f"{page.base_url}/convolution?stride=9&act=tanh&input={'0,' * 3000}")
    wait_idle(page, 90)
    assert_no_exception(page)
    notice = page.get_by_text("Some values in this link were not valid")
    notice.wait_for(timeout=30_000)
    text = notice.inner_text()
    assert "stride:" in text and "act:" in text and "input:" in text
    page.get_by_role("button", name="Dismiss").click()
    notice.wait_for(state="detached", timeout=30_000)
    assert_no_exception(page)


def test_settings_changes_keep_the_address_current_without_filling_the_history(page):
    page.goto(page.base_url)
    wait_idle(page, 90)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Convolution").click()
    page.locator(".st-key-cv_stepper .stepper").wait_for(timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(500)
    entries = page.evaluate("history.length")
    slider = page.get_by_role("slider", name="Bias")
    slider.focus()
    for _ in range(4):  # bias 0 -> 0.4, one server run each
        slider.press("ArrowRight")
        page.wait_for_timeout(300)
        wait_idle(page)
    page.wait_for_function("() => location.search.includes('bias=0.4')", timeout=10_000)
    assert page.evaluate("history.length") == entries  # the address changed, no new entries
    page.go_back()  # one press leaves the page, back to Home
    page.wait_for_function("() => !location.pathname.includes('convolution')", timeout=10_000)
    wait_idle(page)
    assert page.get_by_role("heading", name="CNN Explorer").count() == 1
    assert_no_exception(page)
