"""A small grid of number cells: a tiny component instead of ``st.data_editor``.

``st.data_editor`` waits 150 ms after an edit before it asks for a rerun, and its scripts
(~1.3 MB with Arrow) load on the page's first visit. This grid is n x n plain text inputs
(``grid_input.js``): Enter or leaving a changed cell sends ``{row, col, text}`` at once, the
server checks it and sends the grid back, so a refused value is replaced by the kept one.
"""

from collections.abc import Callable
from pathlib import Path

import streamlit as st

CSS = """
.gridin { font-family: var(--st-font, "Source Sans Pro", sans-serif);
  color: var(--st-text-color, #31333f); }
.cells { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 3.6rem)); gap: 4px;
  max-width: 100%; }
.cell { box-sizing: border-box; width: 100%; min-width: 0; height: 2.4rem; margin: 0;
  padding: 0 2px; text-align: center; font: inherit; font-size: 0.875rem;
  font-variant-numeric: tabular-nums; color: var(--st-text-color, #31333f);
  background: var(--st-secondary-background-color, #f0f2f6);
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2)); border-radius: 0.5rem; }
.cell:hover { border-color: var(--st-primary-color, #ff4b4b); }
.cell:focus { outline: none; border-color: var(--st-primary-color, #ff4b4b);
  box-shadow: 0 0 0 1px var(--st-primary-color, #ff4b4b); }
.cell[aria-invalid="true"] { border-color: #d33; box-shadow: 0 0 0 1px #d33; }
.hint { font-size: 0.8rem; opacity: 0.65; margin-top: 0.3rem; }
"""
_component = st.components.v2.component(
    "cnn_explorer.grid_input", css=CSS, js=(Path(__file__).parent / "grid_input.js").read_text()
)


def edit_of(result) -> dict | None:
    """The ``edit`` trigger a grid component sent (its state is an object or a dict), if any."""
    edit = getattr(result, "edit", None)
    if edit is None and isinstance(result, dict):
        edit = result.get("edit")
    return edit if isinstance(edit, dict) else None


def grid_input(
    key: str,
    text: list[list[str]],
    label: str,
    hint: str,
    on_edit: Callable[[dict], None],
    seq: int = 0,
    bad: tuple[int, int] | None = None,
) -> None:
    """Show the cells' ``text`` (n x n); an edit calls ``on_edit({"row", "col", "text"})`` (0-based)
    before the rerun it starts. Each cell is labelled "<label> row r, column c" (1-based); ``bad``
    marks a refused cell; ``seq`` changes whenever the server handled an edit (so the browser redraws
    even when no value changed)."""

    def edited() -> None:
        if (edit := edit_of(st.session_state.get(key))) is not None:
            on_edit(edit)

    data = {
        "text": text,
        "label": label,
        "title": f"{label} grid",
        "hint": hint,
        "seq": seq,
        "bad": list(bad) if bad else None,
    }
    _component(key=key, data=data, on_edit_change=edited)
