"""cnncore.invariance and cnncore.experiments: shifts against a hand-built oracle, the metrics on
models whose answer is known, the permutation, table shapes, and a tiny matched training."""

import itertools
import subprocess
import sys

import pytest
import torch
from torch import nn

from cnncore import invariance as inv
from cnncore.errors import UserError
from cnncore.experiments import CompareConfig, analyse, run_comparison
from tests.conftest import ROOT


def hand_shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The definition, pixel by pixel: out[y, x] = in[y - dy, x - dx] inside the frame, else 0."""
    h, w = img.shape[-2:]
    out = torch.zeros_like(img)
    for y, x in itertools.product(range(h), range(w)):
        if 0 <= y - dy < h and 0 <= x - dx < w:
            out[..., y, x] = img[..., y - dy, x - dx]
    return out


class Constant(nn.Module):
    """Always says 3, whatever the image."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = torch.zeros(len(x), 10) + self.w
        out[:, 3] = 1.0
        return out


class LeftHalfInk(nn.Module):
    """Says 1 when the left half has more ink than the right, else 0: not shift-invariant."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        left, right = x[..., :14].sum((1, 2, 3)), x[..., 14:].sum((1, 2, 3))
        out = torch.zeros(len(x), 10) + self.w
        out[:, 1] = (left > right).float()
        out[:, 0] = 0.5
        return out


@pytest.mark.parametrize("dx,dy", [(0, 0), (1, 0), (-2, 3), (4, -4), (0, -1), (27, 0), (-30, 5)])
def test_shift_matches_hand_built_shift(dx, dy):
    img = torch.randint(1, 256, (2, 1, 7, 9), dtype=torch.uint8)  # no zeros: a wrap would show
    expected = hand_shift(img, dx, dy)
    assert torch.equal(inv.shift_images(img, dx, dy), expected)
    per_image = inv.shift_images(img, torch.tensor([dx, dx]), torch.tensor([dy, dy]))
    assert torch.equal(per_image, expected)


def test_shift_never_wraps_and_differs_from_roll():
    img = torch.zeros(1, 1, 28, 28)
    img[0, 0, 10:20, 25:28] = 1.0  # ink touching the right edge
    moved = inv.shift_images(img, 3, 0)
    assert moved.sum() == 0  # pushed out, not wrapped round to the left
    assert torch.roll(img, 3, dims=-1).sum() == img.sum()  # what roll would (wrongly) do
    # against roll plus masking the wrapped columns
    x = torch.rand(3, 1, 28, 28)
    rolled = torch.roll(x, shifts=(-2, 5), dims=(-2, -1))
    rolled[..., :, :5] = 0
    rolled[..., -2:, :] = 0
    assert torch.equal(inv.shift_images(x, 5, -2), rolled)


def hand_circular_shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The definition on a torus: out[y, x] = in[(y - dy) mod H, (x - dx) mod W]."""
    h, w = img.shape[-2:]
    out = torch.zeros_like(img)
    for y, x in itertools.product(range(h), range(w)):
        out[..., y, x] = img[..., (y - dy) % h, (x - dx) % w]
    return out


@pytest.mark.parametrize("dx,dy", [(0, 0), (1, 0), (-2, 3), (4, -4), (9, 7), (-30, 5)])
def test_circular_shift_matches_the_definition_and_roll(dx, dy):
    img = torch.randint(1, 256, (2, 1, 7, 9), dtype=torch.uint8)
    expected = hand_circular_shift(img, dx, dy)
    assert torch.equal(expected, torch.roll(img, shifts=(dy, dx), dims=(-2, -1)))
    assert torch.equal(inv.shift_images(img, dx, dy, mode="circular"), expected)
    per_image = inv.shift_images(img, torch.tensor([dx, 0]), torch.tensor([dy, 0]), "circular")
    assert torch.equal(per_image[0], expected[0]) and torch.equal(per_image[1], img[1])
    assert inv.shift_images(img.float(), dx, dy, "circular").sum() == img.float().sum()  # no loss


def test_zero_fill_is_roll_with_the_wrapped_strip_masked():
    x = torch.rand(3, 1, 28, 28)
    for dx, dy in [(3, 0), (0, -4), (-5, 2), (7, 7)]:
        rolled = inv.shift_images(x, dx, dy, mode="circular").clone()
        if dx > 0:
            rolled[..., :, :dx] = 0
        if dx < 0:
            rolled[..., :, dx:] = 0
        if dy > 0:
            rolled[..., :dy, :] = 0
        if dy < 0:
            rolled[..., dy:, :] = 0
        assert torch.equal(inv.shift_images(x, dx, dy, mode="zero"), rolled)


