"""Plotly figures for the live training page: loss curves (raw + smoothed, log scale, markers
where a setting changed), validation curves, filters, feature maps, confusion matrix, per-class
accuracy, a gallery of mistakes, run overlays, and a standalone HTML report of a run.

Pure functions: data in, ``go.Figure`` out. Curves come as plain lists or a run's metrics
DataFrame (columns step, epoch, kind, loss, accuracy, lr, seconds).
"""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnncore.plots.invariance import picture_row
from cnncore.speed import CHART_POINTS, MinMaxSeries, ema_of_buckets

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")
MARKER_STYLE = {
    "lr": ("#ea580c", "dash", "lr {old_lr:g} → {lr:g}"),
    "pause": ("#64748b", "dot", "paused"),
    "resume": ("#16a34a", "dot", "resumed"),
}
SMOOTHING_FORMULA = (
    "smoothed s_t = w·s_(t−1) + (1−w)·loss_t with s_0 = 0, shown debiased as s_t / (1 − w^t)"
)


def history_from_metrics(metrics: pd.DataFrame) -> dict:
    """A saved run's metrics.csv as the live history shape (steps, losses, val, markers, test)."""
    if metrics is None or metrics.empty:
        return {"steps": [], "losses": [], "val": [], "markers": [], "test": None}
    m = metrics.astype(object).where(metrics.notna(), None)
    train = m[m["kind"] == "train"]
    val = m[m["kind"] == "val"]
    test = m[m["kind"] == "test"]
    markers = []
    prev_lr = None
    for row in m.to_dict("records"):
        if row["kind"] == "lr":  # the row holds the new lr; the old one is the last train row's
            markers.append({"kind": "lr", "step": row["step"], "lr": row["lr"], "old_lr": prev_lr})
        elif row["kind"] in ("pause", "resume"):
            markers.append({"kind": row["kind"], "step": row["step"], "lr": row["lr"]})
        if row["kind"] == "train":
            prev_lr = row["lr"]
    losses = [float("nan") if v is None else float(v) for v in train["loss"]]
    return {
        "steps": [int(s) for s in train["step"]],
        "losses": losses,
        "val": [
            {
                "epoch": int(r["epoch"]),
                "step": int(r["step"]),
                "loss": r["loss"],
                "accuracy": r["accuracy"],
            }
            for r in val.to_dict("records")
        ],
        "markers": markers,
        "test": (
            {"loss": test["loss"].iloc[-1], "accuracy": test["accuracy"].iloc[-1]}
            if len(test)
            else None
        ),
    }


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    # No template: Streamlit themes the chart in the browser, and applying a Plotly template on
    # the server is two thirds of a figure's build time, which a live panel pays twice a second
    # while the training thread wants the cores (report_html adds one for standalone pages).
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=15)),
        height=height,
        margin=dict(l=50, r=20, t=50, b=40),
        hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
    )
    return fig


def marker_shapes(markers: list[dict]) -> tuple[list[dict], list[dict]]:
    """(shapes, annotations) as plain Plotly layout dicts: a vertical line per marker; markers
    at the same batch (paused and resumed there) share one label, "paused · resumed", instead
    of printing over each other."""
    by_step: dict[int, list[dict]] = {}
    for m in markers:
        by_step.setdefault(m["step"], []).append(m)
    shapes, annotations = [], []
    for step, group in by_step.items():
        labels = []
        for m in group:
            color, dash, text = MARKER_STYLE.get(m["kind"], ("#64748b", "dot", m["kind"]))
            labels.append(text.format(lr=m.get("lr") or 0, old_lr=m.get("old_lr") or 0))
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "y domain",
                    "x0": step,
                    "x1": step,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": color, "dash": dash, "width": 1.5},
                }
            )
        color = MARKER_STYLE.get(group[-1]["kind"], ("#64748b",))[0]
        annotations.append(
            {
                "x": step,
                "y": 1,
                "xref": "x",
                "yref": "y domain",
                "text": " · ".join(labels),
                "textangle": -90,
                "font": {"size": 10, "color": color},
                "yanchor": "top",
                "xanchor": "right",
                "showarrow": False,
            }
        )
    return shapes, annotations


