"""Plotly figures for the translation-invariance page: accuracy (or agreement) against shift with
min-max bands, a chance line and the ink-loss region; 2-D heatmaps side by side; probability
bars for one shifted digit; feature-map equivariance; scrambled-pixel examples.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

PALETTE = {"convnet": "#2563eb", "fcnet": "#dc2626", "convnet-pool": "#16a34a",
           "convnet-gap": "#9333ea"}  # fmt: skip
EXTRA = ("#0891b2", "#ea580c", "#4d7c0f", "#be185d", "#475569", "#a16207")
METRIC_TITLES = {
    "accuracy": "accuracy on shifted test digits",
    "agreement": "agreement with its own unshifted prediction",
}


def _square_cells(fig: go.Figure, rows: int, cols: int) -> None:
    """Square pixels in every subplot (each y axis anchored to its own x axis)."""
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            k = (r - 1) * cols + c
            fig.update_yaxes(scaleanchor=f"x{k if k > 1 else ''}", row=r, col=c)
            fig.update_xaxes(constrain="domain", row=r, col=c)
    fig.update_yaxes(constrain="domain")


def color_for(label: str, i: int = 0) -> str:
    base = label.split(" ")[0]
    return PALETTE.get(base, EXTRA[i % len(EXTRA)])


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def accuracy_vs_shift(
    curves: pd.DataFrame, metric: str = "accuracy", direction: str = "mean",
    ink_from: int | None = None, height: int = 420,
) -> go.Figure:  # fmt: skip
    """One line per model (mean over seeds) with a min-max band, for ``direction`` ("mean" =
    mean of right/left/down/up). ``ink_from``: shade shifts from here on (digits lose ink)."""
    fig = go.Figure()
    rows = curves[curves["direction"] == direction]
    max_k = int(rows["shift"].max()) if len(rows) else 1
    if ink_from is not None:
        fig.add_vrect(x0=ink_from - 0.5, x1=max_k + 0.3, fillcolor="#f59e0b", opacity=0.12,
                      line_width=0, annotation_text="digits start losing ink off the edge",
                      annotation_position="top left", annotation_font_size=11)  # fmt: skip
    for i, (label, df) in enumerate(rows.groupby("model", sort=False)):
        color = color_for(label, i)
        k = df["shift"].tolist()
        lo, hi = (100 * df[f"{metric}_min"]).tolist(), (100 * df[f"{metric}_max"]).tolist()
        if any(h - lo_ > 1e-9 for h, lo_ in zip(hi, lo, strict=True)):  # a band only with seeds
            fig.add_trace(go.Scatter(x=k + k[::-1], y=hi + lo[::-1], fill="toself", line_width=0,
                                     fillcolor=_rgba(color, 0.15), hoverinfo="skip",
                                     showlegend=False, legendgroup=label))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=k, y=(100 * df[f"{metric}_mean"]).tolist(), name=label, legendgroup=label,
            mode="lines+markers", line=dict(color=color, width=3),
            hovertemplate=f"{label}<br>shift %{{x}} px: %{{y:.1f}}%<extra></extra>",
        ))  # fmt: skip
    if metric == "accuracy":
        fig.add_hline(y=10, line_dash="dot", line_color="#64748b",
                      annotation_text="chance (10%)", annotation_position="bottom right")  # fmt: skip
    where = "mean of right, left, down, up" if direction == "mean" else direction
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
        title=dict(text=f"{METRIC_TITLES[metric].capitalize()} ({where})", font_size=15),
        xaxis=dict(title="shift (pixels)", dtick=1, range=[-0.2, max_k + 0.3]),
        yaxis=dict(title=f"{metric} (%)", range=[0, 102]),
        legend=dict(orientation="h", yanchor="bottom", y=-0.32, x=0),
    )  # fmt: skip
    return fig


def shift_heatmaps(grid: pd.DataFrame, metric: str = "accuracy", height: int = 340) -> go.Figure:
    """One dx-by-dy heatmap per model, side by side, on one 0-100% colour scale."""
    labels = list(dict.fromkeys(grid["model"]))
    fig = make_subplots(rows=1, cols=max(len(labels), 1), subplot_titles=labels,
                        horizontal_spacing=0.06)  # fmt: skip
    for i, label in enumerate(labels, start=1):
        df = grid[grid["model"] == label].pivot(index="dy", columns="dx", values=metric)
        z = (100 * df).round(1)
        fig.add_trace(go.Heatmap(
            z=z.values, x=z.columns.tolist(), y=z.index.tolist(), zmin=0, zmax=100,
            colorscale="Viridis", showscale=i == len(labels), text=z.values, texttemplate="%{text:.0f}",
            textfont_size=9, colorbar=dict(title="%", len=0.9),
            hovertemplate=f"{label}<br>dx %{{x}}, dy %{{y}}: %{{z:.1f}}%<extra></extra>",
        ), row=1, col=i)  # fmt: skip
        fig.update_xaxes(title_text="dx (right →)", dtick=1, row=1, col=i, constrain="domain")
        fig.update_yaxes(autorange="reversed", dtick=1, scaleanchor=f"x{i if i > 1 else ''}",
                         constrain="domain", row=1, col=i,
                         title_text="dy (down ↓)" if i == 1 else None)  # fmt: skip
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def probability_bars(probs: dict[str, torch.Tensor], label: int | None = None,
                     height: int = 300) -> go.Figure:  # fmt: skip
    """Each model's class probabilities (float [10]) as bars, side by side; the predicted class
    is solid, the true class (if known) outlined."""
    names = list(probs)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[
        f"{n}: says {int(p.argmax())} ({100 * float(p.max()):.0f}%)" for n, p in probs.items()
    ], horizontal_spacing=0.08)  # fmt: skip
    for i, (name, p) in enumerate(probs.items(), start=1):
        color = color_for(name, i)
        pred = int(p.argmax())
        fig.add_trace(go.Bar(
            x=list(range(10)), y=(100 * p).tolist(), name=name, showlegend=False,
            marker=dict(color=[color if d == pred else _rgba(color, 0.35) for d in range(10)],
                        line=dict(color=["#0f172a" if d == label else "rgba(0,0,0,0)"
                                         for d in range(10)], width=2)),
            hovertemplate="digit %{x}: %{y:.1f}%<extra></extra>",
        ), row=1, col=i)  # fmt: skip
        fig.update_xaxes(dtick=1, title_text="digit", row=1, col=i)
        fig.update_yaxes(range=[0, 100], title_text="probability (%)" if i == 1 else None,
                         row=1, col=i)  # fmt: skip
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), bargap=0.15)
    return fig


def digit_figure(image: torch.Tensor, title: str = "", height: int = 260) -> go.Figure:
    """A digit (uint8 or float [28, 28] or [1, 28, 28]) drawn white on black, with a frame."""
    img = image.reshape(28, 28).float()
    img = img / 255 if img.max() > 1 else img
    fig = go.Figure(go.Heatmap(z=img.tolist(), colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, constrain="domain")
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
                      title=dict(text=title, font_size=13))  # fmt: skip
    return fig


def equivariance_figure(eq: dict, channels: int = 6, height: int = 480) -> go.Figure:
    """Rows: the digit's feature maps, the shifted digit's maps, and (shifted maps) - (original
    maps moved by the same shift), for the ``channels`` most active channels. Grey = undefined."""
    a, b, d = eq["original"], eq["shifted"], eq["difference"]
    top = a.flatten(1).sum(1).argsort(descending=True)[:channels].tolist()
    rows = ["digit", "shifted digit", "difference"]
    fig = make_subplots(rows=3, cols=len(top), vertical_spacing=0.07, horizontal_spacing=0.02,
                        subplot_titles=[f"channel {c}" for c in top], row_titles=rows)  # fmt: skip
    scale = eq["scale"]
    for j, c in enumerate(top, start=1):
        for i, (m, cs, lo) in enumerate(((a, "Blues", 0), (b, "Blues", 0), (d, "RdBu", -1)), 1):
            z = [[None if math.isnan(v) else v for v in row] for row in m[c].tolist()]
            fig.add_trace(go.Heatmap(z=z, colorscale=cs, zmin=lo * scale, zmax=scale,
                                     showscale=False, reversescale=cs == "RdBu",
                                     hovertemplate="%{z:.3f}<extra></extra>"), row=i, col=j)  # fmt: skip
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    _square_cells(fig, 3, len(top))
    fig.update_layout(height=height, margin=dict(l=10, r=40, t=30, b=10),
                      plot_bgcolor="#cbd5e1")  # fmt: skip
    fig.for_each_annotation(lambda a: a.update(font_size=11))
    return fig


def hidden_figure(original: torch.Tensor, shifted: torch.Tensor, height: int = 260) -> go.Figure:
    """The FC net's hidden units (float [H]) for the digit and its shifted copy, laid out as
    grids: the layout is arbitrary, so there is no pattern to shift back."""
    n = original.numel()
    cols = 16 if n % 16 == 0 else int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))

    def grid(v):
        vals = v.flatten().tolist() + [None] * (rows * cols - n)
        return [vals[r * cols : (r + 1) * cols] for r in range(rows)]

    zmax = float(max(original.max(), shifted.max(), 1e-9))
    fig = make_subplots(rows=1, cols=2, subplot_titles=["hidden units: digit",
                                                        "hidden units: shifted digit"])  # fmt: skip
    for i, v in enumerate((original, shifted), start=1):
        fig.add_trace(go.Heatmap(z=grid(v), colorscale="Reds", zmin=0, zmax=zmax, showscale=False,
                                 hovertemplate="unit %{y},%{x}: %{z:.2f}<extra></extra>"),
                      row=1, col=i)  # fmt: skip
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    _square_cells(fig, 1, 2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def permutation_examples(images: torch.Tensor, scrambled: torch.Tensor, labels=None,
                         height: int = 260) -> go.Figure:  # fmt: skip
    """Digits (top row) and the same digits with their pixels scrambled (bottom row)."""
    n = len(images)
    titles = [f"digit {int(labels[i])}" if labels is not None else "" for i in range(n)]
    fig = make_subplots(rows=2, cols=n, subplot_titles=titles + [""] * n, vertical_spacing=0.06,
                        horizontal_spacing=0.01, row_titles=["original", "scrambled"])  # fmt: skip
    for r, batch in enumerate((images, scrambled), start=1):
        for c in range(n):
            z = batch[c].reshape(28, 28).float()
            z = (z / 255 if z.max() > 1 else z).tolist()
            fig.add_trace(go.Heatmap(z=z, colorscale="gray", zmin=0, zmax=1, showscale=False,
                                     hoverinfo="skip"), row=r, col=c + 1)  # fmt: skip
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    _square_cells(fig, 2, n)
    fig.update_layout(height=height, margin=dict(l=10, r=30, t=30, b=10))
    return fig


def per_class_heatmap(per_class: pd.DataFrame, height: int = 300) -> go.Figure:
    """Accuracy by digit (rows) and shift (columns), one panel per model."""
    labels = list(dict.fromkeys(per_class["model"]))
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=labels, horizontal_spacing=0.05)
    for i, label in enumerate(labels, start=1):
        z = 100 * per_class[per_class["model"] == label].pivot(index="digit", columns="shift",
                                                                values="accuracy")  # fmt: skip
        fig.add_trace(go.Heatmap(z=z.values, x=z.columns.tolist(), y=z.index.tolist(), zmin=0,
                                 zmax=100, colorscale="Viridis", showscale=i == len(labels),
                                 text=z.round(0).values, texttemplate="%{text:.0f}", textfont_size=9,
                                 hovertemplate="digit %{y}, shift %{x}: %{z:.1f}%<extra></extra>"),
                      row=1, col=i)  # fmt: skip
        fig.update_xaxes(title_text="shift (px)", dtick=1, row=1, col=i)
        fig.update_yaxes(dtick=1, autorange="reversed", row=1, col=i,
                         title_text="digit" if i == 1 else None)  # fmt: skip
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig
