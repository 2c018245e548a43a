"""A code block with a copy button (Python in colours): a tiny component instead of ``st.code``.

``st.code`` makes the browser load and run Streamlit's syntax highlighter (a 1.5 MB script that
registers every language it knows): on this page's first visit that cost more than half a second
of the browser's main thread before the stepper could show. Pygments colours the code here on the
server, once per code text, and the browser only shows the HTML it made.
"""

from functools import lru_cache
from html import escape

import streamlit as st
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

CSS = """
.code { position: relative; background: var(--st-secondary-background-color, #f1f5f9);
  border-radius: 0.5rem; padding: 1rem 2.5rem 1rem 1rem; margin: 0 0 1rem 0; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px;
  line-height: 1.6; font-family: var(--st-code-font, "Source Code Pro", monospace);
  color: var(--st-text-color, #0f172a); }
button { position: absolute; top: 0.4rem; right: 0.4rem; font: inherit; font-size: 12px;
  padding: 0.1rem 0.5rem; border-radius: 0.4rem; cursor: pointer; opacity: 0;
  border: 1px solid var(--st-border-color, #d0d7de); background: var(--st-background-color, #fff);
  color: var(--st-text-color, #0f172a); }
.code:hover button, button:focus { opacity: 1; }
"""
HTML = '<div class="code"><pre></pre><button type="button">Copy</button></div>'
JS = """
export default function (component) {
  const { data, parentElement } = component;
  const pre = parentElement.querySelector("pre");
  const button = parentElement.querySelector("button");
  if (pre.dataset.key !== data.key) {
    pre.innerHTML = data.html;  // made on the server: Pygments' colours, or escaped text
    pre.dataset.key = data.key;
  }
  button.onclick = async () => {
    try {
      await navigator.clipboard.writeText(data.code);
      button.textContent = "Copied";
    } catch (e) {
      window.prompt("Copy this code:", data.code);
    }
  };
}
"""
_component = st.components.v2.component("cnn_explorer.codeblock", html=HTML, css=CSS, js=JS)


@lru_cache(maxsize=256)
def coloured(code: str) -> str:
    """Pygments' HTML for ``code`` (escaped, inline colours, no wrapper element)."""
    return highlight(code, PythonLexer(), HtmlFormatter(nowrap=True, noclasses=True, style="xcode"))


def code_block(code: str, key: str, python: bool = True) -> None:
    """Show ``code`` like ``st.code(code, language="python", wrap_lines=True)``; with
    ``python=False`` as plain text (``language=None``)."""
    html = coloured(code) if python else escape(code)
    _component(key=key, data={"code": code, "html": html, "key": str(hash(code))})
