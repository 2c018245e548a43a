"""The run store (shared by every page) and a run picker."""

import os

import streamlit as st

from cnncore.runs import DEFAULT_ROOT, RunInfo, RunStore


@st.cache_resource
def run_store() -> RunStore:
    return RunStore(os.environ.get("CNN_EXPLORER_RUNS", DEFAULT_ROOT))


def run_label(info: RunInfo) -> str:
    s = info.summary or {}
    acc = s.get("test_accuracy")
    acc_text = f", test {acc:.1%}" if isinstance(acc, float) else ""
    model = (info.config or {}).get("model", "?")
    return f"{info.name} ({model}{acc_text})"


def pick_run(label: str, key: str, models: tuple[str, ...] | None = None) -> str | None:
    """A selectbox of healthy runs (optionally only of the given model names); returns a run id."""
    runs = [r for r in run_store().list() if not r.damaged and r.status != "running"]
    if models is not None:
        runs = [r for r in runs if (r.config or {}).get("model") in models]
    if not runs:
        st.caption("No saved runs yet: train one on the Live training page.")
        return None
    labels = {r.id: run_label(r) for r in runs}
    return st.selectbox(label, list(labels), format_func=labels.get, key=key)