def bounded_loss(history: dict, max_points: int = CHART_POINTS) -> dict:
    """The per-batch loss of ``history`` as at most ``max_points`` min/max points plus bucket
    means: a live job's ``chart_history()`` already is; a saved run's full lists are decimated
    here (every point kept while there are at most ``max_points // 2``)."""
    if "buckets" in history:
        return history
    series = MinMaxSeries(max_points)
    for step, loss in zip(history["steps"], history["losses"], strict=True):
        series.append(step, loss)
    steps, losses = series.points()
    return {
        **history,
        "steps": steps,
        "losses": losses,
        "buckets": series.means(),
        "batches": len(series),
    }


def _plain_layout(title: str, height: int, **extra) -> dict:
    """``_layout``'s settings as a plain layout dict."""
    return {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 50, "r": 20, "t": 50, "b": 40},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        **extra,
    }


def _unvalidated(data: list[dict], layout: dict) -> go.Figure:
    """A figure from whole plain dicts, validated once (Plotly.js needs the values Plotly's
    validation produces: built with ``_validate=False`` the live page broke in the browser).
    Building the dicts and validating them once costs ~10-14 ms for both live figures here,
    against ~96 ms property by property (``add_vline``, ``update_layout``)."""
    return go.Figure({"data": data, "layout": layout})


def loss_figure(
    history: dict,
    smoothing: float = 0.6,
    log_y: bool = False,
    title: str = "Training loss per batch",
) -> go.Figure:
    """``loss_parts`` as a Plotly figure."""
    return _unvalidated(*loss_parts(history, smoothing, log_y, title))


def loss_parts(
    history: dict,
    smoothing: float = 0.6,
    log_y: bool = False,
    title: str = "Training loss per batch",
) -> tuple[list[dict], dict]:
    """(traces, layout) as plain Plotly dicts: raw per-batch loss (faint; at most ~2,000 points: each bucket's lowest and highest, so
    spikes stay), its debiased EMA (bold; exact while every batch is its own bucket, then the
    EMA over bucket means), validation loss at each epoch's end, and vertical markers where the
    learning rate changed or training was paused/resumed."""
    history = bounded_loss(history)
    mx, means, counts = history["buckets"]
    data = [
        {
            "type": "scatter",
            "x": list(history["steps"]),
            "y": list(history["losses"]),
            "mode": "lines",
            "name": "loss (raw)",
            "line": {"color": COLORS[0], "width": 1},
            "opacity": 0.3,
            "hovertemplate": "%{y:.4f}",
        },
        {
            "type": "scatter",
            "x": list(mx),
            "y": ema_of_buckets(means, counts, smoothing),
            "mode": "lines",
            "name": f"loss (smoothed, w={smoothing:g})",
            "line": {"color": COLORS[0], "width": 2.5},
            "hovertemplate": "%{y:.4f}",
        },
    ]
    val = history.get("val") or []
    if val:
        data.append(
            {
                "type": "scatter",
                "x": [v["step"] for v in val],
                "y": [v["loss"] for v in val],
                "mode": "lines+markers",
                "name": "validation loss",
                "line": {"color": COLORS[1], "width": 2},
                "marker": {"size": 9},
                "customdata": [v["epoch"] for v in val],
                "hovertemplate": "%{y:.4f} (epoch %{customdata})",
            }
        )
    shapes, annotations = marker_shapes(history.get("markers") or [])
    layout = _plain_layout(
        title,
        400,
        # under the chart: above it, three entries wrap over the title in a narrow column
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        xaxis={"title": {"text": "batch"}, "rangemode": "tozero"},
        yaxis={
            "title": {"text": "cross-entropy loss"},
            "type": "log" if log_y else "linear",
        },
        shapes=shapes,
        annotations=annotations,
    )
    return data, layout


def val_figure(history: dict) -> go.Figure:
    """``val_parts`` as a Plotly figure."""
    return _unvalidated(*val_parts(history))


