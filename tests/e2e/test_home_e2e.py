"""The app shell in a real browser: home page, sidebar, navigation."""

import re

import pytest

from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle

pytestmark = pytest.mark.e2e


def test_home_page_loads_with_data_summary(page):
    open_app(page)
    assert page.get_by_role("heading", name="CNN Explorer").is_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "4,000 train / 500 validation / 500 test" in sidebar.inner_text()
    assert "141,258 parameters" in page.locator("main").inner_text()
    page.screenshot(path=ARTIFACTS / "home.png", full_page=True)
    assert page.errors == []


def test_navigation_reaches_every_page(page):
    open_app(page)
    for title in ("Convolution", "Live training", "Translation invariance", "Home"):
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        wait_idle(page)
        assert_no_exception(page)


def test_the_app_asks_no_other_host(page):
    """Every page, and a filter slider move, load nothing from anywhere but the app's server: a
    class on a network without internet waits on nothing, and no student's clicks reach a third
    party. (A Material icon as the page icon made the browser fetch it from fonts.gstatic.com at
    every page run, a slider move included.)"""
    elsewhere = []
    own = (page.base_url, f"blob:{page.base_url}", "data:")

    def seen(request) -> None:
        if not request.url.startswith(own):
            elsewhere.append(request.url)

    page.on("request", seen)
    for path in ("", "convolution", "training", "invariance", "convolution"):
        open_app(page, path)
    weight = page.get_by_role("slider", name="w[0,0]", exact=True)
    weight.focus()
    weight.press("ArrowLeft")
    page.get_by_text(re.compile(r"^0\.9·1 \+ ")).wait_for(timeout=10_000)
    wait_idle(page)
    assert elsewhere == []
