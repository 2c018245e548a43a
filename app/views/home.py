"""Home: what CNN Explorer teaches and where to start."""

import streamlit as st

from app.ui.data import current_dataset
from cnncore.models import build_model, count_parameters

st.title("CNN Explorer")
st.markdown(
    """
A flattened image loses what matters most: **where** each pixel is. Feed a fully connected
network the pixels of a digit in any fixed scrambled order and it learns just as well — it never
knew the order. A **convolutional** network instead slides small filters over the 2-D image,
taking a dot product at every position, so it keeps the spatial layout and looks for the same
pattern everywhere. That is why CNNs do so well on images — and this app lets you see each step.
"""
)

STEPS = [
    (
        "1 · Convolution",
        "views/convolution.py",
        "Open the convolution explainer",
        ":material/grid_on:",
        "Set a 3x3 filter with sliders and watch it slide over a 5x5 image: each window, the "
        "products, the sum, the activation, the output map filling in.",
    ),
    (
        "2 · Live training",
        "views/training.py",
        "Train a network",
        ":material/monitoring:",
        "Train the lesson's MNIST CNN and watch the loss and accuracy curves arrive while it "
        "trains; then see the filters it learned and the digits it still gets wrong.",
    ),
    (
        "3 · Translation invariance",
        "views/invariance.py",
        "Compare the networks",
        ":material/open_with:",
        "Shift digits a few pixels and compare a flattened network with the CNN — measured, "
        "with the CNN's limits shown as honestly as its strengths.",
    ),
]
steps = st.container(horizontal=True, wrap=True, gap="medium")
for title, page, link, icon, text in STEPS:  # three in a row; one under another when narrow
    with steps.container(width=280):
        st.subheader(title)
        st.write(text)
        st.page_link(page, label=link, icon=icon)

st.divider()
data = current_dataset()
conv, fc = build_model("convnet"), build_model("fcnet")
st.markdown(
    f"""
**The networks.** The lesson's ConvNet: Conv2d(1→16, 5x5) → ReLU → Conv2d(16→32, 5x5) → ReLU →
flatten (32·20·20 = 12,800) → Linear(12,800→10), **{count_parameters(conv):,} parameters**.
The flattened FCNet: 784 → 176 → 10, **{count_parameters(fc):,} parameters** — nearly the same
size, so comparisons are fair.

**The data.** {data.summary()} — {data.reason}.
"""
)
sample = data.train.images[:12, 0]
st.image(
    [img.numpy() for img in sample], width=56, caption=[str(int(y)) for y in data.train.labels[:12]]
)