def val_parts(history: dict) -> tuple[list[dict], dict]:
    """(traces, layout) as plain Plotly dicts: validation accuracy per epoch (and test accuracy
    when the run has ended)."""
    val = history.get("val") or []
    data = [
        {
            "type": "scatter",
            "x": [v["epoch"] for v in val],
            "y": [v["accuracy"] for v in val],
            "mode": "lines+markers+text",
            "name": "validation accuracy",
            "text": [f"{v['accuracy']:.1%}" for v in val],
            "textposition": "top center",
            "line": {"color": COLORS[2], "width": 2.5},
            "marker": {"size": 10},
            "hovertemplate": "epoch %{x}: %{y:.2%}",
        }
    ]
    shapes, annotations = [], []
    test = history.get("test")
    if test and test.get("accuracy") is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "x domain",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": test["accuracy"],
                "y1": test["accuracy"],
                "line": {"color": COLORS[3], "dash": "dash"},
            }
        )
        annotations.append(
            {
                "text": f"test {test['accuracy']:.2%}",
                "x": 0,
                "y": test["accuracy"],
                "xref": "x domain",
                "yref": "y",
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
            }
        )
    if not val:
        annotations.append(
            {
                "text": "appears after the first epoch",
                "showarrow": False,
                "x": 0.5,
                "y": 0.5,
                "xref": "paper",
                "yref": "paper",
                "font": {"color": "#64748b"},
            }
        )
    layout = _plain_layout(
        "Validation accuracy",  # short: the column is narrow at 800 px; the x axis says epoch
        400,
        xaxis={"title": {"text": "epoch"}, "dtick": 1, "rangemode": "tozero"},
        yaxis={"title": {"text": "accuracy"}, "tickformat": ".0%", "range": [0, 1.05]},
        shapes=shapes,
        annotations=annotations,
    )
    return data, layout


DASHES = {"dash": [6, 4], "dot": [2, 3]}  # Plotly's line dashes as canvas setLineDash patterns


def _finite(values) -> list:
    """Numbers with 5 significant digits (a small payload); NaN and infinities as None (JSON has
    no NaN; the chart breaks its line there)."""
    out = []
    for v in values:
        v = None if v is None else float(v)
        out.append(float(f"{v:.5g}") if v is not None and math.isfinite(v) else None)
    return out


def chart_payload(data: list[dict], layout: dict) -> dict:
    """A figure's plain dicts (``loss_parts``, ``val_parts``) as what ``app.ui.live_chart`` draws
    on a canvas: the same traces, lines, labels and axes, nothing Plotly-specific. Series:
    ``{name, x, y, color, width, opacity, lines, markers (size or 0), text, percent}``; lines
    (``shapes``): ``{x0, x1, y0, y1, xref, yref, color, dash}`` with ref "x"/"y" (data) or
    "x domain"/"y domain"/"paper" (0..1 of the plot); labels (``annotations``): ``{text, x, y,
    xref, yref, angle, color, xanchor, yanchor}``."""
    yaxis, xaxis = layout.get("yaxis", {}), layout.get("xaxis", {})
    percent = yaxis.get("tickformat", "").endswith("%")
    series = []
    for t in data:
        mode = t.get("mode", "lines")
        series.append(
            {
                "name": t["name"],
                "x": _finite(t["x"]),
                "y": _finite(t["y"]),
                "color": t["line"]["color"],
                "width": t["line"].get("width", 2),
                "opacity": t.get("opacity", 1),
                "lines": "lines" in mode,
                "markers": t.get("marker", {}).get("size", 6) if "markers" in mode else 0,
                "text": t.get("text") if "text" in mode else None,
                "percent": percent,
            }
        )
    lines = [
        {
            **{k: sh[k] for k in ("x0", "x1", "y0", "y1", "xref", "yref")},
            "color": sh["line"]["color"],
            "dash": DASHES.get(sh["line"].get("dash"), []),
        }
        for sh in layout.get("shapes", [])
    ]
    labels = [
        {
            "text": a["text"],
            "x": a["x"],
            "y": a["y"],
            "xref": a["xref"],
            "yref": a["yref"],
            "angle": a.get("textangle", 0),
            "color": a.get("font", {}).get("color", "#334155"),
            "xanchor": a.get("xanchor", "center"),
            "yanchor": a.get("yanchor", "middle"),
        }
        for a in layout.get("annotations", [])
    ]
    return {
        "title": layout["title"]["text"],
        "height": layout["height"],
        "x": {
            "title": xaxis.get("title", {}).get("text", ""),
            "dtick": xaxis.get("dtick"),
            "tozero": xaxis.get("rangemode") == "tozero",
        },
        "y": {
            "title": yaxis.get("title", {}).get("text", ""),
            "log": yaxis.get("type") == "log",
            "range": yaxis.get("range"),
            "percent": percent,
        },
        "series": series,
        "lines": lines,
        "labels": labels,
    }


