"""Option controls drawn by one light component: menus, choices, switches and number boxes.

Streamlit's select box, radio, toggle and number input are Base Web widgets: each kind brings its
own scripts, which a browser loads on a page's first visit before it shows the page's content, and
each widget redraws through React on every rerun. ``choices`` draws a group of controls as native
``<select>`` menus, radio buttons, switches and number boxes in one shadow root (``choices.js``).
On the convolution page (eleven such widgets and a number input) a cold first visit took ~0.2 s
less, and with the sidebar's data source drawn this way too another ~0.25 s (AMD EPYC 2 cores,
alternated visits, paired medians). A changed control sends ``{name, index}`` at once; the server
checks it against that control's options, keeps the value in ``st.session_state[name]`` (so links,
presets and other code read and set it as before) and calls the control's ``on_change``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.ui.grid_input import edit_of

CSS = """
.choices { display: grid; gap: 0.75rem 1rem; align-items: start;
  grid-template-columns: repeat(var(--cols), minmax(0, 1fr));
  font-family: var(--st-font, "Source Sans Pro", sans-serif); color: var(--st-text-color, #31333f);
  font-size: 0.875rem; line-height: 1.6; }
.frame { container-type: inline-size; }
@container (max-width: 36rem) {
  .choices.many { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@container (max-width: 20rem) { .choices { grid-template-columns: minmax(0, 1fr); } }
.control { min-width: 0; margin: 0; padding: 0; border: 0; }
.label { display: flex; align-items: center; gap: 0.3rem; margin-bottom: 0.25rem; padding: 0; }
.help { display: inline-flex; align-items: center; justify-content: center; width: 1rem;
  height: 1rem; border: 1px solid currentColor; border-radius: 50%; font-size: 0.7rem;
  line-height: 1; opacity: 0.6; cursor: help; }
select, input[type="number"] { box-sizing: border-box; width: 100%; height: 2.5rem;
  padding: 0 0.75rem; font: inherit; font-size: 1rem; color: inherit;
  background: var(--st-secondary-background-color, #f0f2f6);
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2)); border-radius: 0.5rem; }
select { cursor: pointer; }
select:hover, input[type="number"]:hover { border-color: var(--st-primary-color, #ff4b4b); }
select:focus-visible, input:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b);
  outline-offset: 1px; }
input[type="number"] { display: block; max-width: 12rem; }
.hint { margin-top: 0.25rem; font-size: 0.8rem; }
.hint:empty { display: none; }
.options { display: flex; flex-direction: column; gap: 0.25rem; }
.options.row { flex-direction: row; flex-wrap: wrap; column-gap: 1rem; }
.option, .switch { display: inline-flex; align-items: center; gap: 0.4rem; font-size: 1rem;
  cursor: pointer; }
input[type="radio"] { width: 1rem; height: 1rem; margin: 0;
  accent-color: var(--st-primary-color, #ff4b4b); cursor: pointer; }
.switch input { appearance: none; position: relative; flex: none; width: 2.25rem; height: 1.25rem;
  margin: 0; border-radius: 0.625rem; background: rgba(49, 51, 63, 0.25); cursor: pointer;
  transition: background 0.15s; }
.switch input::after { content: ""; position: absolute; top: 0.125rem; left: 0.125rem;
  width: 1rem; height: 1rem; border-radius: 50%; background: #fff; transition: left 0.15s; }
.switch input:checked { background: var(--st-primary-color, #ff4b4b); }
.switch input:checked::after { left: 1.125rem; }
h3 { margin: 0 0 1rem; padding: 0.75rem 0 0; font-family: var(--st-heading-font, inherit);
  font-size: 1.75rem; font-weight: 600; line-height: 1.2; letter-spacing: -0.005em;
  color: var(--st-heading-color, #0f172a); }
.tablist { display: flex; gap: 1rem; padding-top: 0.3rem; overflow-x: auto;
  scrollbar-width: thin; border-bottom: 2px solid var(--st-border-color-light, rgba(49, 51, 63, 0.1)); }
.tab { flex: none; margin: 0 0 -2px; padding: 0 0 0.6rem; font: inherit; font-size: 0.875rem;
  color: inherit; white-space: nowrap; background: none; border: 0; cursor: pointer;
  border-bottom: 3px solid transparent; }
.tab:hover, .tab[aria-selected="true"] { color: var(--st-primary-color, #ff4b4b); }
.tab[aria-selected="true"] { border-bottom-color: var(--st-primary-color, #ff4b4b); }
.tab:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: -2px; }
"""
_component = st.components.v2.component(
    "cnn_explorer.choices", css=CSS, js=(Path(__file__).parent / "choices.js").read_text()
)


@dataclass(frozen=True)
class Choice:
    """One control: ``st.session_state[name]`` holds its value, one of ``options`` (a switch:
    True or False). ``kind`` is "select" (a menu), "radio" (``horizontal`` or one per line),
    "tabs" (a row of tabs: the page draws the open one's content below),
    "switch" or "number" (a box for a whole number; ``options`` is a ``range`` of them);
    ``labels`` are what the student reads for the options (default ``str``)."""

    name: str
    label: str
    options: Sequence = (False, True)
    kind: str = "select"
    labels: Sequence[str] | None = None
    help: str | None = None
    horizontal: bool = False
    on_change: Callable[[], None] | None = None

    def shown(self) -> dict:
        """What the browser needs to draw the control."""
        if self.kind == "number":  # a range: its ends, not every number
            return {"lo": self.options[0], "hi": self.options[-1]}
        labels = self.labels if self.labels is not None else map(str, self.options)
        return {"options": list(labels)}


def choices(key: str, controls: Sequence[Choice], columns: int = 1, heading: str = "") -> None:
    """Draw ``controls`` in ``columns`` columns (two, then one, in a narrow space), under a
    ``heading`` if given (drawn like ``st.subheader``: a heading element of its own costs the
    browser ~4 ms more on every rerun of a fragment). A control the student changed has its value
    set and its ``on_change`` called here, before anything below it draws."""
    ss = st.session_state
    if (edit := ss.pop(f"{key}_edit", None)) is not None:  # what the browser sent, just now
        ss[f"{key}_seq"] = ss.get(f"{key}_seq", 0) + 1
        apply_choice(controls, edit)

    def edited() -> None:
        if (edit := edit_of(ss.get(key))) is not None:
            ss[f"{key}_edit"] = edit

    data = {
        "controls": [
            {
                "name": c.name,
                "label": c.label,
                "kind": c.kind,
                **c.shown(),
                "index": index_of(c),
                "help": c.help,
                "horizontal": c.horizontal,
            }
            for c in controls
        ],
        "columns": columns,
        "heading": heading,
        "seq": ss.get(f"{key}_seq", 0),
    }
    _component(key=key, data=data, on_edit_change=edited)


def index_of(control: Choice) -> int:
    """The index of the control's value in its options; a value that is not one of them (an old
    session's, say) becomes the first option."""
    ss = st.session_state
    options = control.options
    if ss.get(control.name, options[0]) not in options:
        ss[control.name] = options[0]
    return options.index(ss.setdefault(control.name, options[0]))


def apply_choice(controls: Sequence[Choice], edit: dict) -> None:
    """Set the value one control sent (``{"name", "index"}``) and call its ``on_change`` if it
    changed. The browser only sends its own controls' option indices; anything else is ignored."""
    edit = edit if isinstance(edit, dict) else {}
    name, index = edit.get("name"), edit.get("index")
    control = next((c for c in controls if c.name == name), None)
    if control is None or isinstance(index, bool) or not isinstance(index, int):
        return
    if not 0 <= index < len(control.options):
        return
    value = control.options[index]
    if st.session_state.get(control.name) != value:
        st.session_state[control.name] = value
        if control.on_change is not None:
            control.on_change()
