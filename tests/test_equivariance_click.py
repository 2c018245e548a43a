"""Clicking a pixel of the invariance page's equivariance figure: the click maps back to the
right (panel, layer, channel, row, col), and that pixel's written-out dot product equals the
model's own activation shown in the figure."""

import pytest
import torch

from cnncore import invariance as inv
from cnncore.analysis import arithmetic_supported, receptive_field_arithmetic
from cnncore.models import build_model
from cnncore.plots import invariance as plots


@pytest.fixture(scope="module")
def digit(bundled):
    return bundled.test.images[0]  # uint8 [1, 28, 28]


def _eq(name, digit, dx=3, dy=-2, mode="zero"):
    torch.manual_seed(0)
    model = build_model(name).eval()
    return model, inv.equivariance(model, digit, dx, dy, mode)


def test_every_clickable_trace_maps_to_the_map_it_is_drawn_over(digit):
    _, eq = _eq("convnet", digit)
    fig = plots.equivariance_figure(eq).to_plotly_json()
    traces = fig["data"]
    heatmaps = {(t["xaxis"], t["yaxis"]): t for t in traces if t["type"] == "heatmap"}
    clickable = [k for k, t in enumerate(traces) if t["type"] == "scatter"]
    assert len(clickable) == 2 * 6  # the digit's and the shifted digit's six maps
    gen = torch.Generator().manual_seed(0)
    for k in clickable:
        t = traces[k]
        z = heatmaps[(t["xaxis"], t["yaxis"])]["z"]
        for _ in range(5):
            i = int(torch.randint(len(t["x"]), (1,), generator=gen))
            point = {"curve_number": k, "point_index": i, "x": t["x"][i], "y": t["y"][i]}
            pick = plots.equivariance_click(eq, [point])
            assert pick is not None and pick.layer == 2
            value = float(eq[pick.panel][pick.channel, pick.row, pick.col])
            # the heatmap under the point shows the same number as the map the click names
            assert z[pick.row][pick.col] == pytest.approx(round(value, 3), abs=1e-9)
            assert t["text"][i] == f"{value:.3f}"
            row_name = {"original": "digit", "shifted": "shifted digit"}[pick.panel]
            assert t["hovertemplate"].startswith(f"{row_name}, channel {pick.channel},")


def test_panel_and_channel_from_the_curve_number(digit):
    _, eq = _eq("convnet", digit)
    top = plots.shown_channels(eq)
    first = 3 * len(top)
    pick = plots.equivariance_click(eq, [{"curve_number": first + 2, "x": 4, "y": 7}])
    assert pick == plots.MapPixel("original", 2, top[2], 7, 4)
    pick = plots.equivariance_click(eq, [{"curve_number": first + len(top) + 5, "x": 19, "y": 0}])
    assert pick == plots.MapPixel("shifted", 2, top[5], 0, 19)


@pytest.mark.parametrize(
    "point",
    [
        {"curve_number": 0, "x": 1, "y": 1},  # a heatmap (not a clickable trace)
        {"curve_number": 17, "x": 1, "y": 1},  # the difference row's heatmap
        {"curve_number": 30, "x": 1, "y": 1},  # past the last clickable trace
        {"curve_number": 18, "x": 20, "y": 1},  # outside the 20 x 20 map
        {"curve_number": 18, "x": 1, "y": -1},
        {"curve_number": 18},
        {},
    ],
)
def test_clicks_off_a_map_are_no_pixel(point, digit):
    _, eq = _eq("convnet", digit)
    assert plots.equivariance_click(eq, [point]) is None
    assert plots.equivariance_click(eq, []) is None


def test_without_a_click_the_last_pick_or_the_strongest_shifted_pixel(digit):
    _, eq = _eq("convnet", digit)
    top = plots.shown_channels(eq)
    default = plots.chosen_pixel(eq, [])
    assert (default.panel, default.channel) == ("shifted", top[0])
    assert float(eq["shifted"][top[0], default.row, default.col]) == float(
        eq["shifted"][top[0]].max()
    )
    last = plots.MapPixel("original", 2, top[3], 5, 6)
    assert plots.chosen_pixel(eq, [], last) == last
    gone = plots.MapPixel("original", 2, next(c for c in range(32) if c not in top), 5, 6)
    assert plots.chosen_pixel(eq, [], gone) == default
    clicked = plots.chosen_pixel(eq, [{"curve_number": 18, "x": 2, "y": 3}], last)
    assert clicked == plots.MapPixel("original", 2, top[0], 3, 2)


@pytest.mark.parametrize("name", ["convnet", "convnet-gap"])
@pytest.mark.parametrize("mode", ["zero", "circular"])
def test_clicked_pixels_arithmetic_equals_the_activation_in_the_figure(name, mode, digit):
    dx, dy = 4, 2
    model, eq = _eq(name, digit, dx, dy, mode)
    first = 3 * len(plots.shown_channels(eq))
    shifted_digit = inv.shift_images(digit[None], dx, dy, mode)[0]
    gen = torch.Generator().manual_seed(1)
    for k in range(first, first + 12):
        r, c = (int(v) for v in torch.randint(20, (2,), generator=gen))
        pick = plots.equivariance_click(eq, [{"curve_number": k, "x": c, "y": r}])
        image = shifted_digit if pick.panel == "shifted" else digit
        a = receptive_field_arithmetic(model, image, pick.layer, pick.channel, r, c)
        own = float(eq[pick.panel][pick.channel, r, c])
        assert a.activation == pytest.approx(own, abs=1e-5)
        assert (a.size, a.top, a.left) == (9, r, c)


def test_the_circular_model_is_not_written_out(digit):
    model, eq = _eq("convnet-circular", digit)
    assert eq["conv"] == 2 and not arithmetic_supported(model)
    with pytest.raises(TypeError):
        receptive_field_arithmetic(model, digit, 2, 0, 0, 0)
    assert arithmetic_supported(build_model("convnet"))
    assert not arithmetic_supported(build_model("fcnet"))
