"""Share a view by link: a page's settings live in the URL's query string.

``restore`` runs once per page per session, before the page creates its widgets: valid values of
the link go into ``st.session_state`` and the ignored ones are named in one line that stays
until dismissed. ``publish`` writes the current settings back into the URL after every run, so
the address bar is always a link to what the visitor sees. ``copy_link_button`` copies that address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from cnncore import links

SS = st.session_state

_COPY_JS = """
export default function(component) {
  const { parentElement } = component;
  const button = parentElement.querySelector("button");
  const note = parentElement.querySelector("span");
  button.onclick = async () => {
    const url = window.location.href;
    try {
      await navigator.clipboard.writeText(url);
      note.textContent = "Link copied";
    } catch (e) {
      window.prompt("Copy this link:", url);
      note.textContent = "";
    }
    button.dataset.copied = url;
  };
}
"""
_COPY_HTML = '<button type="button" class="copy-link">Copy link</button> <span></span>'
_COPY_CSS = """
.copy-link { font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.5rem; cursor: pointer;
  border: 1px solid var(--st-border-color, #d0d7de); background: var(--st-background-color);
  color: var(--st-text-color); }
.copy-link:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
span { margin-left: 0.5rem; font-size: 0.85rem; color: var(--st-text-color); opacity: 0.7; }
"""
_copy_component = st.components.v2.component(
    "cnn_copy_link", html=_COPY_HTML, css=_COPY_CSS, js=_COPY_JS
)


def restore(
    page: str,
    fields: list[links.Field],
    keys: dict[str, str],
    check: Callable[[dict[str, Any]], list[str]] | None = None,
) -> set[str]:
    """Copy the link's valid values into session state (once per page and session); returns
    the names of the fields it set (empty after the first run).

    ``keys`` maps a field name to its session-state key. ``check(values)`` may drop values that
    are valid alone but not together (it removes them from ``values`` and returns the reasons).
    """
    flag = f"_link_restored_{page}"
    if SS.get(flag):
        return set()
    SS[flag] = True
    query = {k: st.query_params.get(k, "") for k in st.query_params}
    values, ignored = links.decode(fields, query)
    if check is not None:
        ignored += check(values)
    for name, value in values.items():
        SS[keys[name]] = value
    if ignored:
        SS[f"_link_ignored_{page}"] = links.ignored_message(ignored)
    return set(values)


def ignored_notice(page: str) -> None:
    """Say which values of the opened link were ignored, until the visitor dismisses it.

    The notice stays on every rerun: a first run that a widget interrupts must not lose it.
    """
    key = f"_link_ignored_{page}"
    if message := SS.get(key):
        st.warning(message, icon=":material/link_off:")
        st.button("Dismiss", key=f"_link_dismiss_{page}", on_click=SS.pop, args=(key, None))


# The address bar follows the settings in the browser: a script that changes st.query_params
# makes Streamlit's frontend redraw the whole app (sidebar and every element) once per change, a
# fifth of what a convolution slider move cost the browser, and add a browser-history entry (after
# N slider moves Back took N + 1 presses to leave the page). This writes the page's own keys into
# the address in place (other keys are kept), with no new history entry. Each element writes only
# what it was newly given: a redraw of one a fragment did not rerun must not bring back old values.
_ADDRESS_JS = """
export default function({ data, parentElement }) {
  if (parentElement.__cnnQuery === data.query) return;
  parentElement.__cnnQuery = data.query;
  const names = new Set(data.names);
  const here = window.location.search.slice(1);
  const kept = here.split("&").filter((pair) => {
    const name = pair.split("=")[0];
    return pair && !names.has(decodeURIComponent(name.replace(/\\+/g, " ")));
  });
  const query = [...kept, ...(data.query ? [data.query] : [])].join("&");
  if (query !== here) {
    const { pathname, hash } = window.location;
    window.history.replaceState(window.history.state, "", pathname + (query ? "?" + query : "") + hash);
  }
}
"""
_address_component = st.components.v2.component("cnn_address", js=_ADDRESS_JS)


def publish(fields: list[links.Field], values: dict[str, Any], key: str = "cnn_address") -> None:
    """Make the address bar a link to the current view (only non-default values). An element
    with nothing to show; ``key``: one per call in a run (a page and each of its fragments)."""
    query = urlencode(links.encode(fields, values), safe=",")
    _address_component(key=key, data={"names": [f.name for f in fields], "query": query})


def copy_link_button(key: str) -> None:
    """A button that copies the page's current address (its settings included)."""
    _copy_component(key=key)