def live_curves_payload(history: dict, smoothing: float = 0.6, log_y: bool = False) -> dict:
    """What the live panel's two canvas charts draw (``app.ui.live_chart``): the loss chart
    (``loss_parts``: at most ~2,000 min/max points of the raw loss however long the run, its
    smoothed curve over bucket means, validation loss, markers) and the validation-accuracy chart
    (``val_parts``), with ``points``, the raw curve's point count."""
    loss = chart_payload(*loss_parts(history, smoothing, log_y))
    return {
        "loss": loss,
        "val": chart_payload(*val_parts(history)),
        "points": len(loss["series"][0]["x"]),
    }


def mosaic(images: torch.Tensor, cols: int, gap: int = 1) -> torch.Tensor:
    """Tile float [K, h, w] into one [rows*(h+gap)-gap, cols*(w+gap)-gap] image, NaN in gaps."""
    k, h, w = images.shape
    rows = max(1, math.ceil(k / cols))
    out = torch.full((rows * (h + gap) - gap, cols * (w + gap) - gap), float("nan"))
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = images[i]
    return out


def _heatmap(z: torch.Tensor, colorscale: str, symmetric: bool, showscale: bool = False, **kw):
    finite = z[torch.isfinite(z)]
    bound = float(finite.abs().max()) if finite.numel() else 1.0
    zmin, zmax = (-bound, bound) if symmetric else (0.0, max(bound, 1e-6))
    return go.Heatmap(
        z=z.numpy(),
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        showscale=showscale,
        hoverongaps=False,
        hovertemplate="%{z:.3f}<extra></extra>",
        **kw,
    )


def filters_figure(filters: torch.Tensor, caption: str = "", step: int | None = None) -> go.Figure:
    """The first layer's filters float [K, h, w] as small images: blue positive, red negative,
    each shown on a shared symmetric scale so changes in strength are visible while training."""
    cols = max(1, math.ceil(math.sqrt(filters.shape[0])))  # a square grid: 16 filters -> 4x4
    fig = go.Figure(_heatmap(mosaic(filters, cols), "RdBu", True, showscale=True))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    title = "First-layer filters" + (f" at batch {step}" if step is not None else "")
    fig = _layout(fig, title + (f"<br><sup>{caption}</sup>" if caption else ""), 300)
    fig.update_layout(hovermode="closest")
    return fig


def feature_maps_figure(
    maps: list[tuple[str, torch.Tensor]],
    image: torch.Tensor | None = None,
    label: str = "",
    max_channels: int = 8,
) -> go.Figure:
    """The chosen digit, then the first ``max_channels`` channels after each layer, one row per
    layer, each row scaled to its own maximum (bright = strong activation). ``maps``: (name,
    float [C, H, W]). One heatmap, so it is cheap enough to redraw while training."""
    rows, names = [], []
    if image is not None:
        rows.append(image[0].float() / 255)
        names.append(f"input: {label}")
    for name, act in maps:
        shown = act[:max_channels].float()
        peak = float(shown.max()) if shown.numel() else 0.0
        rows.append(mosaic(shown / peak if peak > 0 else shown, shown.shape[0], gap=2))
        first = f"first {shown.shape[0]} of " if shown.shape[0] < act.shape[0] else ""
        names.append(f"{name}: {first}{act.shape[0]} maps, {act.shape[1]}×{act.shape[2]}")
    width = max(r.shape[1] for r in rows)
    gap, parts, tops = 11, [], []  # room above each row for its label
    for r in rows:
        tops.append(sum(x.shape[0] for x in parts))
        padded = torch.full((r.shape[0], width), float("nan"))
        padded[:, : r.shape[1]] = r
        parts += [padded, torch.full((gap, width), float("nan"))]
    z = torch.cat(parts[:-1])
    fig = go.Figure(
        go.Heatmap(
            z=z.numpy(),
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            showscale=False,
            hoverongaps=False,
            hovertemplate="%{z:.2f}<extra></extra>",
        )
    )
    for top, name in zip(tops, names, strict=True):
        fig.add_annotation(
            x=-0.5,
            y=top - 0.5,
            text=name,
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font=dict(size=11, color="#334155"),
        )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False, constrain="domain")
    fig = _layout(fig, "Feature maps of one digit", 460)
    fig.update_layout(hovermode="closest")
    return fig


