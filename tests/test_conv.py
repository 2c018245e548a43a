"""cnncore.conv against PyTorch, value for value, plus presets, samples, sizes and text."""

import json
import random

import pytest
import torch
import torch.nn.functional as F

from cnncore import conv
from cnncore.errors import UserError


def _random_cases(n, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        c = rng.choice([1, 2, 3, 4])
        k = rng.choice([1, 2, 3, 5])
        p = rng.choice([0, 1, 2])
        s = rng.choice([1, 2, 3])
        h = rng.randint(max(1, k - 2 * p), 12)
        w = rng.randint(max(1, k - 2 * p), 12)
        yield c, h, w, k, s, p, rng.choice(conv.ACTIVATIONS), rng.random() < 0.5, rng.uniform(-2, 2)


@pytest.mark.parametrize("case", list(_random_cases(200)))
def test_conv_matches_torch(case):
    c, h, w, k, s, p, act, flip, bias = case
    g = torch.Generator().manual_seed(hash(case) % 2**31)
    x = torch.rand(c, h, w, generator=g)
    kern = torch.randn(c, k, k, generator=g)
    steps = conv.conv_steps(x, kern, bias, s, p, act, flip)
    weight = (kern.flip(-1, -2) if flip else kern)[None]
    ref = F.conv2d(x[None], weight, torch.tensor([bias]), stride=s, padding=p)[0, 0]
    ref = {"none": ref, "relu": torch.relu(ref), "sigmoid": torch.sigmoid(ref)}[act]
    assert steps.output.shape == ref.shape
    torch.testing.assert_close(steps.output, ref, atol=1e-5, rtol=1e-5)
    assert ref.shape == (conv.output_size(h, k, s, p), conv.output_size(w, k, s, p))
    # every step's numbers add up to its output cell
    for i in range(len(steps)):
        st = steps.step(i)
        assert st.products.shape == (c, k, k)
        torch.testing.assert_close(st.products, st.patch * st.kernel)
        assert st.pre_activation == pytest.approx(float(st.products.sum()) + bias, abs=1e-4)
        assert st.value == pytest.approx(float(ref[st.row, st.col]), abs=1e-5)
        assert (st.top, st.left) == (st.row * s, st.col * s)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_matches_torch(seed, mode):
    rng = random.Random(seed)
    size, stride = rng.choice([(2, 2), (2, 1), (3, 2), (3, 3)])
    x = torch.randn(rng.randint(1, 4), rng.randint(size, 11), rng.randint(size, 11))
    ps = conv.pool_steps(x, mode, size, stride)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    torch.testing.assert_close(ps.output, fn(x[None], size, stride)[0])
    top, left, vals, out = ps.window(len(ps) - 1, channel=x.shape[0] - 1)
    assert vals.shape == (size, size)
    assert out == pytest.approx(float(vals.max() if mode == "max" else vals.mean()), abs=1e-5)


def test_lesson_x_detector_peaks_on_the_x():
    steps = conv.conv_steps(conv.sample("X (lesson)"), conv.preset("X detector (lesson)"))
    out = steps.output
    assert out.shape == (3, 3)
    assert out[1, 1] == 5 and out[1, 1] == out.max()
    assert int(out.argmax()) == 4  # the centre window sits exactly on the X
    assert steps.step(4).equation().endswith("= 5")


def test_true_convolution_flips_the_kernel():
    x = torch.zeros(5, 5)
    x[2, 2] = 1  # an impulse: convolution copies the kernel, cross-correlation rotates it
    kern = torch.arange(9.0).reshape(3, 3)
    assert torch.equal(conv.conv_steps(x, kern, padding=1, flip=True).output[1:4, 1:4], kern)
    assert torch.equal(conv.conv_steps(x, kern, padding=1).output[1:4, 1:4], kern.flip(0, 1))


@pytest.mark.parametrize("name", conv.PRESETS)
@pytest.mark.parametrize("size", [3, 5])
def test_presets_fit_the_sliders(name, size):
    k = conv.preset(name, size)
    assert k.shape == (size, size)
    assert conv.KERNEL_RANGE[0] <= float(k.min()) and float(k.max()) <= conv.KERNEL_RANGE[1]
    assert k.abs().sum() > 0


def test_preset_behaviour():
    flat = torch.full((5, 5), 0.5)
    ramp = torch.linspace(0, 1, 5).repeat(5, 1)  # brightness grows to the right
    assert torch.allclose(conv.filter_image(flat, conv.preset("blur (Gaussian)")), flat[:3, :3])
    assert torch.allclose(conv.filter_image(flat, conv.preset("outline")), torch.zeros(3, 3))
    assert torch.equal(conv.filter_image(ramp, conv.preset("identity")), ramp[1:4, 1:4])
    assert (conv.filter_image(ramp, conv.preset("vertical edge (Sobel)")) < 0).all()
    assert torch.allclose(
        conv.filter_image(ramp, conv.preset("horizontal edge (Sobel)")), torch.zeros(3, 3)
    )
    assert torch.equal(conv.preset("identity", 5)[2, 2], torch.tensor(1.0))


def test_samples():
    assert set(conv.SAMPLES) == {"X (lesson)", "O", "plus", "vertical line", "diagonal", "blank"}
    for name in conv.SAMPLES:
        s = conv.sample(name)
        assert s.shape == (5, 5) and ((s == 0) | (s == 1)).all()
    assert conv.sample("blank").sum() == 0 and conv.sample("X (lesson)").sum() == 9
    assert conv.colour_sample().shape == (3, 5, 5)
    with pytest.raises(UserError, match="unknown sample"):
        conv.sample("Q")


def test_output_size_and_explanations():
    assert conv.output_size(5, 3) == 3
    assert conv.output_size(5, 3, stride=2) == 2
    assert conv.output_size(5, 3, padding=1) == 5
    assert conv.output_size(28, 5) == 24
    with pytest.raises(UserError, match="larger than"):
        conv.output_size(3, 5)
    with pytest.raises(UserError, match="larger than"):
        conv.conv_steps(torch.ones(3, 3), torch.ones(5, 5))
    with pytest.raises(UserError, match="nothing to pool"):
        conv.pool_steps(torch.ones(1, 1))
    assert any("never" in n for n in conv.fit_notes(5, 3, 3, 0))
    assert any("skipped" in n for n in conv.fit_notes(5, 1, 2, 0))
    assert conv.fit_notes(5, 3, 1, 0) == []


def test_equation_text():
    kern = torch.tensor([[1.0, -1, 0], [0, 0, 0], [0, 0, 0.5]])
    x = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 1]])
    st = conv.conv_steps(x, kern, bias=-1, activation="relu").step(0)
    eq = st.equation()
    assert eq.startswith("1·1 + (−1)·0 + 0·0")
    assert "+ (−1) (bias) = 0.5" in eq and eq.endswith("relu(0.5) = 0.5")
    col = conv.conv_steps(torch.ones(3, 3, 3), torch.ones(3, 3, 3), bias=1).step(0)
    text = col.equation(("R", "G", "B"))
    assert text.splitlines()[0].startswith("R: ") and text.endswith("9 + 9 + 9 + 1 (bias) = 28")


