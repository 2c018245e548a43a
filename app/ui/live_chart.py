"""A live line chart on a canvas: a tiny component for the training panel's curves.

While a job trains the panel polls (``app.ui.live_feed.POLL_RUNNING_S``). Re-sent every second as
Plotly figures, its two charts cost
the browser's main thread ~150 ms per second (headless Chromium on the 2-core dev machine, CDP
``Performance.getMetrics``; long tasks up to ~200 ms that a click on Pause waited behind). Here the
component stays mounted and redraws one canvas (a few ms for the ~2,000 points the payload is
bounded to) only when ``version`` changed; hovering shows the values at the nearest batch. The
payload comes from cnncore (``cnncore.plots.training.live_curves_payload``).
"""

from pathlib import Path

import streamlit as st

CSS = """
.lc { font-family: var(--st-font); color: #334155; }
.lc-plot { position: relative; width: 100%; }
.lc-plot canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.lc-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; margin: 4px 0 0 8px; }
.lc-item { display: inline-flex; align-items: center; gap: 6px; }
.lc-item i { display: inline-block; width: 22px; border-radius: 2px; }
.lc-readout { font-size: 13px; color: #475569; min-height: 1.2em; margin-left: 8px; }
.lc-note { font-size: 12px; color: #64748b; margin-left: 8px; }
"""
_component = st.components.v2.component(
    "cnn_explorer.live_chart",
    css=CSS,
    js="".join((Path(__file__).parent / f).read_text() for f in ("live_poll.js", "live_chart.js")),
)


def live_chart(payload: dict, version: str, key: str, note: str = "", feed: dict | None = None):
    """Draw ``payload`` (``chart_payload``) with ``note`` under it; the browser redraws only when
    ``version`` changes. ``feed`` ({url, every}, ``app.ui.live_feed``): the chart then asks the
    server for new points itself while a job trains, with no rerun of the page."""
    _component(key=key, data={**payload, "version": version, "note": note, "feed": feed})
