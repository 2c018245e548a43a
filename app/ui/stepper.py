"""The stepper: one Play / Step / Back / scrubber / speed control that drives every view of a step.

A small ``st.components.v2`` component (inline HTML/CSS/JS, no build step; the JS is
``stepper.js``). It draws a payload from ``cnncore.conv`` (``ConvSteps.to_payload`` or
``PoolSteps.to_payload``) and moves the step in the browser; when the step comes to rest it reports
it back, and ``stepper`` keeps it in ``st.session_state[step_key]`` so a rerun shows the same step.
"""

import hashlib
import json
from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
_component = st.components.v2.component(
    "cnn_explorer.stepper",
    css=(HERE / "stepper.css").read_text(),
    js=(HERE / "stepper.js").read_text(),
)


def payload_key(payload: dict) -> str:
    """A short fingerprint, so the browser rebuilds its grids only when the payload changed."""
    return hashlib.blake2b(json.dumps(payload).encode(), digest_size=8).hexdigest()


def move_step(step_key: str, step: int) -> None:
    """The server moves the step itself (e.g. quiz mode); the browser follows it."""
    st.session_state[step_key] = step
    st.session_state[f"{step_key}_seq"] = st.session_state.get(f"{step_key}_seq", 0) + 1


def stepper(
    payload: dict, key: str, step_key: str, fingerprint: str, quiz: dict | None = None
) -> int:
    """Show the stepper for ``payload``; returns the current step (1-based), kept in state.

    ``quiz``: ``{"revealed": r}`` stops the step at the first unrevealed cell (index r) and hides
    its products and result until the page reveals it.
    """
    ss = st.session_state
    n = payload["n"]
    ss[step_key] = min(max(1, ss.get(step_key, 1)), n)

    def adopt() -> None:  # the browser reported where the step came to rest
        reported = (ss[key] or {}).get("step") or {}
        if isinstance(reported, dict) and isinstance(reported.get("step"), int):
            ss[step_key] = reported["step"]

    data = {
        "payload": payload,
        "payload_key": fingerprint,
        "step": ss[step_key],
        "seq": ss.get(f"{step_key}_seq", 0),
        "quiz": quiz,
    }
    _component(key=key, data=data, on_step_change=adopt)
    return min(max(1, ss[step_key]), n)
