"""AppTest: the convolution page reacts to sliders, presets, options, bad edits and the quiz.

The stepper draws in the browser (tests/e2e covers its buttons); here we read what the page hands
it: the payload (from cnncore), the step it should show, and the quiz state.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import choose, chosen, component_data, open_page, slide

COLOUR = "Colour image (3 channels: a 3x5x5 input and a 3xkxk filter)"
QUIZ = "Quiz me: predict each output cell before it is revealed"
PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "convolution.py")


@pytest.fixture
def at():
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["data_source"] = "bundled"
    app.run()
    assert not app.exception
    return app


def stepper_data(app, key: str = "cv_stepper") -> dict:
    """The data the page gave the stepper component with this key."""
    return component_data(app, key)


def move_slider(app, row: int, col: int, value, key: str = "cv_kernel_sliders") -> None:
    """Move the filter slider at (row, col) (0-based), as the browser sends it."""
    slide(app, key, value, row, col)


def slider_values(app, key: str = "cv_kernel_sliders") -> list[float]:
    """The filter weights the page hands the slider grid, row by row."""
    return [v for row in component_data(app, key)["values"] for v in row]


def shown_code(app) -> str:
    """The PyTorch code the page shows under "Verify with PyTorch"."""
    return component_data(app, "cv_torch_code")["code"]


def shown_equation(app) -> str:
    """The equation the stepper shows at the step the page asks for."""
    data = stepper_data(app)
    return data["payload"]["steps"][data["step"] - 1]["equation"]


def open_view(app, name: str) -> None:
    """Open one of the tabs under the options ("Step by step", "Pooling", ...), as a click does."""
    choose(app, "Views of the result", name)
    assert not app.exception and app.session_state["cv_view"] == name


def texts(elements) -> str:
    return " | ".join(e.value for e in elements)


def test_slider_changes_equation_and_output(at):
    assert shown_equation(at).endswith("= 3")  # the lesson's X detector on the X, first window
    move_slider(at, 0, 0, 2.0)
    assert not at.exception
    assert slider_values(at)[0] == 2.0
    assert shown_equation(at).startswith("2·1 + (−1)·0") and shown_equation(at).endswith("= 4")
    assert stepper_data(at)["payload"]["output"]["values"][0][0] == 4
    open_view(at, "Verify with PyTorch")
    assert not at.error  # the PyTorch check still passes
    assert at.success and "same 3x3 map" in at.success[0].value


def test_only_the_open_view_is_computed_and_drawn(at):
    """The views under the options are tabs: a filter move redraws only the one the student has
    open, and opening another shows it for the current filter."""

    def keys() -> set[str]:
        views = {"cv_stepper", "cv_pool_stepper", "cv_torch_code", "cv_digit_fig"}
        return {
            k for k in views if any(e.proto.id.endswith(f"-{k}") for e in at.get("bidi_component"))
        }

    assert keys() == {"cv_stepper"}
    move_slider(at, 0, 0, 2.0)
    open_view(at, "Verify with PyTorch")
    assert keys() == {"cv_torch_code"} and "w = torch.tensor([[[2, -1, 1]" in shown_code(at)
    open_view(at, "Pooling")
    assert keys() == {"cv_pool_stepper"}
    assert stepper_data(at, "cv_pool_stepper")["payload"]["steps"][0]["equation"].startswith("max(")
    open_view(at, "On a real digit")
    assert keys() == {"cv_digit_fig"}
    open_view(at, "Step by step")
    assert keys() == {"cv_stepper"} and shown_equation(at).endswith("= 4")  # the moved filter


def test_the_open_view_is_kept_across_pages():
    """A trip to another page and back finds the same view open."""
    app = open_page("views/convolution.py")
    open_view(app, "Pooling")
    app.switch_page("views/training.py")
    app.run()
    app.switch_page("views/convolution.py")
    app.run()
    assert not app.exception and app.session_state["cv_view"] == "Pooling"
    assert stepper_data(app, "cv_pool_stepper")["payload"]["kind"] == "pool"


def test_bias_slider_moves_the_bias_and_refuses_what_it_does_not_send(at):
    """The bias is one slider of the same light component as the filter's (labelled "Bias"): a
    move changes the equation's bias; anything the browser's slider would not send is ignored,
    and a value is kept inside the range and on the 0.1 steps."""
    assert component_data(at, "cv_bias_slider")["labels"] == [["Bias"]]
    assert slider_values(at, "cv_bias_slider") == [0.0]
    move_slider(at, 0, 0, 0.3, key="cv_bias_slider")
    assert slider_values(at, "cv_bias_slider") == [0.3]
    assert shown_equation(at).endswith("+ 0.3 (bias) = 3.3")
    for bad in ("1", None, True, float("nan"), float("inf")):
        move_slider(at, 0, 0, bad, key="cv_bias_slider")
    move_slider(at, 0, 1, 1.0, key="cv_bias_slider")  # not a cell of a one-slider grid
    assert slider_values(at, "cv_bias_slider") == [0.3] and not at.exception
    move_slider(at, 0, 0, 9.0, key="cv_bias_slider")
    assert slider_values(at, "cv_bias_slider") == [2.0]
    move_slider(at, 0, 0, -0.4400001, key="cv_bias_slider")
    assert slider_values(at, "cv_bias_slider") == [-0.4]
    assert at.session_state["cv_bias"] == -0.4


def test_filter_slider_values_are_checked_on_the_server(at):
    """Only the browser's own sliders send values; anything else is ignored, and a value is kept
    inside the range and on the slider's 0.1 steps."""
    before = slider_values(at)
    for bad in ("abc", None, True, float("nan"), float("inf")):
        move_slider(at, 0, 0, bad)
    move_slider(at, 3, 0, 1.0)  # not a cell of the 3x3 filter
    assert slider_values(at) == before and not at.exception
    move_slider(at, 0, 1, 5.0)
    move_slider(at, 0, 2, 0.4400001)
    assert slider_values(at)[1:3] == [2.0, 0.4]
    assert shown_equation(at).startswith("1·1 + 2·0 + 0.4·0")


