"""CNN Explorer's server: ``streamlit run app/streamlit_app.py``.

An ``st.App`` that serves the page script (``main.py``: the router, the sidebar and the pages) and
one more route, the live training panel's read-only feed (``app.ui.live_feed``), which a tab
watching a job asks for what changed instead of rerunning the page. Every ``streamlit run``
option and ``.streamlit/config.toml`` setting applies as before.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so the route's module finds cnncore and app.ui
    sys.path.insert(0, str(ROOT))

from cnncore.jobs import limit_malloc_arenas  # noqa: E402

limit_malloc_arenas(2)  # before the server's threads start: its memory goes back after a class

import streamlit as st  # noqa: E402

from app.ui import live_feed  # noqa: E402

app = st.App("main.py", routes=live_feed.routes())
