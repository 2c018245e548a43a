"""Plotly figures for the translation-invariance page: accuracy (or agreement) against shift with
min-max bands, a chance line and the ink-loss region; 2-D heatmaps side by side; probability
bars for one shifted digit; feature-map equivariance; scrambled-pixel examples.

The figures redrawn on every shift-slider move (digit, probabilities, hidden units) are built as
plain dicts on a hand-laid subplot grid and wrapped without Plotly's property validation; the
equivariance maps are a payload of rounded numbers for a canvas component (the browser drew a
Plotly figure of 18 heatmaps and 7,000 click markers in about half a second).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import pandas as pd
import plotly.colors
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

PALETTE = {
    "convnet": "#2563eb",
    "fcnet": "#dc2626",
    "convnet-pool": "#16a34a",
    "convnet-gap": "#9333ea",
    "convnet-blurpool": "#0d9488",
    "convnet-circular": "#d97706",
}
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


def fast_figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from plain dicts, without property validation (the caller's dicts are right)."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _grid(rows: int, cols: int, h_gap: float, v_gap: float, square: bool = True) -> dict:
    """Axes of a rows x cols subplot grid, numbered row-major from 1 (as make_subplots does):
    {"layout": {xaxis.., yaxis..}, "refs": [("x", "y"), ("x2", "y2"), ...],
    "tops": [(x centre, y top) of each cell, for titles]}. ``square``: square pixels."""
    w = (1 - (cols - 1) * h_gap) / cols
    h = (1 - (rows - 1) * v_gap) / rows
    layout, refs, tops = {}, [], []
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c + 1
            n = "" if k == 1 else str(k)
            x0, y1 = c * (w + h_gap), 1 - r * (h + v_gap)
            hidden = {"showticklabels": False, "showgrid": False, "zeroline": False}
            xd = [round(max(x0, 0.0), 6), round(min(x0 + w, 1.0), 6)]
            yd = [round(max(y1 - h, 0.0), 6), round(min(y1, 1.0), 6)]
            layout[f"xaxis{n}"] = {"domain": xd, "anchor": f"y{n}", **hidden}
            layout[f"yaxis{n}"] = {"domain": yd, "anchor": f"x{n}", **hidden}
            layout[f"yaxis{n}"]["autorange"] = "reversed"
            if square:
                layout[f"xaxis{n}"]["constrain"] = "domain"
                layout[f"yaxis{n}"].update(scaleanchor=f"x{n}", constrain="domain")
            refs.append((f"x{n}", f"y{n}"))
            tops.append((x0 + w / 2, y1))
    return {"layout": layout, "refs": refs, "tops": tops}


@functools.cache
def _scale(name: str) -> tuple[tuple[float, str], ...]:
    """Plotly's named colour scale as explicit stops: plotly.js reads some names (e.g. "Blues")
    the other way round from plotly.py, and a dict figure skips plotly.py's translation. Looked up
    once per name: plotly searches all its colour modules on every call (about 1 ms), and a
    "Shift one digit" move draws some 20 scales."""
    return tuple((float(t), c) for t, c in plotly.colors.get_colorscale(name))


def _title(text: str, x: float, y: float, size: int = 11) -> dict:
    return {
        "text": text,
        "x": x,
        "y": y,
        "xref": "paper",
        "yref": "paper",
        "showarrow": False,
        "xanchor": "center",
        "yanchor": "bottom",
        "font": {"size": size},
    }


def accuracy_vs_shift(
    curves: pd.DataFrame,
    metric: str = "accuracy",
    direction: str = "mean",
    ink_from: int | None = None,
    height: int = 420,
) -> go.Figure:
    """One line per model (mean over seeds) with a min-max band, for ``direction`` ("mean" =
    mean of right/left/down/up). ``ink_from``: shade shifts from here on (digits lose ink)."""
    fig = go.Figure()
    rows = curves[curves["direction"] == direction]
    max_k = int(rows["shift"].max()) if len(rows) else 1
    if ink_from is not None:
        _add_ink_region(fig, ink_from, max_k)
    for i, (label, df) in enumerate(rows.groupby("model", sort=False)):
        _add_model_curve(fig, label, df, metric, color_for(label, i))
    if metric == "accuracy":
        fig.add_hline(
            y=10,
            line_dash="dot",
            line_color="#64748b",
            annotation_text="chance (10%)",
            annotation_position="bottom right",
        )
    where = "mean of right, left, down, up" if direction == "mean" else direction
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        hovermode="x unified",
        title=dict(text=f"{METRIC_TITLES[metric].capitalize()} ({where})", font_size=15),
        xaxis=dict(title="shift (pixels)", dtick=1, range=[-0.2, max_k + 0.3]),
        yaxis=dict(title=f"{metric} (%)", range=[0, 102]),
        legend=dict(orientation="h", yanchor="bottom", y=-0.32, x=0),
    )
    return fig


def _add_ink_region(fig: go.Figure, ink_from: int, max_k: int) -> None:
    """Shade the shifts at which digits start losing ink over the frame's edge."""
    fig.add_vrect(
        x0=ink_from - 0.5,
        x1=max_k + 0.3,
        fillcolor="#f59e0b",
        opacity=0.12,
        line_width=0,
        annotation_text="digits start losing ink off the edge",
        annotation_position="top left",
        annotation_font_size=11,
    )


