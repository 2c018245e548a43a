"""Rows of feature maps as pictures that answer a click: a tiny canvas component.

Far cheaper in the browser than a Plotly figure of many heatmaps (and invisible click markers
over every pixel) on every shift-slider move: the data is the maps themselves, the browser
colours the pixels, hovering shows the value under the pointer, and a click on a map of a
clickable row comes back as ``{panel, column, row, col}``. The payload comes from cnncore
(``cnncore.plots.invariance.equivariance_payload``).
"""

from collections.abc import Callable
from pathlib import Path

import streamlit as st

CSS = """
.fmaps { display: grid; gap: 6px 6px; align-items: center; font-family: var(--st-font); }
.col-title { font-size: 12px; color: #334155; text-align: center; }
.row-name { font-size: 12px; color: #334155; writing-mode: vertical-rl; padding-left: 2px; }
canvas { width: 100%; max-width: 320px; margin: 0 auto; image-rendering: pixelated; display: block; }
canvas.clickable { cursor: pointer; }
figure { margin: 0; }
figcaption { font-size: 12px; color: #334155; text-align: center; margin-bottom: 2px; }
.labelled { max-width: 240px; margin: 0 auto; }
.fbars { display: grid; gap: 12px 24px; font-family: var(--st-font); }
.bars { display: flex; align-items: flex-end; gap: 3px; height: 180px;
  border-bottom: 1px solid #94a3b8; background: repeating-linear-gradient(to top, #fff 0,
  #fff 35px, #e2e8f0 35px, #e2e8f0 36px); }
.bar { flex: 1; min-height: 1px; }
.bar-labels { display: flex; gap: 3px; font-size: 11px; color: #475569; }
.bar-labels span { flex: 1; text-align: center; }
.bar-note { font-size: 11px; color: #64748b; text-align: center; }
.readout { grid-column: 1 / -1; font-size: 13px; color: #475569; min-height: 1.2em; }
"""
_component = st.components.v2.component(
    "cnn_explorer.feature_maps",
    css=CSS,
    js="".join(
        (Path(__file__).parent / f).read_text() for f in ("colour_scale.js", "feature_maps.js")
    ),
)


def feature_maps(payload: dict, key: str, on_click: Callable[[dict], None] | None = None) -> None:
    """Draw ``payload`` ({"columns", "rows"}); a click on a clickable map calls
    ``on_click({"panel", "column", "row", "col"})`` before the rerun it starts."""

    def clicked() -> None:
        result = st.session_state.get(key)
        click = getattr(result, "click", None)
        if click is None and isinstance(result, dict):
            click = result.get("click")
        if isinstance(click, dict) and on_click is not None:
            on_click(click)

    _component(key=key, data=payload, on_click_change=clicked)
