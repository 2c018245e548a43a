"""Clicking a pixel of the invariance page's equivariance maps: the payload draws each map's
numbers, a click maps back to the right (panel, layer, channel, row, col), and that pixel's
written-out dot product equals the model's own activation shown in the maps."""

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


def test_every_clickable_map_pixel_maps_back_to_the_number_drawn_there(digit):
    _, eq = _eq("convnet", digit)
    payload = plots.equivariance_payload(eq)
    top = plots.shown_channels(eq)
    assert payload["columns"] == [f"channel {c}" for c in top]
    assert [r["panel"] for r in payload["rows"]] == ["original", "shifted", "difference"]
    assert [r["clickable"] for r in payload["rows"]] == [True, True, False]
    gen = torch.Generator().manual_seed(0)
    for row in payload["rows"]:
        assert len(row["maps"]) == len(top)
        for j, drawn in enumerate(row["maps"]):
            for _ in range(5):
                r, c = (int(v) for v in torch.randint(20, (2,), generator=gen))
                value = float(eq[row["panel"]][top[j], r, c])
                shown = drawn[r][c]
                if value != value:  # NaN: the strip the shift uncovered, drawn as undefined
                    assert shown is None
                else:
                    assert shown == pytest.approx(round(value, 3), abs=1e-9)
                click = {"panel": row["panel"], "column": j, "row": r, "col": c}
                pick = plots.equivariance_click(eq, click)
                if not row["clickable"]:
                    assert pick is None
                    continue
                assert pick == plots.MapPixel(row["panel"], 2, top[j], r, c)


def test_the_difference_row_has_its_nan_strip_and_the_pick_is_outlined(digit):
    _, eq = _eq("convnet", digit, dx=3, dy=-2)
    top = plots.shown_channels(eq)
    diff = plots.equivariance_payload(eq)["rows"][2]
    assert all(row[:3] == [None] * 3 for row in diff["maps"][0])  # dx = 3: the left strip
    assert diff["lo"] == -eq["scale"] and diff["hi"] == eq["scale"]
    pick = plots.MapPixel("shifted", 2, top[4], 7, 9)
    rows = plots.equivariance_payload(eq, pick)["rows"]
    assert rows[1]["outlines"] == [None] * 4 + [{"row": 7, "col": 9}, None]
    assert "outlines" not in rows[0] and "outlines" not in rows[2]
    hidden = plots.MapPixel("shifted", 2, next(c for c in range(32) if c not in top), 7, 9)
    assert all("outlines" not in r for r in plots.equivariance_payload(eq, hidden)["rows"])


@pytest.mark.parametrize(
    "click",
    [
        {"panel": "difference", "column": 0, "row": 1, "col": 1},  # not a clickable row
        {"panel": "original", "column": 6, "row": 1, "col": 1},  # past the last column
        {"panel": "original", "column": -1, "row": 1, "col": 1},
        {"panel": "shifted", "column": 0, "row": 20, "col": 1},  # outside the 20 x 20 map
        {"panel": "shifted", "column": 0, "row": 1, "col": -1},
        {"panel": "shifted", "column": "x", "row": 1, "col": 1},
        {"panel": "shifted", "column": 0},
        {},
        None,
        "original",
    ],
)
def test_clicks_off_a_map_are_no_pixel(click, digit):
    _, eq = _eq("convnet", digit)
    assert plots.equivariance_click(eq, click) is None


def test_without_a_click_the_last_pick_or_the_strongest_shifted_pixel(digit):
    _, eq = _eq("convnet", digit)
    top = plots.shown_channels(eq)
    default = plots.chosen_pixel(eq, None)
    assert (default.panel, default.channel) == ("shifted", top[0])
    assert float(eq["shifted"][top[0], default.row, default.col]) == float(
        eq["shifted"][top[0]].max()
    )
    last = plots.MapPixel("original", 2, top[3], 5, 6)
    assert plots.chosen_pixel(eq, None, last) == last
    gone = plots.MapPixel("original", 2, next(c for c in range(32) if c not in top), 5, 6)
    assert plots.chosen_pixel(eq, None, gone) == default
    click = {"panel": "original", "column": 0, "row": 3, "col": 2}
    assert plots.chosen_pixel(eq, click, last) == plots.MapPixel("original", 2, top[0], 3, 2)


@pytest.mark.parametrize("name", ["convnet", "convnet-gap"])
@pytest.mark.parametrize("mode", ["zero", "circular"])
def test_clicked_pixels_arithmetic_equals_the_activation_in_the_figure(name, mode, digit):
    dx, dy = 4, 2
    model, eq = _eq(name, digit, dx, dy, mode)
    shifted_digit = inv.shift_images(digit[None], dx, dy, mode)[0]
    gen = torch.Generator().manual_seed(1)
    for panel, column in [(p, j) for p in plots.EQ_PANELS for j in range(6)]:
        r, c = (int(v) for v in torch.randint(20, (2,), generator=gen))
        pick = plots.equivariance_click(eq, {"panel": panel, "column": column, "row": r, "col": c})
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