def _add_model_curve(fig: go.Figure, label: str, df: pd.DataFrame, metric: str, color: str) -> None:
    """A model's mean line, and its min-max band when several seeds make one."""
    k = df["shift"].tolist()
    lo, hi = (100 * df[f"{metric}_min"]).tolist(), (100 * df[f"{metric}_max"]).tolist()
    if any(h - low > 1e-9 for h, low in zip(hi, lo, strict=True)):
        fig.add_trace(
            go.Scatter(
                x=k + k[::-1],
                y=hi + lo[::-1],
                fill="toself",
                line_width=0,
                fillcolor=_rgba(color, 0.15),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=label,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=k,
            y=(100 * df[f"{metric}_mean"]).tolist(),
            name=label,
            legendgroup=label,
            mode="lines+markers",
            line=dict(color=color, width=3),
            hovertemplate=f"{label}<br>shift %{{x}} px: %{{y:.1f}}%<extra></extra>",
        )
    )


def shift_heatmaps(grid: pd.DataFrame, metric: str = "accuracy", height: int = 340) -> go.Figure:
    """One dx-by-dy heatmap per model, side by side, on one 0-100% colour scale."""
    labels = list(dict.fromkeys(grid["model"]))
    fig = make_subplots(
        rows=1, cols=max(len(labels), 1), subplot_titles=labels, horizontal_spacing=0.06
    )
    for i, label in enumerate(labels, start=1):
        df = grid[grid["model"] == label].pivot(index="dy", columns="dx", values=metric)
        z = (100 * df).round(1)
        fig.add_trace(
            go.Heatmap(
                z=z.values,
                x=z.columns.tolist(),
                y=z.index.tolist(),
                zmin=0,
                zmax=100,
                colorscale="Viridis",
                showscale=i == len(labels),
                text=z.values,
                texttemplate="%{text:.0f}",
                textfont_size=9,
                colorbar=dict(title="%", len=0.9),
                hovertemplate=f"{label}<br>dx %{{x}}, dy %{{y}}: %{{z:.1f}}%<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text="dx (right →)", dtick=1, row=1, col=i, constrain="domain")
        fig.update_yaxes(
            autorange="reversed",
            dtick=1,
            scaleanchor=f"x{i if i > 1 else ''}",
            constrain="domain",
            row=1,
            col=i,
            title_text="dy (down ↓)" if i == 1 else None,
            showticklabels=i == 1,  # one dy scale for the row: others' labels would sit on a map
        )
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def probability_payload(probs: dict[str, torch.Tensor], label: int | None = None) -> dict:
    """Bar charts for the canvas pictures (``app.ui.feature_maps``): each
    model's class probabilities (float [10]) in percent, its predicted class (drawn solid), the
    true class (outlined; None when unknown) and its colour."""
    bars = []
    for i, (name, p) in enumerate(probs.items()):
        color, pred = color_for(name, i + 1), int(p.argmax())
        bars.append(
            {
                "title": f"{name}: says {pred} ({100 * float(p.max()):.0f}%)",
                "color": color,
                "faint": _rgba(color, 0.35),
                "values": [round(v, 2) for v in (100 * p.double()).tolist()],
                "pred": pred,
                "label": label,
            }
        )
    return {"bars": bars}


EQ_PANELS = ("original", "shifted")  # the clickable rows of the equivariance maps, in order
EQ_ROWS = (  # (key in the equivariance dict, row name, colour scale, lowest value as -scale or 0)
    ("original", "digit", "Blues", 0),
    ("shifted", "shifted digit", "Blues", 0),
    ("difference", "difference", "RdBu_r", -1),
)


def shown_channels(eq: dict, channels: int = 6) -> list[int]:
    """The ``channels`` most active channels of the digit's maps, most active first: the columns
    of ``equivariance_payload``."""
    return eq["original"].flatten(1).sum(1).argsort(descending=True)[:channels].tolist()


def _rounded(m: torch.Tensor) -> list[list]:
    """A map float [h, w] as nested lists rounded to 3 decimals, NaN (undefined) as None."""
    z = torch.nan_to_num(m.double(), nan=0.0).round(decimals=3).tolist()
    gaps = torch.isnan(m).tolist()
    return [
        [None if missing else v for v, missing in zip(row, g, strict=True)]
        for row, g in zip(z, gaps, strict=True)
    ]


def picture_row(
    name: str,
    maps: list[torch.Tensor],
    colours: str,
    lo: float,
    hi: float,
    panel: str = "",
    clickable: bool = False,
) -> dict:
    """One row of the page's canvas pictures (``app.ui.feature_maps``): ``maps`` float or int
    [h, w] drawn on Plotly's named colour scale ``colours`` from ``lo`` to ``hi``."""
    return {
        "name": name,
        "panel": panel,
        "clickable": clickable,
        "colorscale": _scale(colours),
        "lo": float(lo),
        "hi": float(hi),
        "maps": [_rounded(m) for m in maps],
    }


def equivariance_payload(eq: dict, pick: MapPixel | None = None, channels: int = 6) -> dict:
    """What the page's feature-map pictures draw (``app.ui.feature_maps``): one column per shown
    channel (``shown_channels``), rows: the digit's maps, the shifted digit's maps, and (shifted
    maps) - (original maps moved by the same shift), each on one colour scale (Blues 0..scale
    for the maps, red-blue -scale..scale for the difference); None = undefined (the strip the
    shift uncovered). The first two rows are clickable; ``pick`` is outlined. Values are
    rounded to 3 decimals: a small payload."""
    top = shown_channels(eq, channels)
    scale = eq["scale"]
    rows = []
    for key, name, colours, low in EQ_ROWS:
        row = picture_row(name, [eq[key][c] for c in top], colours, low * scale, scale, key)
        row["clickable"] = key in EQ_PANELS
        if (
            pick is not None
            and (pick.panel, pick.layer) == (key, eq["conv"])
            and pick.channel in top
        ):
            row["outlines"] = [None] * len(top)
            row["outlines"][top.index(pick.channel)] = {"row": pick.row, "col": pick.col}
        rows.append(row)
    return {"columns": [f"channel {c}" for c in top], "rows": rows}


def digit_payload(image: torch.Tensor, title: str = "") -> dict:
    """A digit (uint8 or float [0, 1], [28, 28] or [1, 28, 28]) for the canvas pictures: white
    on black, 0-255."""
    img = image.reshape(28, 28)
    img = img.float().mul(255).round() if img.is_floating_point() else img
    return {"columns": [title], "rows": [picture_row("", [img.to(torch.int64)], "gray", 0, 255)]}


def hidden_payload(original: torch.Tensor, shifted: torch.Tensor) -> dict:
    """The FC net's hidden units (float [H]) for the digit and its shifted copy as two grids of
    16 columns (the layout is arbitrary: there is no pattern to shift back), on one red scale."""
    n = original.numel()
    cols = 16 if n % 16 == 0 else int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))

    def as_grid(v: torch.Tensor) -> torch.Tensor:
        padded = torch.full((rows * cols,), float("nan"))
        padded[:n] = v.flatten().float()
        return padded.reshape(rows, cols)

    zmax = float(max(original.max(), shifted.max(), 1e-9))
    maps = [as_grid(original), as_grid(shifted)]
    return {
        "columns": ["hidden units: digit", "hidden units: shifted digit"],
        "rows": [picture_row("", maps, "Reds", 0, zmax)],
    }