def test_parse_grid_refuses_bad_cells():
    good = conv.parse_grid([["0", 1, "0.5"]] * 3, (3, 3), 0, 1)
    assert good[0].tolist() == [0, 1, 0.5]
    with pytest.raises(UserError, match="row 2, column 3.*'abc', not a number"):
        conv.parse_grid([[0, 0, 0], [0, 0, "abc"], [0, 0, 0]], (3, 3), 0, 1)
    with pytest.raises(UserError, match="row 1, column 1 is empty; enter a number from 0 to 1"):
        conv.parse_grid([[None, 0, 0]] + [[0, 0, 0]] * 2, (3, 3), 0, 1)
    with pytest.raises(UserError, match="row 1, column 1 is empty"):
        conv.parse_grid([["  ", 0, 0]] + [[0, 0, 0]] * 2, (3, 3), 0, 1)
    with pytest.raises(UserError, match="outside 0..1"):
        conv.parse_grid([[2, 0, 0]] + [[0, 0, 0]] * 2, (3, 3), 0, 1)
    with pytest.raises(UserError, match="'nan', not a number"):
        conv.parse_grid([["nan", 0, 0]] + [[0, 0, 0]] * 2, (3, 3), 0, 1)
    with pytest.raises(UserError, match="'1e999', which is infinite"):
        conv.parse_grid([["1e999", 0, 0]] + [[0, 0, 0]] * 2, (3, 3), 0, 1)
    assert conv.parse_grid_text("1 0 0; 0 1 0\n0,0,1", (3, 3), 0, 1).trace() == 3


