"""The translation-invariance page through AppTest, with tiny training budgets."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import ENTRY, component_data, open_page, slide

PAGE = "views/invariance.py"


def _wait_for_job(at, timeout: float = 240) -> None:
    """AppTest cannot fire run_every: wait for the background job, then rerun the script."""
    from app.ui.jobs import job_manager

    job = job_manager().get(at.session_state["inv_job"])
    assert job is not None
    assert job.join(timeout), "the comparison job did not finish"
    assert job.snapshot()["status"] == "finished", job.snapshot()
    at.run()
    if not at.session_state["inv_results"]:  # the panel's st.rerun needs one more run
        at.run()


def _wait_for_speeds(timeout: float = 300) -> None:
    """The page measures this machine's speed in a background thread; AppTest cannot poll."""
    from cnncore.experiments import speeds_measured
    from cnncore.jobs import WORKER_THREADS

    deadline = time.monotonic() + timeout
    while not speeds_measured(WORKER_THREADS):
        assert time.monotonic() < deadline, "the speed measurement did not finish"
        time.sleep(0.2)


def _submit(at):
    next(b for b in at.button if b.label == "Train and compare").click().run()


def test_page_opens_with_form_estimate_and_scrambled_examples():
    at = open_page(PAGE)
    assert not at.exception
    assert at.title[0].value == "Translation invariance"
    assert at.multiselect(key="inv_models").value == ["convnet", "fcnet"]
    assert any("Train and compare" in i.value for i in at.info)
    assert any(s.value == "Scrambled pixels" for s in at.subheader)
    # the time estimate is measured on this machine (once, in the background) and follows the
    # settings
    _wait_for_speeds()
    at.run()
    estimate = next(c.value for c in at.caption if "on this machine" in c.value)
    at.multiselect(key="inv_models").set_value(["convnet", "fcnet", "convnet-circular"]).run()
    bigger = next(c.value for c in at.caption if "on this machine" in c.value)
    seconds = [float(t.split("**")[1].split()[0]) for t in (estimate, bigger)]
    assert seconds[1] > seconds[0] > 0