@dataclass(frozen=True)
class MapPixel:
    """A pixel of a feature map in the equivariance maps: ``panel`` "original" (the digit's
    maps) or "shifted" (the shifted digit's), ``layer`` the convolution (1-based) whose ReLU the
    maps show, ``channel`` the map, ``row``/``col`` the pixel."""

    panel: str
    layer: int
    channel: int
    row: int
    col: int


def equivariance_click(eq: dict, click: dict | None, channels: int = 6) -> MapPixel | None:
    """The feature-map pixel a click on ``equivariance_payload(eq, channels)`` points at, or None
    (nothing clicked, the difference row, a column or pixel outside the maps, a malformed
    click). ``click``: {"panel": "original" | "shifted", "column": index among the shown
    channels, "row", "col"}, as the page's picture component reports it."""
    if not isinstance(click, dict) or click.get("panel") not in EQ_PANELS:
        return None
    top = shown_channels(eq, channels)
    try:
        column, row, col = (int(click[k]) for k in ("column", "row", "col"))
    except (KeyError, TypeError, ValueError):
        return None
    _, h, w = eq[click["panel"]].shape
    if not (0 <= column < len(top) and 0 <= row < h and 0 <= col < w):
        return None
    return MapPixel(click["panel"], int(eq["conv"]), top[column], row, col)