def test_preset_changes_kernel_and_equation(at):
    choose(at, "Preset", "identity")
    assert not at.exception
    assert slider_values(at) == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert shown_equation(at).endswith("= 1")  # the centre pixel of the first window
    assert shown_equation(at).startswith("0·1 + 0·0")


def test_option_controls_take_only_their_own_options(at):
    choose(at, "Stride", 2)
    assert stepper_data(at)["payload"]["n"] == 4
    for edit in (
        {"name": "cv_stride", "index": 3},  # there are three strides
        {"name": "cv_stride", "index": -1},
        {"name": "cv_stride", "index": True},
        {"name": "cv_stride", "index": "0"},
        {"name": "cv_stride", "index": 0.0},
        {"name": "cv_k", "index": 1},  # a control of another group
        {"name": "data_source", "index": 0},  # not a control at all
        "cv_stride",
        None,
    ):
        at.session_state["cv_options_edit"] = edit
        at.run()
        assert not at.exception, edit
        assert chosen(at, "Stride") == "2" and at.session_state["cv_stride"] == 2, edit
        assert chosen(at, "Kernel size") == "3x3" and at.session_state["data_source"] == "bundled"
    choose(at, "Stride", 1)
    assert stepper_data(at)["payload"]["n"] == 9 and chosen(at, "Stride") == "1"


def test_real_digit_number_box(at):
    def title() -> str:
        return component_data(at, "cv_digit_fig")["panels"][0]["title"]

    open_view(at, "On a real digit")
    assert title().startswith("test digit #0 ") and chosen(at, "Test digit #") == 0
    choose(at, "Test digit #", 7)
    assert title().startswith("test digit #7 ") and chosen(at, "Test digit #") == 7
    last = component_data(at, "cv_digit_choice")["controls"][0]["hi"]
    assert last == 499  # the bundled digits: 500 for testing
    for index in (last + 1, -1, 2.0, "3", None):  # the browser only sends whole numbers in range
        at.session_state["cv_digit_choice_edit"] = {"name": "cv_digit", "index": index}
        at.run()
        assert not at.exception and title().startswith("test digit #7 "), index
    choose(at, "Test digit #", last)
    assert title().startswith(f"test digit #{last} ")


def test_step_is_kept_when_the_filter_or_input_changes(at):
    at.session_state["cv_step"] = 3  # where the browser's stepper came to rest
    move_slider(at, 0, 0, 1.0, key="cv_bias_slider")
    data = stepper_data(at)
    assert data["step"] == 3 and data["payload"]["steps"][2]["equation"].endswith("= 4")
    seq = data["seq"]
    choose(at, "Sample input", "O")
    assert stepper_data(at)["step"] == 3 and stepper_data(at)["seq"] == seq  # not moved
    choose(at, "Stride", 2)  # 2x2 output: step 3 still exists
    assert stepper_data(at)["step"] == 3 and stepper_data(at)["payload"]["n"] == 4
    choose(at, "Kernel size", "5x5")  # one window left: the step is clamped to it
    assert stepper_data(at)["step"] == 1 and not at.exception