def weights_payload(
    filters: torch.Tensor,
    caption: str,
    step: int | None,
    maps: list[tuple[str, torch.Tensor]],
    image: torch.Tensor | None = None,
    label: str = "",
    max_channels: int = 8,
) -> dict:
    """What the live panel's canvas pictures of the model draw (``app.ui.live_weights``): the
    content of ``filters_figure`` and ``feature_maps_figure`` as plain numbers, so the browser
    colours pixels instead of redrawing two Plotly heatmaps every couple of seconds.

    ``filters``: float [K, h, w] on one symmetric red-blue scale ±max|w| (red negative, blue
    positive), in a square grid of ``cols`` columns. ``maps``: (name, float [C, H, W]) after each
    layer, the first ``max_channels`` channels of each, each layer scaled to its own maximum (0..1,
    Viridis); ``image`` uint8 [1, 28, 28] first, grey. Values rounded to 3 decimals."""
    k = filters.shape[0]
    finite = filters[torch.isfinite(filters)]
    bound = max(float(finite.abs().max()) if finite.numel() else 1.0, 1e-6)
    title = "First-layer filters" + (f" at batch {step}" if step is not None else "")
    rows = []
    if image is not None:
        rows.append(picture_row(f"input: {label}", [image[0].float() / 255], "gray", 0, 1))
    for name, act in maps:
        shown = act[:max_channels].float()
        peak = float(shown.max()) if shown.numel() else 0.0
        scaled = shown / peak if peak > 0 else shown
        first = f"first {shown.shape[0]} of " if shown.shape[0] < act.shape[0] else ""
        text = f"{name}: {first}{act.shape[0]} maps, {act.shape[1]}×{act.shape[2]}"
        rows.append(picture_row(text, list(scaled), "Viridis", 0, 1))
    return {
        "filters": {
            **picture_row(title, list(filters.float()), "RdBu", -bound, bound),
            "caption": caption,
            "cols": max(1, math.ceil(math.sqrt(k))),  # a square grid: 16 filters -> 4x4
            "scale": f"red negative · white 0 · blue positive (±{bound:.3g})",
        },
        "maps": {"title": "Feature maps of one digit", "rows": rows},
        "step": step,
    }


def confusion_figure(confusion: torch.Tensor, classes: tuple[str, ...]) -> go.Figure:
    """Rows: true class, columns: predicted; counts in the cells, the diagonal is correct."""
    z = confusion.tolist()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(classes),
            y=list(classes),
            colorscale="Blues",
            text=z,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_xaxes(title="predicted", type="category", side="top")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    fig = _layout(fig, "Confusion matrix (test set)", 420)
    fig.update_layout(hovermode="closest", margin=dict(t=80))
    return fig


def per_class_figure(per_class: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=per_class["class"].astype(str),
            y=per_class["accuracy"],
            marker_color=COLORS[0],
            text=[f"{a:.0%}" for a in per_class["accuracy"]],
            textposition="outside",
            customdata=per_class[["correct", "images"]].values,
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="accuracy", tickformat=".0%", range=[0, 1.1])
    return _layout(fig, "Accuracy per class (test set)", 420)


