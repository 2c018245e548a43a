"""A grid of small sliders (the 3x3 filter's weights): one light component instead of nine
``st.slider`` widgets.

Nine Base Web sliders made up a good part of the convolution page's first draw and of every
redraw after a move. These are plain range inputs (``slider_grid.js``), labelled ``w[r,c]`` for
screen readers and tests (role ``slider``); a slider that comes to rest sends
``{row, col, value, nonce}`` at once, and the server sends the values back with the nonce it
handled last (``seen``): until that answer comes, the slider keeps where the student put it, so
quick key presses are not undone by the answers to the earlier ones.

``value_slider`` is one such slider for one number in ``st.session_state`` (the convolution
page's bias, the invariance page's shifts).
"""

import math
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
    decimals: int = 2,
) -> None:
    """Show ``values`` (n x n) as sliders from ``lo`` to ``hi`` in steps of ``step`` (written with
    ``decimals`` places); a moved slider calls ``on_edit({"row", "col", "value"})`` (0-based)
    before the rerun it starts."""
    ss = st.session_state

    def edited() -> None:
        if (edit := edit_of(ss.get(key))) is not None:
            # every handled move changes the data, so the browser redraws even if no value did
            if isinstance(nonce := edit.get("nonce"), int) and not isinstance(nonce, bool):
                ss[f"{key}_seen"] = nonce
            on_edit(edit)

    data = {
        "values": values,
        "labels": labels,
        "lo": lo,
        "hi": hi,
        "step": step,
        "title": title,
        "decimals": decimals,
        "seen": ss.get(f"{key}_seen", 0),
    }
    _component(key=key, data=data, on_edit_change=edited)


def value_slider(
    state_key: str,
    label: str,
    lo: float,
    hi: float,
    step: float = 0.1,
    default: float = 0.0,
    decimals: int = 2,
) -> float:
    """One slider for the number ``st.session_state[state_key]``, drawn by ``slider_grid`` with one
    cell instead of ``st.slider``: Streamlit's slider brings its own scripts (about 130 kB with its
    number and date formatting) that the browser had to load and run on the page's first visit,
    and a key press took ~40 ms longer to reach the server (its run started 125 ms after the
    press instead of 85, median of 20 moves). With ``decimals=0`` the value is a whole number (an
    int). Returns the value."""
    ss = st.session_state
    key = f"{state_key}_slider"
    ss.setdefault(state_key, default)
    edit = ss.pop(f"{key}_edit", None)  # what the slider sent, just now (if it did)
    if (moved := slider_value(edit, 1, lo, hi, step)) is not None:
        ss[state_key] = round(moved[2]) if decimals == 0 else moved[2]
    slider_grid(
        key,
        [[round(float(ss[state_key]), 4)]],
        [[label]],
        lo,
        hi,
        step,
        on_edit=lambda e: ss.update({f"{key}_edit": e}),
        title=label,
        decimals=decimals,
    )
    return ss[state_key]


def slider_value(
    edit: dict, n: int, lo: float, hi: float, step: float
) -> tuple[int, int, float] | None:
    """The (row, col, value) a slider grid of n x n sent, or None if it is not one of its cells or
    not a finite number. The browser only sends its own sliders' values; a value is clamped to the
    range and rounded to the step."""
    edit = edit if isinstance(edit, dict) else {}
    row, col, value = edit.get("row"), edit.get("col"), edit.get("value")
    if not (isinstance(row, int) and isinstance(col, int) and 0 <= row < n and 0 <= col < n):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    value = round(min(max(float(value), lo), hi) / step) * step
    return row, col, round(value, 6)