def test_parse_cell_reads_one_typed_cell():
    assert conv.parse_cell(" −0.25 ", -2, 2) == -0.25  # the page's minus sign, spaces
    assert conv.parse_cell("2", -2, 2) == 2.0
    with pytest.raises(UserError, match="^filter cell at row 3, column 1 is 'x1', not a number"):
        conv.parse_cell("x1", -2, 2, "filter cell at row 3, column 1")
    with pytest.raises(UserError, match="is 2.5, outside −2..2"):
        conv.parse_cell("2.5", -2, 2)
    with pytest.raises(UserError, match="'-inf', which is infinite"):
        conv.parse_cell("-inf", -2, 2)


@pytest.mark.parametrize("flip", [False, True])
def test_verify_with_torch_runs_the_shown_code(flip):
    steps = conv.conv_steps(conv.colour_sample(), torch.randn(3, 3, 3), 0.3, 2, 1, "sigmoid", flip)
    code, y, diff = conv.verify_with_torch(steps)
    assert "F.conv2d(" in code and "stride=2, padding=1" in code
    assert (".flip(-1, -2)" in code) == flip
    assert y.shape == steps.output.shape and diff < 1e-4


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("options", [(3, 1, 0, "none", False), (5, 2, 2, "sigmoid", True)])
def test_payload_carries_every_step_as_computed(colour, options):
    k, stride, padding, act, flip = options
    c = 3 if colour else 1
    g = torch.Generator().manual_seed(k + c)
    x, kern = torch.rand(c, 5, 5, generator=g), torch.randn(c, k, k, generator=g).clamp(-2, 2)
    steps = conv.conv_steps(x, kern, -0.3, stride, padding, act, flip)
    names = ("R", "G", "B") if colour else None
    p = json.loads(json.dumps(steps.to_payload(names)))  # JSON-ready, nothing lost on the way
    ref = F.conv2d(
        x[None],
        (kern.flip(-1, -2) if flip else kern)[None],
        torch.tensor([-0.3]),
        stride=stride,
        padding=padding,
    )[0, 0]
    ref = torch.sigmoid(ref) if act == "sigmoid" else ref
    assert p["n"] == ref.numel() == len(p["steps"]) and p["window"] == k
    assert (p["out_rows"], p["out_cols"]) == tuple(ref.shape)
    assert len(p["inputs"]) == len(p["kernels"]) == c
    assert len(p["inputs"][0]["values"]) == 5 + 2 * padding  # the padded input is drawn
    assert [g["scale"] for g in p["inputs"]] == (["red", "green", "blue"] if colour else ["grey"])
    torch.testing.assert_close(torch.tensor(p["output"]["values"]), ref, atol=1e-5, rtol=0)
    for i, s in enumerate(p["steps"]):
        step = steps.step(i)
        assert (s["row"], s["col"], s["top"], s["left"]) == (
            step.row,
            step.col,
            step.row * stride,
            step.col * stride,
        )
        assert s["value"] == pytest.approx(float(ref[step.row, step.col]), abs=1e-5)
        prods = torch.tensor([pc["values"] for pc in s["products"]])
        torch.testing.assert_close(prods, step.patch * step.kernel, atol=1e-5, rtol=0)
        assert s["equation"] == step.equation(names)
        assert (
            s["question"].endswith("= ?")
            and conv.fmt(step.value, False) not in s["question"].splitlines()[-1]
        )
        assert s["products"][0]["text"][0][0] == conv.fmt(float(step.products[0, 0, 0]), False)