def test_unknown_shift_mode_is_refused():
    with pytest.raises(UserError, match="shift mode"):
        inv.shift_images(torch.zeros(1, 1, 4, 4), 1, 0, mode="reflect")
    with pytest.raises(UserError, match="shift mode"):
        CompareConfig(shift_mode="wrap").validate()


def test_ink_kept_means_zero_fill_equals_circular(bundled):
    images = bundled.test.images[:50]
    shifts = [(0, 0), (3, 0), (-6, 6), (8, -8)]
    kept = inv.ink_kept(images, shifts)
    assert kept[(0, 0)].all() and not kept[(8, -8)].all()
    for dx, dy in shifts:
        zero, circ = inv.shift_images(images, dx, dy), inv.shift_images(images, dx, dy, "circular")
        same = (zero == circ).flatten(1).all(1)
        assert torch.equal(same, kept[(dx, dy)])


def test_random_shift_stays_in_range_and_varies():
    x = torch.zeros(200, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0  # one dot in the middle: where it lands is the shift
    out = inv.random_shift(x, 2, torch.Generator().manual_seed(0))
    where = out.flatten(1).argmax(1)
    dy, dx = where // 28 - 14, where % 28 - 14
    assert out.flatten(1).sum(1).eq(1).all()
    assert dx.abs().max() == 2 and dy.abs().max() == 2
    assert len(set(zip(dx.tolist(), dy.tolist(), strict=True))) == 25  # all of [-2, 2]^2 occur


def test_consistency_of_a_constant_model_is_one_and_agreement_too(bundled):
    images, labels = bundled.test.images[:100], bundled.test.labels[:100]
    assert inv.consistency(Constant(), images, 4) == 1.0
    preds = inv.predict_shifted(Constant(), images, inv.shifts_needed(2, grid=True))
    curves = inv.accuracy_by_shift(preds, labels, 2)
    assert (curves["agreement"] == 1.0).all()
    assert curves["accuracy"].round(6).nunique() == 1  # the same at every shift


def test_a_position_reading_model_is_not_consistent(bundled):
    images = bundled.test.images[:200]
    assert inv.consistency(LeftHalfInk(), images, 4) < 0.95
    preds = inv.predict_shifted(LeftHalfInk(), images, inv.shifts_needed(4, grid=False))
    curves = inv.accuracy_by_shift(preds, bundled.test.labels[:200], 4).set_index(
        ["direction", "shift"]
    )
    assert curves.loc[("right", 4), "agreement"] < 0.95
    assert curves.loc[("down", 4), "agreement"] > 0.95  # vertical shifts keep left vs right


def test_permutation_is_a_bijection_and_invertible():
    perm = inv.pixel_permutation(seed=3)
    assert sorted(perm.tolist()) == list(range(784))
    assert not torch.equal(perm, torch.arange(784))
    assert torch.equal(perm, inv.pixel_permutation(seed=3))
    x = torch.rand(4, 1, 28, 28)
    scrambled = inv.permute_pixels(x, perm)
    assert torch.equal(scrambled.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    assert torch.equal(inv.permute_pixels(scrambled, torch.argsort(perm)), x)
    with pytest.raises(UserError, match="does not fit"):
        inv.permute_pixels(x, torch.arange(10))


def test_ink_lost_grows_with_shift(bundled):
    ink = inv.ink_lost(bundled.test.images[:100], 6)
    assert list(ink["shift"]) == list(range(7))
    assert ink["ink_lost"].iloc[0] == 0 and ink["ink_lost"].is_monotonic_increasing
    assert ink["ink_lost"].iloc[-1] > 0.01


def test_tables_have_the_expected_shapes(bundled):
    from cnncore.data import Split

    test = Split(bundled.test.images[:60], bundled.test.labels[:60])
    result = analyse(
        {("constant", 0): Constant(), ("constant", 1): Constant(), ("lefthalf", 0): LeftHalfInk()},
        test,
        max_shift=2,
    )
    assert list(result.summary["model"]) == ["constant", "lefthalf"]
    assert list(result.summary["seeds"]) == [2, 1]
    assert len(result.curves) == 2 * 3 * 9  # models x shifts 0..2 x (8 directions + mean)
    assert {"accuracy_mean", "accuracy_min", "accuracy_max", "agreement_mean"} <= set(result.curves)
    assert len(result.grid) == 2 * 25
    assert len(result.per_class) <= 2 * 3 * 10 and set(result.per_class["shift"]) == {0, 1, 2}
    assert list(result.ink["shift"]) == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"max_shift": 0}, "shift range"),
        ({"max_shift": 9}, "shift range"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": 6}, "seeds"),
        ({"models": ()}, "at least one"),
        ({"models": ("convnet", "convnet")}, "only once"),
        ({"models": ("resnet",)}, "unknown model"),
        ({"epochs": 0}, "epochs"),
        ({"augment_shift": 9}, "training shifts"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(kwargs, match):
    with pytest.raises(UserError, match=match):
        CompareConfig(**kwargs).validate()


def test_feature_maps_are_equivariant_fc_has_none():
    from cnncore.models import build_model

    torch.manual_seed(0)
    img = torch.zeros(1, 28, 28)
    img[0, 8:20, 10:16] = 1.0
    eq = inv.equivariance(build_model("convnet"), img, 2, -3)
    assert eq["original"].shape == (32, 20, 20)
    assert eq["max_difference"] < 1e-5 < eq["scale"]
    assert (
        torch.isnan(eq["difference"][:, :, :2]).all()
        and torch.isnan(eq["difference"][:, -3:]).all()
    )
    with pytest.raises(UserError, match="ConvNet"):
        inv.equivariance(build_model("fcnet"), img, 1, 0)


def test_tiny_matched_training_runs_everything(tiny_data):
    config = CompareConfig(epochs=1, max_batches=2, max_shift=2, permutation=True, augment_shift=1)
    progress = []
    result = run_comparison(tiny_data, config, report=lambda f, m: progress.append(f))
    assert list(result.summary["model"]) == ["convnet +shift≤1", "fcnet +shift≤1"]
    assert list(result.summary["parameters"]) == [141258, 139930]
    assert set(result.permutation["model"]) == {"convnet", "fcnet"}
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert set(result.tables()) == {
        "summary",
        "accuracy_by_shift",
        "grid",
        "per_class",
        "ink_lost",
        "permutation",
    }


def test_cli_compare_tiny_writes_tables(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnncore",
            "compare",
            "--epochs",
            "1",
            "--max-batches",
            "1",
            "--max-shift",
            "1",
            "--no-grid",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "accuracy by shift" in proc.stdout and "time:" in proc.stdout
    assert (out / "accuracy_by_shift.csv").read_text().startswith("model,direction,shift")
    assert (out / "accuracy_by_shift.html").stat().st_size > 10_000
    circular = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnncore",
            "compare",
            "--models",
            "convnet-circular",
            "--shift-mode",
            "circular",
            "--epochs",
            "1",
            "--max-batches",
            "1",
            "--max-shift",
            "2",
            "--no-grid",
            "--out",
            str(tmp_path / "circ"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert circular.returncode == 0, circular.stderr
    assert "convnet-circular, circular shifts: consistency C(2) 100.0%" in circular.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "cnncore", "compare", "--max-shift", "12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "shift range" in bad.stderr


def test_drawn_digit_is_centred_and_empty_drawing_refused():
    canvas = torch.zeros(200, 200, 4)
    canvas[20:60, 150:170, :3] = 255  # a bar drawn in the top-right corner
    canvas[..., 3] = 255
    digit = inv.digit_from_drawing(canvas.numpy())
    assert digit.shape == (1, 28, 28) and digit.dtype == torch.uint8
    ys, xs = digit[0].float().nonzero(as_tuple=True)
    assert 12 <= ys.float().mean() <= 15 and 12 <= xs.float().mean() <= 15  # moved to the middle
    assert ys.max() - ys.min() + 1 == 20  # the long side fits MNIST's 20x20 box
    with pytest.raises(UserError, match="empty"):
        inv.digit_from_drawing(torch.zeros(200, 200, 4).numpy())


def test_shift_grid_is_a_lookup_of_the_same_answers():
    from cnncore.models import build_model
    from cnncore.train import predict_proba

    torch.manual_seed(0)
    models = {"convnet": build_model("convnet"), "fcnet": build_model("fcnet")}
    image = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    for mode in inv.SHIFT_MODES:
        grid = inv.shift_grid(models, image, mode)
        assert grid.images.shape == (17, 17, 28, 28) and grid.probs["fcnet"].shape == (17, 17, 10)
        for dx, dy in [(0, 0), (3, -2), (-8, 8), (8, 1)]:
            shifted = inv.shift_images(image[None], dx, dy, mode)
            assert torch.equal(grid.image(dx, dy), shifted[0, 0])
            for name, p in grid.probabilities(dx, dy).items():
                assert torch.allclose(p, predict_proba(models[name], shifted)[0], atol=1e-5)
    with pytest.raises(UserError, match="shifts go from"):
        grid.image(9, 0)


def test_circular_model_maps_are_equivariant_everywhere_under_circular_shifts():
    from cnncore.models import build_model

    torch.manual_seed(0)
    img = torch.zeros(1, 28, 28)
    img[0, 8:20, 10:16] = 1.0
    eq = inv.equivariance(build_model("convnet-circular"), img, 5, -7, mode="circular")
    assert eq["original"].shape == (32, 28, 28)
    assert not torch.isnan(eq["difference"]).any()  # defined everywhere: nothing uncovered
    assert eq["max_difference"] < 1e-5 < eq["scale"]


def test_circular_model_measured_invariant_under_circular_shifts(bundled):
    from cnncore.data import Split
    from cnncore.experiments import findings
    from cnncore.models import build_model

    torch.manual_seed(0)
    test = Split(bundled.test.images[:60], bundled.test.labels[:60])
    model = build_model("convnet-circular").eval()
    result = analyse({("convnet-circular", 0): model}, test, max_shift=3, mode="circular")
    row = result.summary.iloc[0]
    assert row["consistency_mean"] == 1.0 and row["ink_kept_agreement_mean"] == 1.0
    assert (result.curves["agreement_mean"] == 1.0).all()
    assert result.curves["accuracy_mean"].nunique() == 1  # flat
    assert "consistency C(3) 100.0%" in findings(result)[0]
    zero = analyse({("convnet-circular", 0): model}, test, max_shift=3, mode="zero")
    assert zero.shift_mode == "zero" and zero.summary.iloc[0]["ink_kept_agreement_mean"] == 1.0


def test_estimate_counts_the_work_of_the_config(bundled):
    from cnncore.experiments import estimate_comparison_seconds

    one = estimate_comparison_seconds(CompareConfig(epochs=1, max_batches=2), bundled)
    more = estimate_comparison_seconds(CompareConfig(epochs=3, max_batches=2), bundled)
    seeds = estimate_comparison_seconds(CompareConfig(epochs=1, max_batches=2, seeds=2), bundled)
    assert 0 < one < more and seeds == pytest.approx(2 * one)


@pytest.mark.parametrize(
    "name,mode",
    [("convnet", "zero"), ("convnet", "circular"), ("convnet-circular", "circular")],
)
def test_equivariance_grid_is_a_lookup_of_equivariance_for_every_shift(name, mode):
    """The maps computed once for the whole 17x17 grid give, at every (dx, dy), what the single
    forward pass of ``equivariance`` gives: the same maps, the same NaN strip, the same numbers."""
    from cnncore.models import build_model

    torch.manual_seed(0)
    model = build_model(name)
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 6:22, 9:18] = torch.randint(0, 256, (16, 9), dtype=torch.uint8)
    grid = inv.equivariance_grid(model, image, mode)
    r = range(-inv.MAX_SHIFT, inv.MAX_SHIFT + 1)
    for dx, dy in itertools.product(r, r):
        want, got = inv.equivariance(model, image, dx, dy, mode), grid.at(dx, dy)
        assert (got["layer"], got["conv"]) == (want["layer"], want["conv"])
        for key in ("original", "shifted", "difference"):
            assert torch.allclose(got[key], want[key], atol=1e-5, equal_nan=True), (dx, dy, key)
            assert torch.equal(torch.isnan(got[key]), torch.isnan(want[key]))
        assert got["max_difference"] < 1e-4 and want["max_difference"] < 1e-4
        assert got["scale"] == pytest.approx(want["scale"], rel=1e-5)
    with pytest.raises(UserError, match="shifts go from"):
        grid.at(0, -9)
    with pytest.raises(UserError, match="pooled ConvNet"):
        inv.equivariance_grid(build_model("convnet-pool"), image)


def test_hidden_grid_is_the_fcnet_hidden_units_of_each_shifted_digit():
    from cnncore.data import to_float
    from cnncore.models import build_model

    torch.manual_seed(0)
    fc = build_model("fcnet")
    image = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    for mode in inv.SHIFT_MODES:
        hidden = inv.hidden_grid(fc, image, mode)
        assert hidden.shape == (17, 17, fc.hidden)
        for dx, dy in [(0, 0), (4, -3), (-8, 8), (8, 0)]:
            x = inv.shift_images(to_float(image[None]), dx, dy, mode)
            want = fc.hidden_activations(x)[0]
            assert torch.allclose(hidden[dy + 8, dx + 8], want, atol=1e-5), (mode, dx, dy)


def test_shift_heatmaps_label_dy_once_for_the_row():
    """The heatmaps share their dy scale: only the first writes it (at 800 px the second's tick
    labels were drawn over the first's right-hand column)."""
    import pandas as pd

    from cnncore.plots.invariance import shift_heatmaps

    shifts = [(m, dx, dy) for m in ("convnet", "fcnet") for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    grid = pd.DataFrame(shifts, columns=["model", "dx", "dy"]).assign(accuracy=0.5)
    layout = shift_heatmaps(grid).layout
    assert layout.yaxis.showticklabels is True and layout.yaxis2.showticklabels is False
    assert layout.yaxis.title.text == "dy (down ↓)" and layout.yaxis2.title.text is None
    assert layout.xaxis.showticklabels is not False and layout.xaxis2.showticklabels is not False
