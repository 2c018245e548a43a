"""AppTest helpers: run a page through the real entry script (router + sidebar)."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

ENTRY = str(ROOT / "app" / "streamlit_app.py")


@pytest.fixture(autouse=True)
def isolated_app(tmp_path, monkeypatch):
    """Each app test gets its own run store and the bundled data (no download attempt)."""
    monkeypatch.setenv("CNN_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_EXPLORER_SOURCE", "bundled")
    monkeypatch.chdir(ROOT)
    from app.ui.runs import settings, workspaces

    workspaces.clear()  # cached per process; point them at this test's folder
    settings.clear()
    yield
    from app.ui.jobs import job_manager

    job_manager().shutdown(30)  # jobs are keyed by workspace: the next test starts with none
    job_manager.clear()


def open_page(page: str | None = None, timeout: float = 60) -> AppTest:
    """Run the app and switch to ``page`` (e.g. "views/convolution.py"); returns the AppTest."""
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def component_data(app, key: str) -> dict:
    """The data a page gave its ``st.components.v2`` component with this key."""
    for el in app.get("bidi_component"):
        if el.proto.id.endswith(f"-{key}"):
            return json.loads(el.proto.json)
    raise AssertionError(f"no component {key!r} on the page")
