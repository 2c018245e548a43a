"""Figures for "from a feature map to its arithmetic": the digit with one pixel's receptive field,
the feature map to click in, and the window, kernel and products of the dot product."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnncore.analysis import FieldArithmetic

FIELD_COLOR = "#dc2626"


def field_figure(
    image: torch.Tensor, fmap: torch.Tensor, title: str, a: FieldArithmetic | None = None
) -> go.Figure:
    """Left: the uint8 digit [1, 28, 28] with ``a``'s receptive field outlined. Right: one feature
    map float [H, W] with the chosen pixel outlined; every pixel of it is a clickable point whose
    customdata is (row, col)."""
    h, w = fmap.shape
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.06,
        subplot_titles=("input digit: the pixel's receptive field", title),
    )
    fig.add_trace(
        go.Heatmap(
            z=image[0].float().numpy(),
            colorscale="gray_r",
            showscale=False,
            hovertemplate="input (%{y}, %{x}): %{z}<extra></extra>",
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Heatmap(z=fmap.numpy(), colorscale="Viridis", showscale=False, hoverinfo="skip"), 1, 2
    )
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    fig.add_trace(
        go.Scatter(
            x=cols.flatten().tolist(),
            y=rows.flatten().tolist(),
            mode="markers",
            marker=dict(size=9, symbol="square", color="rgba(0,0,0,0)"),
            customdata=torch.stack([rows.flatten(), cols.flatten()], 1).tolist(),
            text=[f"{v:.3f}" for v in fmap.flatten().tolist()],
            hovertemplate="pixel (%{y}, %{x}): %{text} (click for its arithmetic)<extra></extra>",
            showlegend=False,
        ),
        1,
        2,
    )
    if a is not None:
        box = dict(type="rect", line=dict(color=FIELD_COLOR, width=2.5))
        fig.add_shape(
            x0=a.left - 0.5,
            x1=a.left + a.size - 0.5,
            y0=a.top - 0.5,
            y1=a.top + a.size - 0.5,
            row=1,
            col=1,
            **box,
        )
        fig.add_shape(
            x0=a.col - 0.5, x1=a.col + 0.5, y0=a.row - 0.5, y1=a.row + 0.5, row=1, col=2, **box
        )
    for col in (1, 2):
        fig.update_yaxes(
            autorange="reversed",
            scaleanchor=f"x{'' if col == 1 else col}",
            visible=False,
            row=1,
            col=col,
        )
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=col)
    fig.update_layout(
        height=360,
        margin=dict(l=10, r=10, t=40, b=10),
        hovermode="closest",
        clickmode="event+select",
        dragmode=False,
    )
    fig.update_annotations(font_size=12)
    return fig


def dot_product_figure(a: FieldArithmetic, channels: list[int]) -> go.Figure:
    """One row per input channel in ``channels``: its window (standardised input, or layer-1
    activations), the kernel, and their products, every cell labelled with its number."""
    titles = []
    for ch in channels:
        name = "standardised input" if a.layer == 1 else f"conv 1 map {ch}"
        titles += [
            f"{name} (window)",
            f"kernel, channel {ch}",
            f"products: sum {float(a.channel_sums[ch]):.3f}",
        ]
    fig = make_subplots(
        rows=len(channels),
        cols=3,
        subplot_titles=titles,
        horizontal_spacing=0.04,
        vertical_spacing=0.12 / len(channels),
    )
    for r, ch in enumerate(channels, start=1):
        for c, (z, scale) in enumerate(
            [
                (a.window[ch], "Greys"),
                (a.kernel[ch], "RdBu"),
                (a.window[ch] * a.kernel[ch], "RdBu"),
            ],
            start=1,
        ):
            peak = float(z.abs().max()) or 1.0
            fig.add_trace(
                go.Heatmap(
                    z=z.numpy(),
                    colorscale=scale,
                    zmid=None if scale == "Greys" else 0,
                    zmin=None if scale == "Greys" else -peak,
                    zmax=None if scale == "Greys" else peak,
                    showscale=False,
                    text=[[f"{v:.2f}" for v in row] for row in z.tolist()],
                    texttemplate="%{text}",
                    textfont=dict(size=10),
                    hoverinfo="skip",
                ),
                r,
                c,
            )
            fig.update_yaxes(autorange="reversed", visible=False, row=r, col=c)
            fig.update_xaxes(visible=False, row=r, col=c)
    fig.update_layout(height=60 + 230 * len(channels), margin=dict(l=10, r=10, t=40, b=10))
    fig.update_annotations(font_size=12)
    return fig
