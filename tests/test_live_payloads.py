"""What the live training panel's canvas components draw (cnncore.plots.training): the curves
payload carries the same series, marker lines and labels as the Plotly figures of a saved run's
report, stays bounded however long the run, and is plain JSON; the model pictures carry the same
filters and feature maps as their Plotly figures."""

import json
import math

import pytest
import torch

from cnncore.analysis import feature_maps, first_layer_filters
from cnncore.models import build_model
from cnncore.plots.training import (
    bounded_loss,
    feature_maps_figure,
    filters_figure,
    live_curves_payload,
    loss_figure,
    val_figure,
    weights_payload,
)
from cnncore.speed import CHART_POINTS, MinMaxSeries, ema_of_buckets


def history(n: int, markers=(), val=(), test=None) -> dict:
    return {
        "steps": list(range(1, n + 1)),
        "losses": [2.3 / math.sqrt(i) for i in range(1, n + 1)],
        "val": list(val),
        "markers": list(markers),
        "test": test,
    }


def live_history(n: int) -> dict:
    """A live job's chart_history shape: the per-batch loss already min/max decimated."""
    series = MinMaxSeries(CHART_POINTS)
    for i in range(1, n + 1):
        series.append(i, 2.3 / math.sqrt(i))
    steps, losses = series.points()
    return {"steps": steps, "losses": losses, "buckets": series.means(), "batches": n, "val": []}


def test_curves_payload_matches_the_plotly_figures():
    h = history(
        40,
        markers=[
            {"kind": "pause", "step": 10},
            {"kind": "resume", "step": 10},
            {"kind": "lr", "step": 20, "lr": 0.0002, "old_lr": 0.001},
        ],
        val=[{"epoch": 1, "step": 20, "loss": 0.8, "accuracy": 0.713}],
        test={"loss": 0.7, "accuracy": 0.73},
    )
    p = live_curves_payload(h, 0.5, log_y=True)
    fig = loss_figure(h, 0.5, log_y=True)
    assert [s["name"] for s in p["loss"]["series"]] == [t.name for t in fig.data]
    raw, smooth, val = p["loss"]["series"]
    assert raw["x"] == list(range(1, 41)) and raw["y"] == pytest.approx(h["losses"], rel=1e-4)
    mx, means, counts = bounded_loss(h)["buckets"]
    assert smooth["y"] == pytest.approx(ema_of_buckets(means, counts, 0.5), rel=1e-4)
    assert val["markers"] == 9 and val["x"] == [20] and val["y"] == [0.8]
    assert p["loss"]["y"]["log"] is True and p["loss"]["x"]["title"] == "batch"
    # pause and resume at batch 10 share a label; each marker keeps its line; dashes as patterns
    assert sorted(ln["x0"] for ln in p["loss"]["lines"]) == [10, 10, 20]
    assert {a["x"]: a["text"] for a in p["loss"]["labels"]} == {
        10: "paused · resumed",
        20: "lr 0.001 → 0.0002",
    }
    assert {tuple(ln["dash"]) for ln in p["loss"]["lines"]} == {(2, 3), (6, 4)}
    # validation accuracy: percent axis, a label per epoch, the test line and its label
    acc = p["val"]["series"][0]
    assert acc["text"] == ["71.3%"] and acc["percent"] and p["val"]["y"]["range"] == [0, 1.05]
    assert [a["text"] for a in p["val"]["labels"]] == [
        a.text for a in val_figure(h).layout.annotations
    ]
    assert p["val"]["lines"][0]["y0"] == 0.73 and p["val"]["lines"][0]["xref"] == "x domain"
    assert p["points"] == 40


def test_no_epoch_yet_says_so_and_linear_scale():
    p = live_curves_payload(history(3), 0.6, log_y=False)
    assert p["loss"]["y"]["log"] is False
    assert [a["text"] for a in p["val"]["labels"]] == ["appears after the first epoch"]
    assert p["val"]["series"][0]["x"] == []


def test_curves_payload_stays_bounded_as_the_run_grows():
    sizes = []
    for n in (3_000, 30_000, 300_000):
        p = live_curves_payload(live_history(n), 0.6)
        raw = p["loss"]["series"][0]
        assert len(raw["x"]) <= CHART_POINTS and raw["x"][-1] == n  # the newest batch is there
        assert min(raw["y"]) == pytest.approx(2.3 / math.sqrt(n), rel=1e-4)  # the low kept
        assert sum(len(s["x"]) for s in p["loss"]["series"]) <= 2 * CHART_POINTS
        sizes.append(len(json.dumps(p)))
    assert max(sizes) < 100_000, sizes  # what a poll sends: flat, not growing with the run


def test_curves_payload_is_plain_json_even_when_the_loss_diverged():
    h = history(5)
    h["losses"][3] = float("nan")
    h["losses"][4] = float("inf")
    p = live_curves_payload(h)
    text = json.dumps(p, allow_nan=False)  # raises on NaN or infinity
    assert json.loads(text)["loss"]["series"][0]["y"][3:] == [None, None]


def test_weights_payload_matches_the_plotly_pictures():
    torch.manual_seed(0)
    model = build_model("convnet")
    filters, caption = first_layer_filters(model)
    image = (torch.rand(1, 28, 28) * 255).to(torch.uint8)
    maps = feature_maps(model, image)
    p = weights_payload(filters, caption, 7, maps, image, "3")
    f = p["filters"]
    assert f["name"] == "First-layer filters at batch 7" and f["caption"] == caption
    assert len(f["maps"]) == filters.shape[0] and f["cols"] == 4  # 16 filters in a 4x4 grid
    assert torch.tensor(f["maps"]) == pytest.approx(filters, abs=5e-4)
    bound = float(filters.abs().max())
    assert (f["lo"], f["hi"]) == pytest.approx((-bound, bound))
    assert f["colorscale"][0][1] == "rgb(103,0,31)"  # red for negative weights
    rows = p["maps"]["rows"]
    names = [r["name"] for r in rows]
    fig = feature_maps_figure(maps, image, "3")  # the Plotly version names the same rows
    assert names == [a.text for a in fig.layout.annotations]
    assert torch.tensor(rows[0]["maps"][0]) == pytest.approx(image[0].float() / 255, abs=5e-4)
    for row, (_name, act) in zip(rows[1:], maps, strict=True):
        shown = act[:8]
        assert len(row["maps"]) == len(shown) and (row["lo"], row["hi"]) == (0, 1)
        peak = float(shown.max())
        expected = shown / peak if peak > 0 else shown
        assert torch.tensor(row["maps"]) == pytest.approx(expected, abs=5e-4)
    assert filters_figure(filters, caption, 7).layout.title.text.startswith(f["name"])
    json.dumps(p, allow_nan=False)
