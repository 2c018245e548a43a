"""Number grids as pictures (e.g. a digit and its filtered map): a tiny canvas component.

Cheaper than a Plotly figure on every slider move: the data is the grid itself, the browser
colours the pixels, and hovering shows the value under the pointer.
"""

import streamlit as st
import torch

from app.ui.stepper import HERE

CSS = """
.heatmaps { display: flex; flex-wrap: wrap; gap: 12px 32px; font-family: var(--st-font); }
figure { margin: 0; }
figcaption { font-size: 14px; color: #475569; margin-bottom: 4px; }
canvas { width: 280px; height: 280px; image-rendering: pixelated; border: 1px solid #e2e8f0; }
.readout { font-size: 13px; color: #475569; min-height: 1.2em; }
"""
_component = st.components.v2.component(
    "cnn_explorer.heatmaps",
    css=CSS,
    js="".join((HERE / f).read_text() for f in ("colour_scale.js", "heatmaps.js")),
)


def heatmaps(panels: list[tuple], key: str) -> None:
    """``panels``: (title, float [H, W], scale "grey" | "sign", lo, hi); lo/hi None = ±max|v|."""
    data = []
    for title, grid, scale, lo, hi in panels:
        if lo is None or hi is None:
            m = max(float(grid.abs().max()), 1e-6)
            lo, hi = -m, m
        values = torch.round(grid.float() * 1000) / 1000
        data.append({"title": title, "values": values.tolist(), "scale": scale, "lo": lo, "hi": hi})
    _component(key=key, data={"panels": data})
