"""Plotly figures for the convolution page: the stepped animation, pooling, a filtered digit.

Animations are Plotly frames, so play / pause / scrubbing run in the browser with no server
round trip. Every figure starts on frame ``start`` so a rerun keeps the step the user was on.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from cnncore.conv import ConvSteps, PoolSteps, fmt

WINDOW = "#ff7f0e"  # the highlighted window, everywhere
# Explicit colour scales: plotly.js's named scales run the other way round from plotly.py's.
GREYS = [[0, "#ffffff"], [1, "#222222"]]  # 0 = paper, 1 = ink
SIGN = [[0, "#c0392b"], [0.5, "#f7f7f7"], [1, "#2166ac"]]  # negative red, zero white, positive blue
CHANNEL_SCALES = tuple([[0, "#ffffff"], [1, c]] for c in ("#d62728", "#2ca02c", "#1f77b4"))


def _text(t: torch.Tensor) -> list[list[str]]:
    return [[fmt(v, paren=False) if not math.isnan(v) else "" for v in row] for row in t.tolist()]


def _box(top: int, left: int, h: int, w: int) -> dict:
    x0, x1, y0, y1 = left - 0.5, left + w - 0.5, top - 0.5, top + h - 0.5
    return dict(x=[x0, x1, x1, x0, x0], y=[y0, y0, y1, y1, y0])


def _player(n: int, start: int, frame_ms: int, labels: list[str], prefix: str) -> dict:
    """Layout for play / pause, speed buttons and a scrubber over ``n`` frames."""

    def play(ms):
        opts = {"frame": {"duration": ms, "redraw": True}, "fromcurrent": True,
                "transition": {"duration": 0}, "mode": "immediate"}  # fmt: skip
        return [None, opts]

    pause = [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]
    steps = [
        dict(method="animate", label=labels[i],
             args=[[str(i)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                              "transition": {"duration": 0}}])
        for i in range(n)
    ]  # fmt: skip
    return dict(
        updatemenus=[
            dict(type="buttons", direction="left", x=0, y=-0.02, xanchor="left", yanchor="top",
                 pad={"t": 8, "r": 8}, showactive=False,
                 buttons=[dict(label="▶ Play", method="animate", args=play(frame_ms)),
                          dict(label="❚❚ Pause", method="animate", args=pause)]),
            dict(type="buttons", direction="left", x=0.2, y=-0.02, xanchor="left", yanchor="top",
                 pad={"t": 8}, showactive=False,
                 buttons=[dict(label=f"▶ {lab}", method="animate", args=play(ms))
                          for lab, ms in (("slow", 1500), ("fast", 250))]),
        ],
        sliders=[
            dict(active=start, steps=steps, x=0.42, len=0.58, y=-0.02, yanchor="top",
                 pad={"t": 8}, currentvalue={"prefix": prefix, "font": {"size": 13}},
                 transition={"duration": 0})
        ],
    )  # fmt: skip


def _square_axes(fig: go.Figure, shapes: dict[int, tuple[int, int]]) -> None:
    """Image-like axes (row 0 at the top, square cells) sized to each grid's (rows, cols)."""
    for i, (h, w) in shapes.items():
        sfx = "" if i == 1 else str(i)
        fig.layout[f"yaxis{sfx}"].update(
            range=[h - 0.5, -0.5],
            scaleanchor=f"x{sfx}",
            showticklabels=False,
            showgrid=False,
            zeroline=False,
        )
        fig.layout[f"xaxis{sfx}"].update(
            range=[-0.5, w - 0.5],
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            constrain="domain",
        )
        # fmt: skip