@pytest.mark.parametrize(
    "key,value,reason",
    [
        ("inv_max_shift", 0, "shift range"),
        ("inv_max_shift", 12, "shift range"),
        ("inv_seeds", 0, "number of seeds"),
        ("inv_seeds", 9, "number of seeds"),
        ("inv_epochs", 0, "epochs"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(key, value, reason):
    at = open_page(PAGE)
    at.number_input(key=key).set_value(value)
    _submit(at)
    assert not at.exception
    assert any(reason in e.value and "Nothing was started" in e.value for e in at.error)
    assert "inv_job" not in at.session_state


def test_no_models_refused():
    at = open_page(PAGE)
    at.multiselect(key="inv_models").set_value([])
    _submit(at)
    assert any("at least one model" in e.value for e in at.error)


def test_tiny_comparison_then_shift_a_digit():
    at = open_page(PAGE, timeout=120)
    at.session_state["inv_max_batches"] = 2
    at.number_input(key="inv_epochs").set_value(1)
    at.number_input(key="inv_max_shift").set_value(2)
    _submit(at)
    assert not at.exception
    _wait_for_job(at)
    assert not at.exception
    result = at.session_state["inv_results"]["zero"]
    assert list(result.summary["model"]) == ["convnet", "fcnet"]
    assert any(s.value == "Shift one digit" for s in at.subheader)
    labels = {b.label for b in at.get("download_button")}
    assert {"summary", "accuracy_by_shift", "grid", "per_class", "ink_lost"} <= labels
    # the probabilities come from both models and change when the digit moves
    from cnncore import invariance as inv
    from cnncore.train import predict_proba

    image = at.session_state["inv_digit_now"][0]
    before = {n: predict_proba(m, image[None]) for n, m in result.models.items()}
    slide(at, "inv_dx_slider", 5)
    assert not at.exception
    assert at.session_state["inv_digit_now"][1] == 5
    # the shifts are whole numbers within the grid; what the slider would not send is ignored
    assert component_data(at, "inv_dx_slider")["decimals"] == 0
    slide(at, "inv_dy_slider", 1.2)  # rounded to the slider's step
    for bad in ("2", None, True, float("nan")):
        slide(at, "inv_dy_slider", bad)
    dy = at.session_state["inv_digit_now"][2]
    assert dy == 1 and type(dy) is int
    slide(at, "inv_dy_slider", 99)
    assert at.session_state["inv_digit_now"][2] == inv.MAX_SHIFT
    slide(at, "inv_dy_slider", 0)
    after = {
        n: predict_proba(m, inv.shift_images(image[None], 5, 0)) for n, m in result.models.items()
    }
    assert any((before[n] - after[n]).abs().max() > 1e-3 for n in before)
    # the agreement switch redraws without an error
    at.selectbox(key="inv_direction").set_value("up").run()
    assert not at.exception

    # the trained models were kept as runs, so a refresh loses nothing
    from app.ui.runs import run_store

    names = sorted(r.name for r in run_store().list())
    assert names == ["invariance: convnet, seed 0", "invariance: fcnet, seed 0"]
    # a browser refresh is a new session in the same workspace: it finds the comparison again
    again = AppTest.from_file(ENTRY, default_timeout=120)
    again.run()
    again.switch_page(PAGE).run()
    if not again.session_state["inv_results"]:  # the panel's st.rerun needs one more run
        again.run()
    assert not again.exception
    assert again.session_state["inv_results"]["zero"] is job_result(again)
    assert any(s.value == "Shift one digit" for s in again.subheader)
    # the live-training page of the same tab is not confused by the comparison job
    again.switch_page("views/training.py").run()
    assert not again.exception
    assert not any(s.value.startswith("Run:") for s in again.subheader)


def job_result(at):
    from app.ui.jobs import job_manager

    return job_manager().get(at.session_state["inv_job"]).result


def test_saved_runs_wrong_or_missing_are_explained(tmp_path):
    at = open_page(PAGE)
    at.radio(key="inv_mode").set_value("Use saved runs").run()
    assert not at.exception
    assert any("No saved runs" in c.value for c in at.caption)
    measure = next(b for b in at.button if b.label == "Measure these runs")
    assert measure.disabled


def test_saved_run_from_other_data_is_refused_by_name(tiny_data):
    from app.ui.runs import run_store
    from cnncore.train import TrainConfig, Trainer

    config = TrainConfig(model="fcnet", epochs=1, max_batches=1)
    result = Trainer(config, tiny_data).run()
    run_store().save(result, config, "fashion-mnist", name="shoes")
    at = open_page(PAGE)
    at.radio(key="inv_mode").set_value("Use saved runs").run()
    next(b for b in at.button if b.label == "Measure these runs").click().run()
    assert not at.exception
    assert any("'shoes'" in e.value and "fashion-mnist" in e.value for e in at.error)
    time.sleep(0)  # nothing was started
    assert "inv_job" not in at.session_state


def test_circular_variants_measured_then_the_same_models_with_zero_fill():
    at = open_page(PAGE, timeout=120)
    at.session_state["inv_max_batches"] = 2
    at.segmented_control(key="inv_shift_mode").set_value("circular").run()
    models = ["convnet-pool", "convnet-blurpool", "convnet-circular"]
    at.multiselect(key="inv_models").set_value(models).run()
    at.number_input(key="inv_epochs").set_value(1).run()
    at.number_input(key="inv_max_shift").set_value(2).run()
    _submit(at)
    assert not at.exception
    _wait_for_job(at)
    assert not at.exception
    result = at.session_state["inv_results"]["circular"]
    summary = result.summary.set_index("model")
    assert summary.loc["convnet-circular", "consistency_mean"] == 1.0
    page_text = " ".join(m.value for m in at.markdown)
    assert "convnet-circular, circular shifts: consistency C(2) 100.0%" in page_text
    assert "global average" in page_text and "flatten + Linear" in page_text
    assert "plain max pooling on consistency" in page_text
    # the equivariance view shows the unpooled (circular) model: its maps move exactly
    slide(at, "inv_dx_slider", -3)
    assert not at.exception
    caption = next(c.value for c in at.caption if "Largest |difference|" in c.value)
    assert float(caption.split("**")[1]) < 1e-4

    # switch to zero fill: the same trained models are measured again, without retraining
    at.segmented_control(key="inv_shift_mode").set_value("zero").run()
    assert any("measured with circular" in i.value for i in at.info)
    next(b for b in at.button if b.label.startswith("Measure with zero")).click().run()
    _wait_for_job(at)
    assert set(at.session_state["inv_results"]) == {"circular", "zero"}
    zero = at.session_state["inv_results"]["zero"]
    assert zero.all_models[("convnet-circular", 0)] is result.all_models[("convnet-circular", 0)]
    row = zero.summary.set_index("model").loc["convnet-circular"]
    assert row["ink_kept_agreement_mean"] == 1.0  # it loses only where ink left the frame
    assert any("zero-fill shifts: digits that keep all their ink" in m.value for m in at.markdown)


def _equation_and_own(at) -> tuple[str, float, str]:
    """The arithmetic panel's heading line, the model's own activation it states, and the
    equation's last line ("ReLU(pre) = act")."""
    import re

    head = next(m.value for m in at.markdown if "own activation there" in m.value)
    own = float(re.search(r"own activation there: \*\*([-\d.]+)\*\*", head).group(1))
    equation = component_data(at, "inv_rf_products_equation")["code"]
    assert "ReLU(" in equation
    return head, own, equation.strip().splitlines()[-1]


def test_clicking_a_feature_map_pixel_writes_out_its_dot_product():
    import re

    from cnncore.plots import invariance as plots

    at = open_page(PAGE, timeout=120)
    at.session_state["inv_max_batches"] = 2
    at.number_input(key="inv_epochs").set_value(1)
    at.number_input(key="inv_max_shift").set_value(2)
    _submit(at)
    _wait_for_job(at)
    slide(at, "inv_dx_slider", 3)
    assert not at.exception
    # before any click: the shifted digit's strongest pixel, written out
    head, own, relu = _equation_and_own(at)
    assert "of the digit shifted by (3, 0)" in head and "the 9x9 input pixels" in head
    assert abs(float(relu.rsplit("= ", 1)[1].replace("−", "-")) - own) < 1e-3
    # a click on the unshifted digit's third map, pixel (row 5, col 11), as Streamlit reports it
    result = at.session_state["inv_results"]["zero"]
    image = at.session_state["inv_digit_now"][0]
    from cnncore import invariance as inv

    eq = inv.equivariance(result.models["convnet"], image, 3, 0, "zero")
    channel = plots.shown_channels(eq)[2]
    # what the maps' click callback stores (the browser test clicks the real canvas)
    at.session_state["inv_eq_click"] = {"panel": "original", "column": 2, "row": 5, "col": 11}
    at.run()
    assert not at.exception
    head, own, relu = _equation_and_own(at)
    assert f"**conv 2, map {channel}, pixel (5, 11)** of the unshifted digit" in head
    assert "rows 5–13, columns 11–19" in head
    expected = float(eq["original"][channel, 5, 11])
    assert abs(own - expected) < 1e-4
    act = float(re.search(r"= ([−\d.]+)$", relu).group(1).replace("−", "-"))
    assert abs(act - own) < 1e-3, (relu, own)
