"""Translation invariance: a flattened network against the CNN on shifted and scrambled digits."""

import streamlit as st

from app.ui import invariance as panels
from app.ui.data import current_dataset

st.title("Translation invariance")
st.markdown(
    "Move a digit a few pixels and ask both networks again. The lesson's **ConvNet** slides the "
    "same filters everywhere, so its feature maps move with the digit (*equivariance*) — but its "
    "flatten + Linear head still reads positions, so it is only **partly** invariant. The "
    "flattened **FCNet** (same size) has no notion of neighbouring pixels at all. Every number "
    "below is measured in this app, on your data, when you press the button."
)
data = current_dataset()

mode = st.radio("Models", ["Train a matched set here", "Use saved runs"], horizontal=True,
                key="inv_mode")  # fmt: skip
if mode == "Train a matched set here":
    panels.comparison_form(data)
else:
    panels.saved_runs_form(data)
panels.job_progress()

result = st.session_state.get("inv_result")
if result is None:
    st.info("Train and compare (about 15 s for the matched pair on the bundled digits) to see "
            "the curves, then shift a digit yourself.")  # fmt: skip
else:
    panels.results(result, data)
    st.divider()
    panels.shift_one_digit(result, data)
    st.divider()
    panels.equivariance_view(result)
st.divider()
panels.scrambled_view(result, data)
st.caption(
    "Further reading: Kauderer-Abrams (2017) *Quantifying translation-invariance in CNNs*; "
    "Azulay & Weiss (2019) *Why do deep convolutional networks generalize so poorly to small "
    "image transformations?*; Zhang (2019) *Making convolutional networks shift-invariant again*."
)