def conv_animation(
    steps: ConvSteps,
    start: int = 0,
    frame_ms: int = 700,
    channel_names: tuple[str, ...] | None = None,
) -> go.Figure:
    """Input (window highlighted) | kernel | products (coloured by sign) | output filling in, with
    the step's equation underneath. One row per channel; one frame per window position."""
    c = steps.image.shape[0]
    k = steps.kernel.shape[-1]
    n = len(steps)
    ho, wo = steps.output.shape
    names = channel_names or tuple(f"channel {i}" for i in range(c))
    start = max(0, min(start, n - 1))
    kern_title = "kernel, flipped (true convolution)" if steps.flip else "kernel"
    titles = []
    for ch in range(c):
        pre = f"{names[ch]}: " if c > 1 else ""
        pad = f" (padding {steps.padding})" if steps.padding else ""
        titles += [f"{pre}input{pad}", f"{pre}{kern_title}", f"{pre}products", "output map"]
    titles = [t for i, t in enumerate(titles) if i % 4 != 3 or i == 3] + [""]
    specs = [[{}, {}, {}, {"rowspan": c} if r == 0 else None] for r in range(c)]
    specs.append([{"colspan": 4}, None, None, None])
    fig = make_subplots(
        rows=c + 1, cols=4, specs=specs, subplot_titles=titles, horizontal_spacing=0.05,
        vertical_spacing=0.08 if c > 1 else 0.12,
        row_heights=[1.0] * c + [0.28 * max(1, c) + 0.12 * c],
    )  # fmt: skip

    kabs = max(float(steps.applied.abs().max()), 1e-6)
    pabs = max(float(steps.products.abs().max()), 1e-6)
    out_lo, out_hi = float(steps.output.min()), float(steps.output.max())
    if out_hi - out_lo < 1e-9:
        out_lo, out_hi = out_lo - 1, out_hi + 1
    dynamic: list[int] = []  # trace indices the frames replace
    data: list[dict] = []
    # make_subplots numbers axes row by row: 4 in the first row, 3 in each other channel row.
    axis = {(r, col): (col if r == 1 else 3 * (r - 1) + 1 + col) for r in range(1, c + 1)
            for col in (1, 2, 3)}  # fmt: skip
    axis[(1, 4)] = 4
    axis[(c + 1, 1)] = eq_axis = 3 * c + 2

    def add(trace, row, col, moves=False):
        n_ax = axis[(row, col)]
        sfx = "" if n_ax == 1 else str(n_ax)
        data.append({**trace, "xaxis": f"x{sfx}", "yaxis": f"y{sfx}"})
        if moves:
            dynamic.append(len(data) - 1)

    hp, wp = steps.padded.shape[1:]
    for ch in range(c):
        scale = CHANNEL_SCALES[ch] if c == 3 else GREYS
        add(dict(type="heatmap", z=steps.padded[ch].tolist(), text=_text(steps.padded[ch]),
                       texttemplate="%{text}", colorscale=scale, zmin=0, zmax=1, showscale=False,
                       xgap=1, ygap=1, hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"),
            ch + 1, 1)  # fmt: skip
        if steps.padding:
            p = steps.padding
            add(dict(type="scatter", **_box(p, p, hp - 2 * p, wp - 2 * p), mode="lines", hoverinfo="skip",
                           line=dict(color="#888", dash="dot", width=1), showlegend=False),
                ch + 1, 1)  # fmt: skip
        add(dict(type="heatmap", z=steps.applied[ch].tolist(), text=_text(steps.applied[ch]),
                       texttemplate="%{text}", colorscale=SIGN, zmin=-kabs, zmax=kabs,
                       showscale=False, xgap=1, ygap=1,
                       hovertemplate="weight %{z}<extra></extra>"), ch + 1, 2)  # fmt: skip

    def dynamic_traces(i: int) -> list:
        st = steps.step(i)
        traces = []
        for ch in range(c):
            traces.append(dict(type="scatter", **_box(st.top, st.left, k, k), mode="lines", name="window",
                                     line=dict(color=WINDOW, width=4), hoverinfo="skip",
                                     showlegend=False))  # fmt: skip
            prods = st.products[ch]
            running = prods.flatten().cumsum(0).reshape(k, k)
            hover = [
                [f"{fmt(w)}·{fmt(x)} = {fmt(p, False)}<br>running sum {fmt(r, False)}"
                 for w, x, p, r in zip(wr, xr, pr, rr, strict=True)]
                for wr, xr, pr, rr in zip(st.kernel[ch].tolist(), st.patch[ch].tolist(),
                                          prods.tolist(), running.tolist(), strict=True)
            ]  # fmt: skip
            traces.append(dict(type="heatmap", z=prods.tolist(), text=_text(prods), texttemplate="%{text}",
                                     customdata=hover, hovertemplate="%{customdata}<extra></extra>",
                                     colorscale=SIGN, zmin=-pabs, zmax=pabs, showscale=False,
                                     xgap=1, ygap=1))  # fmt: skip
        shown = torch.full((ho, wo), float("nan"))
        shown.view(-1)[: i + 1] = steps.output.view(-1)[: i + 1]
        traces.append(
            dict(
                type="heatmap",
                z=shown.tolist(),
                text=_text(shown),
                texttemplate="%{text}",
                colorscale="Viridis",
                zmin=out_lo,
                zmax=out_hi,
                xgap=1,
                ygap=1,
                colorbar=dict(len=0.5, y=0.75, thickness=12),
                hovertemplate="output[%{y}, %{x}] = %{z}<extra></extra>",
            )
        )
        traces.append(
            dict(
                type="scatter",
                **_box(st.row, st.col, 1, 1),
                mode="lines",
                hoverinfo="skip",
                line=dict(color=WINDOW, width=4),
                showlegend=False,
            )
        )
        eq = st.equation(names if c > 1 else None).replace("\n", "<br>")
        head = (
            f"<b>step {i + 1} of {n}</b> — window at row {st.top}, column {st.left} "
            f"→ output[{st.row}, {st.col}]"
        )
        traces.append(
            dict(
                type="scatter",
                x=[0],
                y=[0],
                mode="text",
                text=[f"{head}<br>{eq}"],
                textposition="middle right",
                hoverinfo="skip",
                showlegend=False,
                textfont=dict(size=14 if k == 3 else 11, family="monospace"),
            )
        )
        return traces  # fmt: skip

    order = []  # (row, col) of each dynamic trace, in dynamic_traces' order
    for ch in range(c):
        order += [(ch + 1, 1), (ch + 1, 3)]
    order += [(1, 4), (1, 4), (c + 1, 1)]
    for trace, (row, col) in zip(dynamic_traces(start), order, strict=True):
        add(trace, row, col, moves=True)
    frames = [dict(name=str(i), data=dynamic_traces(i), traces=dynamic) for i in range(n)]
    # Plain dicts and no validation: building 25 validated frames costs ~150 ms per rerun.
    fig = go.Figure(dict(data=data, layout=fig.layout.to_plotly_json(), frames=frames),
                    _validate=False)  # fmt: skip
    _square_axes(
        fig,
        {
            axis[(r, col)]: ((hp, wp) if col == 1 else (k, k))
            for r in range(1, c + 1)
            for col in (1, 2, 3)
        }
        | {4: (ho, wo)},
    )
    fig.layout[f"xaxis{eq_axis}"].update(visible=False, range=[0, 1], fixedrange=True)
    fig.layout[f"yaxis{eq_axis}"].update(visible=False, range=[-1, 1], fixedrange=True)
    labels = [f"{i + 1}" for i in range(n)]
    fig.update_layout(
        height=330 * c + 170, margin=dict(l=10, r=10, t=40, b=90), plot_bgcolor="white",
        **_player(n, start, frame_ms, labels, "step "),
    )  # fmt: skip
    return fig


def pool_animation(pool: PoolSteps, start: int = 0, frame_ms: int = 700) -> go.Figure:
    """Feature map (window highlighted) | pooled map filling in, with the step's equation."""
    fmap = pool.feature_map[0]
    out = pool.output[0]
    n = len(pool)
    start = max(0, min(start, n - 1))
    fig = make_subplots(
        rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], row_heights=[1, 0.2],
        subplot_titles=("feature map", f"{pool.size}x{pool.size} {pool.mode} pooling", ""),
        horizontal_spacing=0.08,
    )  # fmt: skip
    lo, hi = float(fmap.min()), float(fmap.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    data = [dict(type="heatmap", z=fmap.tolist(), text=_text(fmap), texttemplate="%{text}",
                             colorscale="Viridis", zmin=lo, zmax=hi, showscale=False, xgap=1,
                             ygap=1, xaxis="x", yaxis="y")]  # fmt: skip

    def dynamic_traces(i):
        top, left, _, _ = pool.window(i)
        r, c = divmod(i, out.shape[1])
        shown = torch.full(out.shape, float("nan"))
        shown.view(-1)[: i + 1] = out.reshape(-1)[: i + 1]
        return [
            dict(type="scatter", **_box(top, left, pool.size, pool.size), mode="lines", hoverinfo="skip",
                       line=dict(color=WINDOW, width=4), showlegend=False),
            dict(type="heatmap", z=shown.tolist(), text=_text(shown), texttemplate="%{text}",
                       colorscale="Viridis", zmin=lo, zmax=hi, xgap=1, ygap=1,
                       colorbar=dict(thickness=12, len=0.7, y=0.62)),
            dict(type="scatter", **_box(r, c, 1, 1), mode="lines", hoverinfo="skip",
                       line=dict(color=WINDOW, width=4), showlegend=False),
            dict(type="scatter", x=[0], y=[0], mode="text", hoverinfo="skip", showlegend=False,
                       text=[f"<b>step {i + 1} of {n}</b>   {pool.equation(i)}"],
                       textposition="middle right", textfont=dict(size=14, family="monospace")),
        ]  # fmt: skip

    for trace, sfx in zip(dynamic_traces(start), ["", "2", "2", "3"], strict=True):
        data.append({**trace, "xaxis": f"x{sfx}", "yaxis": f"y{sfx}"})
    frames = [dict(name=str(i), data=dynamic_traces(i), traces=[1, 2, 3, 4]) for i in range(n)]
    fig = go.Figure(dict(data=data, layout=fig.layout.to_plotly_json(), frames=frames),
                    _validate=False)  # fmt: skip
    _square_axes(fig, {1: tuple(fmap.shape), 2: tuple(out.shape)})
    fig.layout.xaxis3.update(visible=False, range=[0, 1], fixedrange=True)
    fig.layout.yaxis3.update(visible=False, range=[-1, 1], fixedrange=True)
    fig.update_layout(
        height=430,
        margin=dict(l=10, r=10, t=40, b=90),
        plot_bgcolor="white",
        **_player(n, start, frame_ms, [str(i + 1) for i in range(n)], "step "),
    )
    return fig


def digit_and_filtered(digit: torch.Tensor, filtered: torch.Tensor, title: str = "") -> go.Figure:
    """A 28x28 digit (float [H, W] in [0, 1]) next to the filter's output map (float [Ho, Wo])."""
    m = max(float(filtered.abs().max()), 1e-6)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06,
                        subplot_titles=(title or "digit", f"filtered ({filtered.shape[0]}x"
                                        f"{filtered.shape[1]}; red < 0 < blue)"))  # fmt: skip
    fig.add_trace(dict(type="heatmap", z=digit.tolist(), colorscale=GREYS, zmin=0, zmax=1,
                             showscale=False, hovertemplate="(%{y}, %{x}) = %{z:.2f}<extra></extra>"),
                  1, 1)  # fmt: skip
    fig.add_trace(
        dict(
            type="heatmap",
            z=filtered.tolist(),
            colorscale=SIGN,
            zmid=0,
            zmin=-m,
            zmax=m,
            colorbar=dict(thickness=12),
            hovertemplate="(%{y}, %{x}) = %{z:.3f}<extra></extra>",
        ),
        1,
        2,
    )
    _square_axes(fig, {1: tuple(digit.shape), 2: tuple(filtered.shape)})
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white")
    return fig
