"""The app shell in a real browser: home page, sidebar, navigation."""

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
