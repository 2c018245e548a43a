"""AppTest of the shell: the entry script, the sidebar and the home page."""

import ast
import tomllib
from pathlib import Path

from tests.app.conftest import choose, open_page

ROOT = Path(__file__).resolve().parents[2]


def test_home_renders_story_and_loaded_data():
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "CNN Explorer"
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    assert "bundled" in sidebar_text and "4,000 train / 500 validation / 500 test" in sidebar_text
    assert any("141,258 parameters" in m.value for m in at.markdown)


def test_switching_source_to_unavailable_dataset_falls_back_with_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("CNN_EXPLORER_OFFLINE", "1")
    at = open_page()
    # Fashion-MNIST is not on disk and downloads are off: the sidebar says so and the
    # page keeps working on the bundled digits.
    choose(at, "Data source", "Fashion-MNIST (70,000)")
    assert not at.exception
    assert at.sidebar.error, "the failure must be shown"
    assert "fashion-mnist" in at.sidebar.error[0].value
    assert "bundled" in " ".join(c.value for c in at.sidebar.caption)


def test_idx_folders_under_the_data_folder_are_offered_and_load(tmp_path, monkeypatch):
    from tests.test_data import write_idx_folder

    folder = write_idx_folder(tmp_path / "data" / "my-digits", n_train=120, n_test=30)
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "data"))
    at = open_page()
    choose(at, "Data source", f"IDX folder {folder}")  # shown by its label
    assert not at.exception and not at.sidebar.error
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "100 train / 20 validation / 30 test" in captions


def test_no_page_relies_on_streamlit_magic():
    """.streamlit/config.toml turns "magic" off (it slowed first visits): a bare expression in a
    page would then silently show nothing, so there must be none (docstrings aside)."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False
    scripts = [ROOT / "app" / "main.py", *sorted((ROOT / "app" / "views").glob("*.py"))]
    bare = []
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text())):
            for field in ("body", "orelse", "finalbody"):
                stmts = getattr(node, field, None)
                for i, stmt in enumerate(stmts if isinstance(stmts, list) else []):
                    if not isinstance(stmt, ast.Expr) or isinstance(
                        stmt.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)
                    ):
                        continue
                    docstring = i == 0 and field == "body" and isinstance(stmt.value, ast.Constant)
                    if not (docstring and isinstance(stmt.value.value, str)):
                        bare.append(f"{script.name}:{stmt.lineno}")
    assert len(scripts) >= 5 and not bare, f"bare expressions that magic would have shown: {bare}"
