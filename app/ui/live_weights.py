"""The running model's filters and one digit's feature maps as canvas pictures: a tiny component.

The live training panel redraws these every couple of seconds while a job trains. As two Plotly
heatmaps they cost the browser's main thread ~150-250 ms per second on the 2-core dev machine
(headless Chromium, CDP ``Performance.getMetrics``), time the training thread and the clicks on
Pause or Stop then waited for; here the browser only colours pixels, and a redraw with nothing new
(same ``version``) draws nothing. The payload comes from cnncore
(``cnncore.plots.training.weights_payload``).
"""

from pathlib import Path

import streamlit as st

CSS = """
.lw { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 12px 32px;
  font-family: var(--st-font); color: #334155; }
.lw-title { font-size: 15px; font-weight: 600; margin: 0 0 2px 0; }
.lw-note, .lw-label, .lw-readout { font-size: 12px; color: #475569; }
.lw-readout { min-height: 1.2em; font-size: 13px; }
.lw-label { margin-top: 6px; }
.lw-grid, .lw-strip { display: grid; gap: 4px; margin: 4px 0; }
.lw-grid { gap: 6px; max-width: 320px; }
canvas { width: 100%; image-rendering: pixelated; display: block; }
"""
_component = st.components.v2.component(
    "cnn_explorer.live_weights",
    css=CSS,
    js="".join(
        (Path(__file__).parent / f).read_text()
        for f in ("colour_scale.js", "live_poll.js", "live_weights.js")
    ),
)


def live_weights(payload: dict, version: str, key: str, feed: dict | None = None) -> None:
    """Draw ``payload`` (``weights_payload``); ``version`` names what it shows (job, step, digit):
    the browser redraws only when it changes. ``feed`` ({url, every}, ``app.ui.live_feed``): the
    pictures then ask the server for new weights themselves while a job trains.

    Each version's pictures (~120 kB of numbers) go to the browser once: the polls that find the
    same version send only the version, and the browser keeps what it drew. A browser that has not
    drawn it (the pictures were mounted afresh) asks for it, and the rerun that asks sends it."""
    ss = st.session_state
    sent = f"{key}_sent"
    if ss.get(sent) == version:
        data = {"version": version, "feed": feed}
    else:
        ss[sent], data = version, {**payload, "version": version, "feed": feed}
    _component(key=key, data=data, on_missing_change=lambda: ss.pop(sent, None))
