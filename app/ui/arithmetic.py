"""The dot product behind one feature-map pixel, shown the same way on every page that offers
"click a pixel": the pixel's receptive field in words, the model's own activation, the equation
and the window, kernel and products (cnncore computes; this only renders)."""

from __future__ import annotations

import streamlit as st

from app.ui.codeblock import code_block
from app.ui.feature_maps import feature_maps
from cnncore.analysis import FieldArithmetic
from cnncore.models import MNIST_MEAN, MNIST_STD
from cnncore.plots import arithmetic as arith_plots

STANDARDISED = (
    "The model standardises each input pixel first, "
    f"x = (pixel / 255 − {MNIST_MEAN}) / {MNIST_STD}: the windows show those values."
)


def arithmetic_details(a: FieldArithmetic, own: float, key: str, where: str = "") -> None:
    """``a`` written out under a heading line that names the pixel (``where`` adds which map or
    digit), with ``own``: the model's own activation there, from its forward pass."""
    st.markdown(
        f"**conv {a.layer}, map {a.channel}, pixel ({a.row}, {a.col})**{where}: its receptive "
        f"field is the {a.size}x{a.size} input pixels at rows {a.top}–{a.top + a.size - 1}, "
        f"columns {a.left}–{a.left + a.size - 1}. The model's own activation there: "
        f"**{own:.4f}**."
    )
    if a.layer == 2:
        st.caption(
            f"Conv 2 sums over all {a.window.shape[0]} maps of conv 1: the three channels with "
            "the largest |sum| are written out, the rest are summed, then the bias is added."
        )
    code_block(a.equation(3), key=f"{key}_equation", python=False)
    feature_maps(
        arith_plots.dot_product_payload(a, a.top_channels(3) if a.layer == 2 else [0]), key
    )