def chosen_pixel(
    eq: dict, click: dict | None, last: MapPixel | None = None, channels: int = 6
) -> MapPixel:
    """The pixel to write out: the one clicked (``equivariance_click``); else ``last`` (the
    previous click) if these maps still show it; else the shifted digit's strongest pixel in
    the first map shown."""
    pick = equivariance_click(eq, click, channels)
    if pick is not None:
        return pick
    top = shown_channels(eq, channels)
    if last is not None and last.layer == eq["conv"] and last.channel in top:
        _, h, w = eq[last.panel].shape
        if 0 <= last.row < h and 0 <= last.col < w:
            return last
    fmap = eq["shifted"][top[0]]
    row, col = divmod(int(fmap.argmax()), fmap.shape[1])
    return MapPixel("shifted", int(eq["conv"]), top[0], row, col)


def permutation_examples(
    images: torch.Tensor, scrambled: torch.Tensor, labels=None, height: int = 260
) -> go.Figure:
    """Digits (top row) and the same digits with their pixels scrambled (bottom row)."""
    n = len(images)
    titles = [f"digit {int(labels[i])}" if labels is not None else "" for i in range(n)]
    fig = make_subplots(
        rows=2,
        cols=n,
        subplot_titles=titles + [""] * n,
        vertical_spacing=0.06,
        horizontal_spacing=0.01,
        row_titles=["original", "scrambled"],
    )
    for r, batch in enumerate((images, scrambled), start=1):
        for c in range(n):
            z = batch[c].reshape(28, 28).float()
            z = (z / 255 if z.max() > 1 else z).tolist()
            fig.add_trace(
                go.Heatmap(
                    z=z, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip"
                ),
                row=r,
                col=c + 1,
            )
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
        z = 100 * per_class[per_class["model"] == label].pivot(
            index="digit", columns="shift", values="accuracy"
        )
        fig.add_trace(
            go.Heatmap(
                z=z.values,
                x=z.columns.tolist(),
                y=z.index.tolist(),
                zmin=0,
                zmax=100,
                colorscale="Viridis",
                showscale=i == len(labels),
                text=z.round(0).values,
                texttemplate="%{text:.0f}",
                textfont_size=9,
                hovertemplate="digit %{y}, shift %{x}: %{z:.1f}%<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text="shift (px)", dtick=1, row=1, col=i)
        fig.update_yaxes(
            dtick=1, autorange="reversed", row=1, col=i, title_text="digit" if i == 1 else None
        )
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig
