"""Widgets for the convolution page: editable number grids and the kernel's slider grid.

Grids live in ``st.session_state`` as float tensors; an editor shows them and hands back edits.
A bad edit (not a number, out of range) is refused: the message is shown on the next run and the
editor is redrawn from the kept value.
"""

import pandas as pd
import streamlit as st
import torch

from cnncore.conv import fmt, parse_grid
from cnncore.errors import UserError


def grid_editor(state_key: str, channel: int, lo: float, hi: float, label: str) -> None:
    """Edit ``st.session_state[state_key][channel]`` (float [n, n]) cell by cell."""
    grid = st.session_state[state_key]
    n = grid.shape[-1]
    version = st.session_state.get(f"{state_key}_ver", 0)
    # The editor's edits are relative to the table it was first given: keep handing it that same
    # table (until the version changes) so a second edit of a cell is not lost.
    bases = st.session_state.setdefault(f"{state_key}_bases", {})
    base = bases.setdefault((channel, version), grid[channel].clone())
    for old in [k for k in bases if k[0] == channel and k[1] != version]:
        del bases[old]
    df = pd.DataFrame(
        [[fmt(v, paren=False).replace("−", "-") for v in row] for row in base.tolist()],
        columns=[str(j + 1) for j in range(n)],
    )
    cols = {
        str(j + 1): st.column_config.TextColumn(
            str(j + 1),
            width=38,  # five columns fit a narrow window's half column (800 px, sidebar open)
            required=True,
            help=f"a number from {fmt(lo, False)} to {fmt(hi, False)}",
        )
        for j in range(n)
    }
    edited = st.data_editor(
        df,
        key=f"{state_key}_{channel}_{version}",
        column_config=cols,
        hide_index=True,
        num_rows="fixed",
        width="content",
    )
    try:
        values = parse_grid(edited.values.tolist(), (n, n), lo, hi, what=f"{label} cell")
    except UserError as exc:
        st.session_state["cv_grid_error"] = f"{exc}. The previous value was kept."
        st.session_state[f"{state_key}_ver"] = version + 1  # redraw from the kept grid
        st.rerun()
    if not torch.equal(values, grid[channel]):
        grid = grid.clone()
        grid[channel] = values
        st.session_state[state_key] = grid


def kernel_sliders(state_key: str, lo: float, hi: float) -> None:
    """Nine sliders laid out as the 3x3 kernel they set (single channel)."""
    kernel = st.session_state[state_key]
    new = kernel.clone()
    for r in range(3):
        cols = st.columns(3)
        for c in range(3):
            key = f"cv_w_{r}_{c}"
            if key not in st.session_state:
                st.session_state[key] = float(kernel[0, r, c])
            new[0, r, c] = cols[c].slider(f"w[{r},{c}]", lo, hi, step=0.1, key=key, format="%.2f")
    if not torch.equal(new, kernel):
        st.session_state[state_key] = new


def set_kernel(state_key: str, kernel: torch.Tensor) -> None:
    """Replace the kernel everywhere it is shown (state, sliders, grid editors)."""
    st.session_state[state_key] = kernel
    st.session_state[f"{state_key}_ver"] = st.session_state.get(f"{state_key}_ver", 0) + 1
    if kernel.shape[-1] == 3:
        for r in range(3):
            for c in range(3):
                st.session_state[f"cv_w_{r}_{c}"] = float(kernel[0, r, c])
