"""Less motion where a page redraws often (a slider move, a live panel's poll).

Streamlit greys an element that a rerun is redrawing with a 1 s opacity transition after 0.5 s,
and slides a progress bar to its new width. On a page that redraws several times a second or
every poll, the transitions start on every run and keep the browser drawing frames: a fifth of
what a convolution slider move and a quarter of what a watched training job cost the browser
(measured on the 2-core dev machine, software drawing). Where a redraw takes a fraction of a
second they show nothing anyway; the status in the top-right corner still says "Running".
"""

import streamlit as st

_STYLE = """<style>
[data-testid="stElementContainer"][data-stale="true"] { transition: none !important; opacity: 1 !important; }
[data-testid="stProgress"] * { transition: none !important; }
</style>"""


def calm_redraws() -> None:
    """No stale-element fade and no progress-bar slide (a style: nothing shown, no space)."""
    st.html(_STYLE)
