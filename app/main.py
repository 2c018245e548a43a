"""CNN Explorer's page script: a router (st.navigation) plus the shared sidebar.

``streamlit run app/streamlit_app.py`` serves it with the live panel's feed route; it also runs on
its own (``streamlit run app/main.py``, AppTest), where the live panel polls in a fragment."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `streamlit run app/main.py` finds cnncore and app.ui
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.ui.runs import settings  # noqa: E402
from app.ui.sidebar import render_sidebar  # noqa: E402
from cnncore.errors import UserError  # noqa: E402
from cnncore.jobs import set_intraop_threads  # noqa: E402

# Page-side tensor work is small; one intra-op thread here keeps the cores for training jobs
# (see set_intraop_threads). Fragments call it too: each of their runs gets a fresh thread.
set_intraop_threads(1)

# An emoji icon is drawn in the browser; a Material icon would be fetched from fonts.gstatic.com
# at every page run (a slider move included): the app asks no other host for anything.
st.set_page_config(page_title="CNN Explorer", page_icon="🧠", layout="wide")

VIEWS = Path(__file__).parent / "views"
pages = [
    st.Page(VIEWS / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(
        VIEWS / "convolution.py",
        title="Convolution",
        icon=":material/grid_on:",
        url_path="convolution",
    ),
    st.Page(
        VIEWS / "training.py",
        title="Live training",
        icon=":material/monitoring:",
        url_path="training",
    ),
    st.Page(
        VIEWS / "invariance.py",
        title="Translation invariance",
        icon=":material/open_with:",
        url_path="invariance",
    ),
]
page = st.navigation(pages)
try:  # the teacher's settings (cnn-explorer.toml, CNN_EXPLORER_*): a bad one stops every page
    settings()
except UserError as exc:
    st.error(f"CNN Explorer cannot start: {exc}.")
    st.stop()
render_sidebar()
page.run()
