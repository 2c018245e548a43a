"""Figures for "from a feature map to its arithmetic": the digit with one pixel's receptive field,
the feature map to click in, and the window, kernel and products of the dot product."""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from cnncore.analysis import FieldArithmetic
from cnncore.plots.invariance import _grid, _scale, _title, fast_figure, picture_row

FIELD_COLOR = "#dc2626"


def _axes(rows: int, cols: int, h_gap: float, v_gap: float, square: bool) -> dict:
    """A rows x cols grid of hidden, top-down axes (``invariance._grid``), axis lines off."""
    grid = _grid(rows, cols, h_gap, v_gap, square)
    for name, axis in grid["layout"].items():
        axis["visible"] = False
        if name.startswith("yaxis") and not square:
            axis.pop("scaleanchor", None)
    return grid


def field_figure(
    image: torch.Tensor,
    fmap: torch.Tensor,
    title: str,
    a: FieldArithmetic | None = None,
    clickable: bool = True,
) -> go.Figure:
    """Left: the uint8 digit [1, 28, 28] with ``a``'s receptive field outlined. Right: one feature
    map float [H, W] with the chosen pixel outlined; with ``clickable`` every pixel of it is a
    clickable point whose customdata is (row, col). Built as plain dicts (no validation)."""
    h, w = fmap.shape
    grid = _axes(1, 2, 0.06, 0, square=True)
    (x1, y1), (x2, y2) = grid["refs"]
    data = [
        {
            "type": "heatmap",
            "z": image[0].to(torch.int64).tolist(),
            "colorscale": _scale("gray_r"),
            "showscale": False,
            "hovertemplate": "input (%{y}, %{x}): %{z}<extra></extra>",
            "xaxis": x1,
            "yaxis": y1,
        },
        {
            "type": "heatmap",
            "z": fmap.double().round(decimals=4).tolist(),
            "colorscale": _scale("Viridis"),
            "showscale": False,
            "hoverinfo": "skip",
            "xaxis": x2,
            "yaxis": y2,
        },
    ]
    if clickable:
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        data.append(
            {
                "type": "scatter",
                "x": cols.flatten().tolist(),
                "y": rows.flatten().tolist(),
                "mode": "markers",
                "marker": {"size": 9, "symbol": "square", "color": "rgba(0,0,0,0)"},
                "customdata": torch.stack([rows.flatten(), cols.flatten()], 1).tolist(),
                "text": [f"{v:.3f}" for v in fmap.flatten().tolist()],
                "hovertemplate": "pixel (%{y}, %{x}): %{text} (click for its arithmetic)"
                "<extra></extra>",
                "showlegend": False,
                "xaxis": x2,
                "yaxis": y2,
            }
        )
    shapes = []
    if a is not None:
        line = {"color": FIELD_COLOR, "width": 2.5}
        shapes = [
            {
                "type": "rect",
                "xref": x1,
                "yref": y1,
                "x0": a.left - 0.5,
                "x1": a.left + a.size - 0.5,
                "y0": a.top - 0.5,
                "y1": a.top + a.size - 0.5,
                "line": line,
            },
            {
                "type": "rect",
                "xref": x2,
                "yref": y2,
                "x0": a.col - 0.5,
                "x1": a.col + 0.5,
                "y0": a.row - 0.5,
                "y1": a.row + 0.5,
                "line": line,
            },
        ]
    titles = ("input digit: the pixel's receptive field", title)
    layout = {
        **grid["layout"],
        "height": 360,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "hovermode": "closest",
        "clickmode": "event+select",
        "dragmode": False,
        "shapes": shapes,
        "annotations": [_title(t, *top, 12) for t, top in zip(titles, grid["tops"], strict=True)],
    }
    return fast_figure(data, layout)


def field_payload(image: torch.Tensor, fmap: torch.Tensor, title: str, a: FieldArithmetic) -> dict:
    """``field_figure`` without clicks, for the canvas pictures (``app.ui.feature_maps``): the
    uint8 digit [1, 28, 28] with ``a``'s receptive field outlined, and the feature map float
    [H, W] with ``a``'s pixel outlined, each on its own colour scale from its min to its max."""
    digit, fmap = image[0].to(torch.int64), fmap.float()
    row = picture_row("", [digit, fmap], "gray_r", 0, 255)
    row["scales"] = [
        {"colorscale": _scale(name), "lo": float(m.min()), "hi": float(m.max())}
        for name, m in (("gray_r", digit), ("Viridis", fmap))
    ]
    row["outlines"] = [
        {"row": a.top, "col": a.left, "size": a.size},
        {"row": a.row, "col": a.col},
    ]
    return {"columns": ["input digit: the pixel's receptive field", title], "rows": [row]}


def dot_product_payload(a: FieldArithmetic, channels: list[int]) -> dict:
    """The dot product for the canvas pictures (``app.ui.feature_maps``): one row per
    input channel in ``channels``: its window (grey, its own min to max), the kernel and the
    products (red-blue, symmetric about 0), every cell labelled with its number (2 decimals)."""
    rows = []
    for ch in channels:
        name = "standardised input" if a.layer == 1 else f"conv 1 map {ch}"
        maps = [a.window[ch], a.kernel[ch], a.window[ch] * a.kernel[ch]]
        row = picture_row("", maps, "Greys", 0, 1)
        scales = [{"colorscale": _scale("Greys"), "lo": float(maps[0].min())}]
        scales[0]["hi"] = float(maps[0].max())
        for m in maps[1:]:
            peak = float(m.abs().max()) or 1.0
            scales.append({"colorscale": _scale("RdBu"), "lo": -peak, "hi": peak})
        row.update(scales=scales, labels=2)
        row["titles"] = [
            f"{name} (window)",
            f"kernel, channel {ch}",
            f"products: sum {float(a.channel_sums[ch]):.3f}",
        ]
        rows.append(row)
    return {"columns": [], "rows": rows}
