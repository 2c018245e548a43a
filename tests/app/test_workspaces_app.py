"""Workspaces in the app: who gets which workspace, two visitors apart, switching by code."""

import pandas as pd
import pytest
import torch

from app.ui.runs import resolve_code
from cnncore.models import build_model
from cnncore.train import TrainConfig, TrainResult
from cnncore.workspaces import LOCAL, Workspaces, folder_for, new_code
from tests.app.conftest import open_page

TRAINING = "views/training.py"


def test_resolve_code_uses_the_session_then_the_cookie_never_anything_else():
    a, b = new_code(), new_code()
    assert resolve_code(a, b, "class") == (a, False)  # this session keeps its workspace
    assert resolve_code(None, b.lower(), "class") == (b, False)  # a refresh: the cookie
    code, write = resolve_code(None, None, "class")  # a new browser: a new workspace, cookie
    assert write and code not in (a, b)
    assert resolve_code(None, "forged", "class")[0] not in ("forged", LOCAL)
    assert resolve_code(None, "local", "class")[0] != LOCAL  # never the CLI's in a class
    assert resolve_code(None, None, "personal") == (LOCAL, False)  # a laptop: the CLI's runs
    assert resolve_code(None, a, "personal") == (a, False)  # unless this browser switched


def save_run(store, name):
    metrics = pd.DataFrame([{"step": 1, "epoch": 1, "kind": "train", "loss": 1.0}])
    result = TrainResult(
        "finished", "done", build_model("convnet"), metrics, 0.5, 0.9, 0.5, 0.9, 100.0, 1.0
    )
    return store.save(result, TrainConfig(), "bundled", name=name)


@pytest.fixture
def class_mode(monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_PROFILE", "class")
    from app.ui.runs import settings, workspaces

    settings.clear()
    workspaces.clear()


def run_options(at) -> list[str]:
    box = [s for s in at.selectbox if s.key == "result_run"]
    return list(box[0].options) if box else []


def test_two_visitors_in_a_class_see_only_their_own_runs_and_can_switch_by_code(
    class_mode, tmp_path
):
    a, b = open_page(TRAINING), open_page(TRAINING)
    code_a, code_b = a.session_state["ws_code"], b.session_state["ws_code"]
    assert code_a != code_b and LOCAL not in (code_a, code_b)
    assert code_a not in [t.value for t in a.sidebar.text]  # drawn only when opened
    for at in (a, b):
        at.session_state["ws_code_open"] = True  # the student opens "Workspace code"
        at.run()
    assert code_a in [t.value for t in a.sidebar.text]  # the code to copy is shown
    spaces = Workspaces(tmp_path / "runs")
    save_run(spaces.store(folder_for(code_a)), "A's secret run")
    a.run(), b.run()
    assert any("A's secret run" in o for o in run_options(a))
    assert run_options(b) == []
    # B types A's code (moving to another device on purpose): now B has A's workspace
    b.sidebar.text_input(key="ws_switch_code").input(code_a.lower())
    b.sidebar.button[0].click().run()
    assert b.session_state["ws_code"] == code_a and not b.sidebar.error
    b.run()
    assert any("A's secret run" in o for o in run_options(b))
    # a wrong code is one plain sentence, and changes nothing
    a.sidebar.text_input(key="ws_switch_code").input("let me in")
    a.sidebar.button[0].click().run()
    assert "not a workspace code" in a.sidebar.error[0].value
    assert a.session_state["ws_code"] == code_a


def test_laptop_visitor_works_in_the_command_lines_workspace(tmp_path):
    at = open_page(TRAINING)
    assert at.session_state["ws_code"] == LOCAL
    save_run(Workspaces(tmp_path / "runs").store(LOCAL), "from the CLI")
    at.run()
    assert any("from the CLI" in o for o in run_options(at))


def always(digit: int):
    """The lesson's ConvNet rigged to answer ``digit`` for every image."""
    model = build_model("convnet")
    with torch.no_grad():
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.fill_(-10.0)
        last.bias[digit] = 10.0
    return model


def test_the_same_run_id_in_two_workspaces_shows_each_its_own_results(class_mode, tmp_path):
    """Run ids are unique within a workspace: two students who start the same model in the same
    second get the same id and time in their own workspaces. The page's caches are the server's:
    each must still show its own model's results, never the other's."""
    a, b = open_page(TRAINING), open_page(TRAINING)
    spaces = Workspaces(tmp_path / "runs")
    stores = [spaces.store(folder_for(at.session_state["ws_code"])) for at in (a, b)]
    metrics = pd.DataFrame([{"step": 1, "epoch": 1, "kind": "train", "loss": 1.0}])
    for store, digit in zip(stores, (0, 1), strict=True):
        result = TrainResult("finished", "done", always(digit), metrics, 0.5, 0.9, 0.5, 0.9, 1, 1)
        store.save(result, TrainConfig(), "bundled", run_id="20261130-120000-convnet")
    created = stores[0].info("20261130-120000-convnet").created
    config = stores[1].root / "20261130-120000-convnet" / "config.json"
    config.write_text(
        config.read_text().replace(stores[1].info(config.parent.name).created, created)
    )
    for at, digit in ((a, 0), (b, 1)):
        at.run()
        mistakes = next(
            c.proto.spec
            for c in at.get("plotly_chart")
            if "Most confident mistakes" in c.proto.spec
        )
        assert f"→ {digit} (" in mistakes and f"→ {1 - digit} (" not in mistakes, digit
