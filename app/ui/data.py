"""The data source the sidebar picked, loaded once per process (st.cache_resource)."""

import os
from pathlib import Path

import streamlit as st

from cnncore.data import DEFAULT_ROOT, Dataset, env_root, load_data
from cnncore.errors import UserError

CHOICES = {
    "auto": "Auto (best available)",
    "bundled": "Bundled MNIST (5,000)",
    "mnist": "MNIST (70,000)",
    "fashion-mnist": "Fashion-MNIST (70,000)",
}


def data_root() -> Path:
    return Path(env_root() or DEFAULT_ROOT)


SYSTEM_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset-* packages install


def idx_folders() -> list[str]:
    """IDX folders the server offers: sub-folders of the data folder, and of Debian's
    /usr/share/datasets (e.g. the dataset-fashion-mnist package), that hold train-images files.
    The web form only ever chooses among these; it never takes a path typed by a visitor."""
    found = []
    for root in (data_root(), SYSTEM_DATASETS):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if any(folder.glob("train-images*idx3-ubyte*")):
                found.append(f"idx:{folder}")
    return found


@st.cache_resource(show_spinner="Loading the digits…")
def _load(spec: str, root: str) -> Dataset:
    # CNN_EXPLORER_OFFLINE=1: the server never tries a download (for air-gapped hosts and tests).
    return load_data(spec, root, allow_download=os.environ.get("CNN_EXPLORER_OFFLINE") != "1")


def current_dataset() -> Dataset:
    """The Dataset for the source chosen in the sidebar; a failure falls back to the bundled
    digits with the reason shown, so a page always has data."""
    spec = st.session_state.get("data_source", "auto")
    try:
        return _load(spec, str(data_root()))
    except UserError as exc:
        st.session_state["data_error"] = f"{spec}: {exc}. Showing the bundled digits instead."
        return _load("bundled", str(data_root()))