def edit_cell(app, row: int, col: int, text: str, key: str = "cv_img_grid_0") -> None:
    """What the grid's callback stores when the browser sends an edited cell (0-based), then the
    rerun the edit starts (tests/e2e types into the real cells)."""
    app.session_state[f"{key}_edit"] = {"row": row, "col": col, "text": text, "nonce": 1}
    app.run()


def grid_text(app, key: str = "cv_img_grid_0") -> list[list[str]]:
    """The cells' text the page hands the grid component."""
    return component_data(app, key)["text"]


def test_bad_grid_edits_are_refused_and_previous_value_kept(at):
    old = at.session_state["cv_img"].clone()
    shown = grid_text(at)
    for text, says in (
        ("abc", "'abc', not a number"),
        ("nan", "'nan', not a number"),
        ("1e999", "'1e999', which is infinite"),
        ("", "is empty"),
        ("2", "outside 0..1"),
        ("**x**[a](b)", r"'\*\*x\*\*\[a\]\(b\)', not a number"),  # shown as typed, not Markdown
    ):
        edit_cell(at, 1, 1, text)
        assert not at.exception
        assert at.error and "row 2, column 2" in at.error[0].value, texts(at.error)
        assert says in at.error[0].value and "previous value was kept" in at.error[0].value
        assert (at.session_state["cv_img"] == old).all()
        assert grid_text(at) == shown  # the grid is redrawn from the kept value
    at.run()  # the next action: the message has done its job
    assert not at.error


def test_good_grid_edits_change_output_twice_in_a_row(at):
    edit_cell(at, 0, 1, "1")
    assert not at.exception and not at.error
    assert at.session_state["cv_img"][0, 0, 1] == 1 and grid_text(at)[0][1] == "1"
    assert shown_equation(at).startswith("1·1 + (−1)·1")
    edit_cell(at, 0, 1, "0")  # the same cell back
    assert at.session_state["cv_img"][0, 0, 1] == 0 and shown_equation(at).endswith("= 3")
    edit_cell(at, 0, 1, " 0.25 ")
    assert at.session_state["cv_img"][0, 0, 1] == 0.25 and grid_text(at)[0][1] == "0.25"


def test_filter_grid_edits_reach_the_5x5_kernel(at):
    choose(at, "Kernel size", "5x5")
    edit_cell(at, 4, 4, "-1.5", key="cv_kernel_grid_0")
    assert not at.exception and not at.error
    assert at.session_state["cv_kernel"][0, 4, 4] == -1.5
    assert grid_text(at, "cv_kernel_grid_0")[4][4] == "-1.5"
    edit_cell(at, 0, 0, "3", key="cv_kernel_grid_0")
    assert "filter cell at row 1, column 1 is 3, outside −2..2" in at.error[0].value


def test_invalid_options_explain_themselves(at):
    open_view(at, "Pooling")
    choose(at, "Kernel size", "5x5")  # 5x5 kernel on 5x5 input: a single output
    assert not at.exception
    assert any("nothing to pool" in w.value for w in at.warning)
    assert any("single number" in i.value for i in at.info)
    assert any("1 window position." in c.value for c in at.caption), texts(at.caption)
    choose(at, "Stride", 3)
    choose(at, "Kernel size", "3x3")
    assert any("never the start of a window" in i.value for i in at.info)
    choose(at, "Stride", 2)
    assert any("2x2: 4 window positions." in c.value for c in at.caption), texts(at.caption)


def test_colour_mode_and_true_convolution(at):
    choose(at, COLOUR, True)
    assert not at.exception
    eq = shown_equation(at)
    assert eq.startswith("R: ") and "\nG: " in eq and "total: " in eq
    payload = stepper_data(at)["payload"]
    assert [g["scale"] for g in payload["inputs"]] == ["red", "green", "blue"]
    assert len(payload["steps"][0]["sums"]) == 3
    choose(at, "Operation", "true convolution")
    assert "flipped" in stepper_data(at)["payload"]["kernels"][0]["title"]
    open_view(at, "Verify with PyTorch")
    assert ".flip(-1, -2)" in shown_code(at)
    assert at.success  # still equal to PyTorch


