"""AppTest: the convolution page reacts to sliders, presets, options and bad edits."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "views" / "convolution.py")


@pytest.fixture
def at():
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["data_source"] = "bundled"
    app.run()
    assert not app.exception
    return app


def _equation(app):
    return app.code[0].value


def test_slider_changes_equation_and_output(at):
    before = _equation(at)
    assert before.endswith("= 3")  # the lesson's X detector on the X, first window
    at.slider(key="cv_w_0_0").set_value(2.0).run()
    assert not at.exception
    assert _equation(at).startswith("2·1 + (−1)·0") and _equation(at).endswith("= 4")
    assert not at.error  # the PyTorch check still passes
    assert at.success and "same 3x3 map" in at.success[0].value


def test_preset_changes_kernel_and_equation(at):
    at.selectbox(key="cv_preset").set_value("identity").run()
    assert not at.exception
    assert at.slider(key="cv_w_1_1").value == 1.0 and at.slider(key="cv_w_0_0").value == 0.0
    assert _equation(at).endswith("= 1")  # the centre pixel of the first window
    assert _equation(at).startswith("0·1 + 0·0")


def test_step_is_kept_when_the_filter_changes(at):
    at.button[1].click().run()  # Step ▶
    at.button[1].click().run()
    assert at.session_state["cv_step"] == 3
    at.slider(key="cv_bias").set_value(1.0).run()
    assert at.session_state["cv_step"] == 3
    assert any("Step 3 of 9" in m.value and "output[0, 2]" in m.value for m in at.markdown)
    at.button[0].click().run()  # ◀ Back
    assert at.session_state["cv_step"] == 2 and not at.exception


def test_bad_grid_edit_is_refused_and_previous_value_kept(at):
    key = f"cv_img_0_{at.session_state['cv_img_ver']}"
    old = at.session_state["cv_img"].clone()
    at.session_state[key] = {"edited_rows": {1: {"2": "abc"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert (
        at.error and "row 2, column 2" in at.error[0].value and "not a number" in at.error[0].value
    )
    assert "previous value was kept" in at.error[0].value
    assert (at.session_state["cv_img"] == old).all()


def test_good_grid_edit_changes_output(at):
    key = f"cv_img_0_{at.session_state['cv_img_ver']}"
    at.session_state[key] = {"edited_rows": {0: {"2": "1"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["cv_img"][0, 0, 1] == 1
    assert _equation(at).startswith("1·1 + (−1)·1")


def test_invalid_options_explain_themselves(at):
    at.radio(key="cv_k").set_value(5).run()  # 5x5 kernel on 5x5 input: a single output
    assert not at.exception
    assert any("nothing to pool" in w.value for w in at.warning)
    assert any("single number" in i.value for i in at.info)
    at.selectbox(key="cv_stride").set_value(3)
    at.radio(key="cv_k").set_value(3).run()
    assert any("never the start of a window" in i.value for i in at.info)


def test_colour_mode_and_true_convolution(at):
    at.toggle(key="cv_colour").set_value(True).run()
    assert not at.exception
    eq = _equation(at)
    assert eq.startswith("R: ") and "\nG: " in eq and "total: " in eq
    at.radio(key="cv_mode").set_value("true convolution").run()
    assert not at.exception and ".flip(-1, -2)" in at.code[1].value
    assert at.success  # still equal to PyTorch


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
    # The grid editor shows (and keeps) three decimals.
    assert loaded.shape == (5, 5) and torch.allclose(loaded, learned.clamp(-2, 2), atol=1e-3)
    assert app.radio(key="cv_k").value == 5
