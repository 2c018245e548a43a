"""A grid of small sliders (the 3x3 filter's weights): one light component instead of nine
``st.slider`` widgets.

Nine Base Web sliders made up a good part of the convolution page's first draw and of every
redraw after a move. These are plain range inputs (``slider_grid.js``), labelled ``w[r,c]`` for
screen readers and tests (role ``slider``); a slider that comes to rest sends
``{row, col, value}`` at once, and the server sends the values back.
"""

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from app.ui.grid_input import edit_of

CSS = """
.sgrid { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: 0.6rem 1rem;
  font-family: var(--st-font, "Source Sans Pro", sans-serif); color: var(--st-text-color, #31333f); }
.cell { display: flex; flex-direction: column; min-width: 0; }
.head { display: flex; flex-wrap: wrap; justify-content: space-between; column-gap: 0.35rem;
  font-size: 0.875rem; line-height: 1.6; }
.value { font-variant-numeric: tabular-nums; color: var(--st-primary-color, #ff4b4b); }
.range { width: 100%; margin: 0.2rem 0 0; accent-color: var(--st-primary-color, #ff4b4b);
  cursor: pointer; }
.range:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: 2px; }
"""
_component = st.components.v2.component(
    "cnn_explorer.slider_grid", css=CSS, js=(Path(__file__).parent / "slider_grid.js").read_text()
)


def slider_grid(
    key: str,
    values: list[list[float]],
    labels: list[list[str]],
    lo: float,
    hi: float,
    step: float,
    on_edit: Callable[[dict], None],
    title: str,
    seq: int = 0,
) -> None:
    """Show ``values`` (n x n) as sliders from ``lo`` to ``hi`` in steps of ``step``; a moved slider
    calls ``on_edit({"row", "col", "value"})`` (0-based) before the rerun it starts. ``seq``
    changes whenever the server handled a move (so the browser redraws even if no value changed)."""

    def edited() -> None:
        if (edit := edit_of(st.session_state.get(key))) is not None:
            on_edit(edit)

    data = {
        "values": values,
        "labels": labels,
        "lo": lo,
        "hi": hi,
        "step": step,
        "title": title,
        "seq": seq,
    }
    _component(key=key, data=data, on_edit_change=edited)
