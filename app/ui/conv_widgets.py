"""Widgets for the convolution page: editable number grids, the kernel's slider grid and the bias.

Grids live in ``st.session_state`` as float tensors; a grid of cells (``app.ui.grid_input``) shows
one channel and sends each edited cell at once. A bad edit (not a number, out of range) is refused:
the message is shown above the grid and the cell goes back to the kept value.
"""

import re

import streamlit as st

from app.ui.grid_input import grid_input
from app.ui.slider_grid import slider_grid, slider_value
from cnncore.conv import fmt, parse_cell
from cnncore.errors import UserError


def as_text(message: str) -> str:
    """``message`` with Markdown's active characters escaped, so what a visitor typed (quoted in
    it) is shown as typed, never interpreted."""
    return re.sub(r"([\\`*_\[\]()<>#!|~$&])", r"\\\1", message)


def grid_editor(state_key: str, channel: int, lo: float, hi: float, label: str) -> None:
    """Edit ``st.session_state[state_key][channel]`` (float [n, n]) cell by cell."""
    ss = st.session_state
    key = f"{state_key}_grid_{channel}"
    bad = None
    if (edit := ss.pop(f"{key}_edit", None)) is not None:  # what the grid sent, just now
        ss[f"{key}_seq"] = ss.get(f"{key}_seq", 0) + 1
        bad = apply_edit(state_key, channel, lo, hi, label, edit)
    values = ss[state_key][channel].tolist()
    grid_input(
        key,
        [[fmt(v, paren=False).replace("−", "-") for v in row] for row in values],
        label,
        f"Numbers from {fmt(lo, False)} to {fmt(hi, False)}. Enter saves a cell and moves down; "
        "Tab and the arrow keys move between cells.",
        on_edit=lambda e: ss.update({f"{key}_edit": e}),
        seq=ss.get(f"{key}_seq", 0),
        bad=bad,
    )


def apply_edit(
    state_key: str, channel: int, lo: float, hi: float, label: str, edit: dict
) -> tuple[int, int] | None:
    """Put one edited cell ``{"row", "col", "text"}`` (0-based) into the grid, or show why not.

    Returns the refused cell, if any. Anything that is not a cell of this grid is ignored (the
    browser only sends cells it shows).
    """
    grid = st.session_state[state_key]
    n = grid.shape[-1]
    edit = edit if isinstance(edit, dict) else {}
    row, col, text = edit.get("row"), edit.get("col"), edit.get("text")
    if not (isinstance(row, int) and isinstance(col, int) and isinstance(text, str)):
        return None
    if not (0 <= row < n and 0 <= col < n):
        return None
    try:
        value = parse_cell(text[:100], lo, hi, f"{label} cell at row {row + 1}, column {col + 1}")
    except UserError as exc:
        st.error(as_text(f"{exc}. The previous value was kept."))  # it quotes what was typed
        return row, col
    if float(grid[channel, row, col]) != value:
        grid = grid.clone()
        grid[channel, row, col] = value
        st.session_state[state_key] = grid
    return None


def kernel_sliders(state_key: str, lo: float, hi: float, step: float = 0.1) -> None:
    """Nine sliders laid out as the 3x3 kernel they set (single channel, ``slider_grid``)."""
    ss = st.session_state
    key = f"{state_key}_sliders"
    if (edit := ss.pop(f"{key}_edit", None)) is not None:  # what a slider sent, just now
        apply_slider(state_key, lo, hi, step, edit)
    kernel = ss[state_key][0]
    n = kernel.shape[-1]
    slider_grid(
        key,
        [[round(float(v), 4) for v in row] for row in kernel.tolist()],
        [[f"w[{r},{c}]" for c in range(n)] for r in range(n)],
        lo,
        hi,
        step,
        on_edit=lambda e: ss.update({f"{key}_edit": e}),
        title="filter weights",
    )


def apply_slider(state_key: str, lo: float, hi: float, step: float, edit: dict) -> None:
    """Put one moved slider ``{"row", "col", "value"}`` (0-based) into the kernel. The browser
    only sends its own sliders' values; anything else (not a cell, not a finite number) is
    ignored, and a value is clamped to the range and rounded to the step."""
    kernel = st.session_state[state_key]
    if (moved := slider_value(edit, kernel.shape[-1], lo, hi, step)) is None:
        return
    row, col, value = moved
    if float(kernel[0, row, col]) != value:
        kernel = kernel.clone()
        kernel[0, row, col] = value
        st.session_state[state_key] = kernel