def test_pooling_has_its_own_stepper(at):
    open_view(at, "Pooling")
    choose(at, "Zero padding", 1)  # 5x5 output map
    pool = stepper_data(at, "cv_pool_stepper")
    assert pool["payload"]["kind"] == "pool" and pool["payload"]["n"] == 4
    assert pool["payload"]["steps"][0]["equation"].startswith("max(")
    choose(at, "Pooling stride", 1)
    assert stepper_data(at, "cv_pool_stepper")["payload"]["n"] == 16


def quiz_answer(app, text: str) -> None:
    app.text_input(key="cv_guess").input(text)
    app.button[[b.label for b in app.button].index("Check")].click().run()
    assert not app.exception


def test_quiz_right_wrong_and_bad_input(at):
    at.session_state["cv_step"] = 5
    choose(at, QUIZ, True)
    data = stepper_data(at)
    assert data["quiz"] == {"revealed": 0} and data["step"] == 1  # back to the first cell
    assert "output[0, 0]" in at.text_input(key="cv_guess").label
    open_view(at, "Pooling")
    assert "Pooling shows the whole output map" in texts(at.caption)
    open_view(at, "Step by step")

    quiz_answer(at, "abc")
    assert "not a number" in texts(at.warning) and "no point lost" in texts(at.warning)
    assert "0 of 0 right" in texts(at.caption)
    assert stepper_data(at)["quiz"] == {"revealed": 0}
    quiz_answer(at, "")
    assert "Type your prediction for output[0, 0] first" in texts(at.warning)

    quiz_answer(at, "3")  # the X detector on the X's first window
    assert "Right" in texts(at.success) and "±0.05" in texts(at.success)
    assert "1 of 1 right" in texts(at.caption)
    data = stepper_data(at)
    assert data["quiz"] == {"revealed": 1} and data["step"] == 1  # the revealed cell, shown
    assert "output[0, 1]" in at.text_input(key="cv_guess").label

    quiz_answer(at, "1")  # output[0, 1] is −3
    assert "Not quite" in texts(at.error) and "is −3" in texts(at.error)
    assert "1 of 2 right" in texts(at.caption)
    assert stepper_data(at)["step"] == 2

    move_slider(at, 0, 0, 0.5, key="cv_bias_slider")  # new numbers: the quiz starts over
    assert stepper_data(at)["quiz"] == {"revealed": 0} and stepper_data(at)["step"] == 1
    assert "starts again" in texts(at.info)


@pytest.mark.parametrize(
    "options",
    [
        {COLOUR: True},
        {"Stride": 2, "Zero padding": 2, "Activation": "sigmoid"},
        {"Kernel size": "5x5", "Activation": "ReLU"},
    ],
)
def test_quiz_works_with_every_option(at, options):
    for label, option in options.items():
        choose(at, label, option)
    choose(at, QUIZ, True)
    n = stepper_data(at)["payload"]["n"]
    for i in range(n):
        value = stepper_data(at)["payload"]["steps"][i]["value"]
        quiz_answer(at, f"{value:.4f}")
        assert "Right" in texts(at.success), texts(at.error + at.warning)
    assert f"{n} of {n} right" in texts(at.caption) and "All cells revealed" in texts(at.caption)
    assert stepper_data(at)["quiz"] == {"revealed": n}
    open_view(at, "Pooling")
    assert stepper_data(at, "cv_pool_stepper") if n >= 4 else True  # pooling is back


def test_learned_filter_from_a_saved_run_loads_into_the_filter(tiny_data):
    import torch

    from app.ui.runs import run_store
    from cnncore.train import TrainConfig, Trainer

    config = TrainConfig(epochs=1, max_batches=2)
    result = Trainer(config, tiny_data).run()
    run_id = run_store().save(result, config, "bundled", name="tiny")
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["data_source"] = "bundled"
    app.run()
    assert app.selectbox(key="cv_run").value == run_id
    app.number_input(key="cv_filter_idx").set_value(3).run()
    app.button[[b.label for b in app.button].index("Load into the filter")].click().run()
    assert not app.exception
    assert any("filter 3 of the first layer" in s.value for s in app.success)
    learned = result.model.first_layer_filters()[3, 0]
    loaded = app.session_state["cv_kernel"][0]
    assert loaded.shape == (5, 5) and torch.allclose(loaded, learned.clamp(-2, 2), atol=1e-3)
    assert chosen(app, "Kernel size") == "5x5"
    assert stepper_data(app)["payload"]["window"] == 5
