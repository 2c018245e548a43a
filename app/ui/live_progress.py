"""The live panel's progress line and bar, fed by the server while a job trains (a tiny component).

With a feed (``app.ui.live_feed``) it asks the server for the job's state every couple of seconds
and redraws only itself; when the job's state changes in a way the page must show (it left the
queue, its run folder appeared, it ended), it calls ``on_change``, which reruns the page (and
again after a few seconds if that redraw did not come). The bar does not slide to its new width:
a CSS transition there doubled a watched tab's browser CPU (108 against 50 ms/s, 2-core AMD EPYC).
"""

from collections.abc import Callable
from pathlib import Path

import streamlit as st

# Drawn in the page's DOM (isolate_styles=False): class names are prefixed to stay the component's.
CSS = """
.cnn-lp { font-family: var(--st-font); }
.cnn-lp-text { font-size: 14px; margin-bottom: 6px; color: var(--st-text-color); }
.cnn-lp-bar { height: 8px; border-radius: 4px; background: var(--st-secondary-background-color);
  overflow: hidden; }
.cnn-lp-fill { height: 100%; background: var(--st-primary-color); }
.cnn-lp-error { margin-top: 8px; padding: 8px 12px; border-radius: 6px; color: #7d353b;
  background: #ffecec; font-size: 14px; }
"""
_component = st.components.v2.component(
    "cnn_explorer.live_progress",
    css=CSS,
    js="".join(
        (Path(__file__).parent / f).read_text() for f in ("live_poll.js", "live_progress.js")
    ),
    isolate_styles=False,
)


def live_progress(state: dict, feed: dict | None, key: str, on_change: Callable[[], None]) -> None:
    """``state`` (``live_feed.state``: key, progress, text, error) as a line and a bar; with a
    ``feed`` ({url, every}) it keeps itself up to date and calls ``on_change`` when the page must
    redraw."""
    _component(
        key=key,
        data={"state": state, "key": state["key"], "feed": feed},
        on_changed_change=on_change,
    )
