"""Less motion where a page redraws often (a slider move, a live panel's poll).

Streamlit greys an element that a rerun is redrawing with a 1 s opacity transition after 0.5 s,
and slides a progress bar to its new width. On a page that redraws several times a second or
every poll, the transitions start on every run and keep the browser drawing frames: a tenth of
what a convolution slider move and a third of what a watched training job cost the browser
(measured on the 2-core dev machine, software drawing). Where a redraw takes a fraction of a
second they show nothing anyway; the status in the top-right corner still says "Running".

The style goes into the page's <head> from a small script (an element with nothing to show), once
per browser tab: an ``st.html`` style would make every first visit load Streamlit's HTML-element
scripts first (about 80 ms of a cold visit here).
"""

import streamlit as st

_JS = """
export default function() {
  if (document.getElementById("cnn-calm-redraws")) return;
  const style = document.createElement("style");
  style.id = "cnn-calm-redraws";
  style.textContent = `
    [data-testid="stElementContainer"][data-stale="true"] {
      transition: none !important; opacity: 1 !important; }
    [data-testid="stProgress"] * { transition: none !important; }`;
  document.head.appendChild(style);
}
"""
_component = st.components.v2.component("cnn_calm_redraws", js=_JS)


def calm_redraws() -> None:
    """No stale-element fade and no progress-bar slide in this browser tab."""
    _component(key="cnn_calm_redraws")