def test_question_hides_every_result_but_keeps_the_terms():
    step = conv.conv_steps(
        conv.sample("X (lesson)"), conv.preset("X detector (lesson)"), 0.5, activation="relu"
    ).step(4)
    q = step.question()
    assert q.splitlines()[0].startswith("1·1 + (−1)·0") and "+ 0.5 (bias) = ?" in q
    assert q.endswith("relu(?) = ?") and "5.5" not in q
    colour = conv.conv_steps(torch.ones(3, 5, 5), torch.ones(3, 3, 3)).step(0)
    lines = colour.question(("R", "G", "B")).splitlines()
    assert [ln[:3] for ln in lines[:3]] == ["R: ", "G: ", "B: "] and all(
        "= ?" in ln for ln in lines
    )
    assert "27" not in "".join(lines)


def test_pool_payload_matches_pooling():
    fmap = torch.tensor([[3.0, -3, 3], [-3, 5, -3], [3, -3, 3]])
    for stride, n in ((1, 4), (2, 1)):
        p = conv.pool_steps(fmap[None], "max", 2, stride).to_payload()
        assert p["n"] == n and p["kind"] == "pool" and p["kernels"] == []
        ref = F.max_pool2d(fmap[None, None], 2, stride)[0, 0]
        assert torch.tensor(p["output"]["values"]).equal(ref)
        assert p["steps"][-1]["equation"].endswith(f"= {conv.fmt(float(ref.flatten()[-1]))}")


@pytest.mark.parametrize(
    ("text", "right"),
    [("3", True), (" 3.04 ", True), ("2.96", True), ("3.06", False), ("−3", False), ("3,0", True)],
)
def test_prediction_is_right_within_the_stated_tolerance(text, right):
    verdict = conv.check_prediction(text, 3.0, "output[1, 1]")
    assert verdict.right is right
    assert "±0.05" in verdict.message and "output[1, 1] is 3" in verdict.message
    assert verdict.message.startswith("Right" if right else "Not quite")


@pytest.mark.parametrize("text", ["", "   ", "abc", "nan", "1e999", None])
def test_a_prediction_that_is_not_a_number_is_refused_not_scored(text):
    with pytest.raises(UserError, match="number"):
        conv.check_prediction(text, 3.0)


def test_cli_convolve_prints_steps_and_refuses_bad_options():
    import subprocess
    import sys

    run = [sys.executable, "-m", "cnncore", "convolve", "--activation", "relu", "--pool", "max"]
    out = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "step 5 (window at row 1, col 1)" in out.stdout and "F.conv2d agrees" in out.stdout
    assert "pool step 1: max(3, 0, 0, 5) = 5" in out.stdout
    run = [sys.executable, "-m", "cnncore", "convolve", "--stride", "2", "--json"]
    out = subprocess.run(run, capture_output=True, text=True, timeout=60)
    payload = json.loads(out.stdout)
    assert payload["n"] == 4 and payload["steps"][3]["equation"].endswith("= 3")
    assert (payload["steps"][3]["top"], payload["steps"][3]["left"]) == (2, 2)
    bad = [
        sys.executable,
        "-m",
        "cnncore",
        "convolve",
        "--input",
        "1 0 1; 0 1 0; 1 0 1",
        "--size",
        "5",
    ]
    out = subprocess.run(bad, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "larger than" in out.stderr and "Traceback" not in out.stderr
