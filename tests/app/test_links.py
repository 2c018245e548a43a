"""Share a view by link: opening a page with query values shows that view; bad values fall back,
each named in one line, never an exception."""

from streamlit.testing.v1 import AppTest

from tests.app.conftest import ENTRY, chosen, component_data, published

CONV = "views/convolution.py"


def open_with(page: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.query_params.update(query)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception
    return at


def test_convolution_link_restores_filter_options_and_step():
    at = open_with(
        CONV,
        {
            "filter": "1,0,-1,1,0,-1,1,0,-1",
            "bias": "0.5",
            "stride": "2",
            "padding": "1",
            "act": "relu",
            "op": "true convolution",
            "step": "3",
        },
    )
    assert [v for row in component_data(at, "cv_kernel_sliders")["values"] for v in row] == [
        1,
        0,
        -1,
        1,
        0,
        -1,
        1,
        0,
        -1,
    ]
    assert component_data(at, "cv_bias_slider")["values"] == [[0.5]]
    assert (chosen(at, "Stride"), chosen(at, "Zero padding")) == ("2", "1")
    assert chosen(at, "Activation") == "ReLU"
    assert chosen(at, "Operation") == "true convolution"
    assert at.session_state["cv_step"] == 3
    assert not at.warning
    # and the page keeps the address bar a link to what it shows
    link = published(at)
    assert (link["stride"], link["act"], link["step"], link["bias"]) == ("2", "relu", "3", "0.5")
    assert link["filter"] == "1,0,-1,1,0,-1,1,0,-1" and "preset" not in link  # defaults left out


def test_convolution_link_opens_the_view_it_names():
    at = open_with(CONV, {"view": "Pooling", "padding": "1"})
    assert at.session_state["cv_view"] == "Pooling"
    assert component_data(at, "cv_pool_stepper")["payload"]["n"] == 4  # pooling a 5x5 map
    assert (published(at)["view"], published(at)["padding"]) == ("Pooling", "1")
    at = open_with(CONV, {"view": "Gallery"})
    assert at.session_state["cv_view"] == "Step by step" and "view:" in at.warning[0].value


def test_colour_link_with_a_three_channel_filter():
    ones = ",".join(["0.5"] * 75)
    at = open_with(CONV, {"colour": "1", "input": ones, "filter": ",".join(["1"] * 27)})
    assert chosen(at, "Colour image (3 channels: a 3x5x5 input and a 3xkxk filter)") is True
    assert tuple(at.session_state["cv_img"].shape) == (3, 5, 5)
    assert float(at.session_state["cv_kernel"].sum()) == 27


def test_hand_edited_link_falls_back_and_says_which_values():
    at = open_with(
        CONV,
        {
            "stride": "7",
            "act": "tanh",
            "bias": "abc",
            "input": "0," * 5000,
            "filter": ",".join(["1"] * 27),
            "step": "2.5",
        },
    )
    assert len(at.warning) == 1
    text = at.warning[0].value
    for name in ("stride", "act", "bias", "input", "filter", "step"):
        assert f"{name}:" in text
    assert chosen(at, "Stride") == "1" and chosen(at, "Activation") == "none"
    assert tuple(at.session_state["cv_kernel"].shape) == (1, 3, 3)  # the preset, not 3x3x3
    at.run()
    assert len(at.warning) == 1, "the notice stays when a rerun interrupts the first run"
    at.button(key="_link_dismiss_convolution").click().run()
    assert not at.warning, "dismissed, it is gone"
    at.run()
    assert not at.warning


TRAIN = "views/training.py"


def selected(at: AppTest, label: str):
    return next(w.value for w in at.selectbox if w.label == label)


def text_value(at: AppTest, label: str) -> str:
    return next(w.value for w in at.text_input if w.label == label)


def test_training_link_restores_the_set_up_and_says_when_a_run_is_not_visible():
    at = open_with(
        TRAIN,
        {
            "model": "fcnet",
            "optimizer": "sgd",
            "lr": "0.01",
            "epochs": "2",
            "batch": "64",
            "seed": "7",
            "batches": "5",
            "run": "20260101-000000-convnet",
        },
    )
    assert selected(at, "Model") == "fcnet"
    assert at.radio(key="tp_optimizer").value == "sgd"
    assert [text_value(at, x) for x in ("Learning rate", "Epochs", "Batch size", "Seed")] == [
        "0.01",
        "2",
        "64",
        "7",
    ]
    assert text_value(at, "Batches per epoch (0 = all)") == "5"
    notes = [i.value.replace("\\", "") for i in at.info]  # shown as text: Markdown escaped
    assert any("20260101-000000-convnet" in n and "not in your workspace" in n for n in notes)
    assert published(at)["model"] == "fcnet" and published(at)["lr"] == "0.01"


def test_training_link_with_bad_values_keeps_the_defaults():
    at = open_with(TRAIN, {"epochs": "1000", "lr": "fast", "model": "resnet", "batch": "2.5"})
    assert len(at.warning) == 1
    assert all(f"{n}:" in at.warning[0].value for n in ("epochs", "lr", "model", "batch"))
    assert selected(at, "Model") == "convnet"
    assert [text_value(at, x) for x in ("Learning rate", "Epochs", "Batch size")] == [
        "0.001",
        "3",
        "256",
    ]


INV = "views/invariance.py"


def number(at: AppTest, label: str):
    return next(w.value for w in at.number_input if w.label == label)


def test_invariance_link_restores_the_comparison_settings():
    at = open_with(
        INV,
        {
            "shift": "circular",
            "models": "convnet-circular,convnet-blurpool",
            "epochs": "2",
            "K": "3",
            "seeds": "2",
            "grid": "0",
            "perm": "1",
        },
    )
    assert at.session_state["inv_shift_mode"] == "circular"
    assert at.multiselect(key="inv_models").value == ["convnet-circular", "convnet-blurpool"]
    assert number(at, "Epochs (same for all)") == 2
    assert (number(at, "Largest shift K (px)"), number(at, "Seeds")) == (3, 2)
    assert at.checkbox(key="inv_grid").value is False and at.checkbox(key="inv_perm").value
    assert not at.warning
    assert published(at)["models"] == "convnet-circular,convnet-blurpool"


def test_invariance_link_naming_runs_the_visitor_cannot_see():
    at = open_with(INV, {"source": "Use saved runs", "cnn_run": "someone-elses-run", "K": "99"})
    assert "K:" in at.warning[0].value
    assert at.radio(key="inv_mode").value == "Use saved runs"
    notes = [i.value.replace("\\", "") for i in at.info]
    assert any("someone-elses-run is not in your workspace" in n for n in notes), notes
