"""AppTest helpers: run a page through the real entry script (router + sidebar)."""

import json
from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

ENTRY = str(ROOT / "app" / "main.py")


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


def slide(app, key: str, value, row: int = 0, col: int = 0) -> None:
    """What a ``slider_grid``'s callback stores when the browser sends a slider that came to rest
    (0-based cell), then the rerun it starts (tests/e2e moves the real sliders)."""
    app.session_state[f"{key}_edit"] = {"row": row, "col": col, "value": value, "nonce": 1}
    app.run()


def component_data(app, key: str) -> dict:
    """The data a page gave its ``st.components.v2`` component with this key."""
    for el in app.get("bidi_component"):
        if el.proto.id.endswith(f"-{key}"):
            return json.loads(el.proto.json)
    raise AssertionError(f"no component {key!r} on the page")


def published(app) -> dict[str, str]:
    """What the page last wrote into the browser's address bar (its address elements' query)."""
    query = {}
    for el in app.get("bidi_component"):
        if el.proto.component_name.endswith("cnn_address"):
            query.update(parse_qsl(json.loads(el.proto.json)["query"]))
    return query


def _control(app, label: str) -> tuple[str, dict]:
    """The key of the ``choices`` component holding the control labelled ``label``, and the
    control as the page gave it to the browser."""
    for el in app.get("bidi_component"):
        data = json.loads(el.proto.json or "null")
        for control in data.get("controls", []) if isinstance(data, dict) else []:
            if control["label"] == label:
                return el.proto.id.rsplit("-", 1)[-1], control
    raise AssertionError(f"no control labelled {label!r} on the page")


def chosen(app, label: str):
    """What the control labelled ``label`` shows: its option's text (a switch: True or False; a
    number box: the number)."""
    _, control = _control(app, label)
    if control["kind"] == "switch":
        return control["index"] == 1
    if control["kind"] == "number":
        return control["lo"] + control["index"]
    return control["options"][control["index"]]


def choose(app, label: str, option, run: bool = True) -> None:
    """What the browser sends when the student picks ``option`` (the text shown; a switch: True or
    False; a number box: the number) in the control labelled ``label``, then the rerun it starts
    (tests/e2e uses the real menus, radio buttons, switches and number boxes)."""
    key, control = _control(app, label)
    if control["kind"] == "switch":
        index = int(option)
    elif control["kind"] == "number":
        index = int(option) - control["lo"]
    else:
        index = control["options"].index(str(option))
    app.session_state[f"{key}_edit"] = {"name": control["name"], "index": index, "nonce": 1}
    if run:
        app.run()