def test_digit_and_hidden_unit_pictures_draw_the_numbers_they_are_given(digit):
    pic = plots.digit_payload(digit, "shifted by (1, 2)")
    assert pic["columns"] == ["shifted by (1, 2)"]
    assert pic["rows"][0]["maps"][0] == digit[0].to(torch.int64).tolist()
    assert (pic["rows"][0]["lo"], pic["rows"][0]["hi"]) == (0, 255)
    as_float = plots.digit_payload(digit.float() / 255)["rows"][0]["maps"][0]
    assert as_float == digit[0].to(torch.int64).tolist()  # [0, 1] floats drawn as 0-255

    torch.manual_seed(0)
    fc = build_model("fcnet").eval()
    from cnncore.data import to_float

    h0 = fc.hidden_activations(to_float(digit[None]))[0].detach()
    h1 = fc.hidden_activations(inv.shift_images(to_float(digit[None]), 3, 0))[0].detach()
    pic = plots.hidden_payload(h0, h1)
    maps = pic["rows"][0]["maps"]
    assert len(maps) == 2 and len(maps[0]) * len(maps[0][0]) == fc.hidden == 176
    flat = [v for row in maps[1] for v in row]
    assert flat == pytest.approx([round(v, 3) for v in h1.tolist()], abs=1e-9)
    assert pic["rows"][0]["hi"] == pytest.approx(float(max(h0.max(), h1.max())))


def test_the_receptive_field_picture_outlines_the_field_and_the_pixel(digit):
    from cnncore.plots import arithmetic as arith_plots

    model, eq = _eq("convnet", digit)
    pick = plots.chosen_pixel(eq, {"panel": "original", "column": 1, "row": 4, "col": 7})
    a = receptive_field_arithmetic(model, digit, pick.layer, pick.channel, pick.row, pick.col)
    fmap = eq["original"][pick.channel]
    row = arith_plots.field_payload(digit, fmap, "conv 2", a)["rows"][0]
    assert row["outlines"] == [{"row": 4, "col": 7, "size": 9}, {"row": 4, "col": 7}]
    assert row["maps"][0] == digit[0].to(torch.int64).tolist()
    assert row["maps"][1][4][7] == pytest.approx(round(float(fmap[4, 7]), 3), abs=1e-9)
    assert row["scales"][1]["hi"] == pytest.approx(float(fmap.max()))


def test_the_dot_product_picture_labels_window_kernel_and_products(digit):
    from cnncore.plots import arithmetic as arith_plots

    model, eq = _eq("convnet", digit)
    pick = plots.chosen_pixel(eq, None)
    a = receptive_field_arithmetic(model, digit, pick.layer, pick.channel, pick.row, pick.col)
    channels = a.top_channels(3)
    rows = arith_plots.dot_product_payload(a, channels)["rows"]
    assert len(rows) == 3 and all(r["labels"] == 2 for r in rows)
    for ch, row in zip(channels, rows, strict=True):
        window, kernel, products = (torch.tensor(m, dtype=torch.float64) for m in row["maps"])
        assert torch.allclose(window, a.window[ch].double(), atol=5e-4)
        assert torch.allclose(kernel, a.kernel[ch].double(), atol=5e-4)
        assert torch.allclose(products, (a.window[ch] * a.kernel[ch]).double(), atol=5e-4)
        assert row["titles"][2] == f"products: sum {float(a.channel_sums[ch]):.3f}"
        assert row["scales"][2]["lo"] == -row["scales"][2]["hi"]  # symmetric about 0


def test_probability_bars_payload_names_the_prediction_and_keeps_the_numbers():
    probs = {"convnet": torch.tensor([0.05, 0.0, 0.7, 0.25, 0, 0, 0, 0, 0, 0])}
    probs["fcnet"] = torch.tensor([0.1] * 10)
    bars = plots.probability_payload(probs, label=3)["bars"]
    assert bars[0]["title"] == "convnet: says 2 (70%)" and bars[0]["pred"] == 2
    assert bars[0]["values"] == pytest.approx([5, 0, 70, 25, 0, 0, 0, 0, 0, 0])
    assert bars[0]["label"] == bars[1]["label"] == 3
    assert (
        bars[0]["color"] == plots.PALETTE["convnet"] and bars[1]["color"] == plots.PALETTE["fcnet"]
    )
    assert sum(bars[1]["values"]) == pytest.approx(100)
