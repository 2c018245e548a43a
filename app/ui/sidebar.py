"""The sidebar every page shares: data source (and what was actually loaded), device, runs."""

import os

import streamlit as st

from app.ui.choices import Choice, choices
from app.ui.data import CHOICES, current_dataset, idx_folders
from app.ui.motion import calm_redraws
from app.ui.runs import workspace_sidebar
from cnncore.jobs import WORKER_THREADS
from cnncore.speed import auto_precision
from cnncore.train import resolve_device


def render_sidebar() -> None:
    with st.sidebar:
        st.subheader("Data")
        options = list(CHOICES) + idx_folders()
        if "data_source" not in st.session_state:  # the server's default ($CNN_EXPLORER_SOURCE)
            default = os.environ.get("CNN_EXPLORER_SOURCE", "auto")
            st.session_state["data_source"] = default if default in options else "auto"
        choices(
            "data_source_choice",
            [
                Choice(
                    "data_source",
                    "Data source",
                    options,
                    labels=[CHOICES.get(o, f"IDX folder {o[4:]}") for o in options],
                    help="Where the digits come from. Auto: full MNIST if it is in ./MNIST-data "
                    "or can be downloaded, else the bundled 5,000 real MNIST digits (offline). "
                    "MNIST and Fashion-MNIST download into ./MNIST-data on first use. IDX folders "
                    "are sub-folders of the data folder (and of /usr/share/datasets) holding "
                    "MNIST-format files.",
                )
            ],
        )
        data = current_dataset()
        if error := st.session_state.pop("data_error", None):
            st.error(error)
        st.caption(
            f"**Loaded:** {data.source} — {len(data.train):,} train / {len(data.val):,} "
            f"validation / {len(data.test):,} test.  \n**Why:** {data.reason}"
        )
        device = resolve_device()
        st.caption(
            f"**Device:** {device.type.upper()} ({WORKER_THREADS} thread{'s' if WORKER_THREADS != 1 else ''} for training), "
            "precision {} by default (measured here: bf16 trains at {:.2f}x the speed of fp32)".format(
                *auto_precision(device, WORKER_THREADS)
            )
        )
        workspace_sidebar()
        calm_redraws()  # pages redraw often: a slider move, a live panel's poll