def mistakes_figure(
    images: torch.Tensor,
    labels: list[int],
    probs: torch.Tensor,
    classes: tuple[str, ...],
    cols: int = 6,
) -> go.Figure:
    """Misclassified digits (uint8 [K, 1, 28, 28]) each over a bar chart of its predicted
    probabilities (red: the wrong guess, green: the true class)."""
    k = len(labels)
    if k == 0:
        fig = go.Figure()
        fig.add_annotation(text="no mistakes on the test set", showarrow=False)
        return _layout(fig, "Mistakes", 200)
    cols = min(cols, k)
    rows = math.ceil(k / cols)
    titles = []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if i < k:
                p = probs[i]
                guess = int(p.argmax())
                titles.append(
                    f"true {classes[labels[i]]} → {classes[guess]} ({float(p[guess]):.0%})"
                )
            else:
                titles.append("")
        titles += [""] * cols
    fig = make_subplots(
        rows=2 * rows,
        cols=cols,
        subplot_titles=titles,
        vertical_spacing=0.06,
        horizontal_spacing=0.03,
        row_heights=[0.62, 0.38] * rows,
    )
    for i in range(k):
        r, c = divmod(i, cols)
        fig.add_trace(
            _heatmap(images[i, 0].float() / 255, "Greys", False), row=2 * r + 1, col=c + 1
        )
        p = probs[i].tolist()
        guess = max(range(len(p)), key=p.__getitem__)
        color = [
            COLORS[2] if j == labels[i] else COLORS[1] if j == guess else "#94a3b8"
            for j in range(len(p))
        ]
        fig.add_trace(
            go.Bar(
                x=list(classes),
                y=p,
                marker_color=color,
                showlegend=False,
                hovertemplate="%{x}: %{y:.1%}<extra></extra>",
            ),
            row=2 * r + 2,
            col=c + 1,
        )
        fig.update_yaxes(
            autorange="reversed",
            visible=False,
            scaleanchor=f"x{2 * r * cols + c + 1}",
            row=2 * r + 1,
            col=c + 1,
        )
        fig.update_xaxes(visible=False, row=2 * r + 1, col=c + 1)
        fig.update_yaxes(range=[0, 1], visible=False, row=2 * r + 2, col=c + 1)
        fig.update_xaxes(type="category", tickfont=dict(size=8), row=2 * r + 2, col=c + 1)
    fig.update_annotations(font_size=11)
    fig = _layout(fig, "Most confident mistakes, with the predicted probabilities", 300 * rows + 60)
    fig.update_layout(hovermode="closest", margin=dict(t=70))
    return fig


def overlay_figure(
    runs: list[tuple[str, pd.DataFrame]], smoothing: float = 0.6, log_y: bool = False
) -> go.Figure:
    """Smoothed training loss of several runs (left) and their validation accuracy (right)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        subplot_titles=("training loss (smoothed)", "validation accuracy"),
    )
    for i, (name, metrics) in enumerate(runs):
        h = bounded_loss(history_from_metrics(metrics))
        color = COLORS[i % len(COLORS)]
        mx, means, counts = h["buckets"]
        fig.add_trace(
            go.Scatter(
                x=mx,
                y=ema_of_buckets(means, counts, smoothing),
                name=name,
                mode="lines",
                line=dict(color=color, width=2),
                legendgroup=name,
                hovertemplate="%{y:.4f}",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[v["epoch"] for v in h["val"]],
                y=[v["accuracy"] for v in h["val"]],
                name=name,
                mode="lines+markers",
                line=dict(color=color),
                legendgroup=name,
                showlegend=False,
                hovertemplate="%{y:.2%}",
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title="batch", row=1, col=1)
    fig.update_xaxes(title="epoch", dtick=1, row=1, col=2)
    fig.update_yaxes(type="log" if log_y else "linear", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=1, col=2)
    fig = _layout(fig, "Runs compared", 440)
    # Run names are long: the legend goes under the charts, clear of the subplot titles.
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    return fig


def report_html(title: str, facts: dict, figures: list[go.Figure]) -> str:
    """A standalone HTML page (plotly.js embedded once, so it works offline) with a table of
    ``facts`` and the figures."""
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    parts = [
        # a validated copy: a template is applied only to a validated figure
        go.Figure(fig.to_dict())
        .update_layout(template="plotly_white")
        .to_html(full_html=False, include_plotlyjs=(i == 0))
        for i, fig in enumerate(figures)
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "th{text-align:left;padding-right:1em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{rows}</table>{''.join(parts)}</body></html>"
    )


def run_report_html(info, metrics: pd.DataFrame, model, data) -> str:
    """The HTML report of a saved run (``info``: a RunInfo): its settings and results, loss and
    validation curves, first-layer filters, and its confusion matrix and per-class accuracy on
    ``data``'s test split."""
    from cnncore.analysis import evaluate_split, first_layer_filters

    history = history_from_metrics(metrics)
    facts = {
        "run": info.id,
        "name": info.name,
        "created": info.created,
        **{k: v for k, v in (info.config or {}).items()},
        **{k: v for k, v in (info.summary or {}).items() if v is not None},
    }
    figures = [loss_figure(history), val_figure(history)]
    filters, caption = first_layer_filters(model)
    figures.append(filters_figure(filters, caption))
    ev = evaluate_split(model, data.test)
    facts[f"accuracy on {data.source} test split"] = f"{ev.accuracy:.2%}"
    figures += [
        confusion_figure(ev.confusion, data.classes),
        per_class_figure(ev.per_class(data.classes)),
    ]
    return report_html(f"CNN Explorer run {info.name}", facts, figures)
