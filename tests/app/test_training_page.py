"""The live training page through AppTest: a tiny run end to end, bad input refused with a reason
that stays on screen, run names shown as text, delete that asks each time, take-home exports and
the feature-map arithmetic."""

import html
import io
import re

import torch

from tests.app.conftest import component_data, open_page

PAGE = "views/training.py"
EVIL = "![t](http://127.0.0.1:9/p.png) **bold**"


def shown(el) -> str:
    """What a Markdown element shows (the page escapes visitor text with backslashes)."""
    return re.sub(r"\\(.)", r"\1", el.value)


def texts(elements) -> list[str]:
    return [shown(e) for e in elements]


def set_text(at, label, value):
    next(w for w in at.text_input if w.label == label).set_value(str(value))


def click(at, label):
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception


def session_jobs():
    from app.ui.jobs import job_manager

    return job_manager().jobs()


def store():
    from app.ui.runs import run_store

    return run_store()


def test_tiny_run_trains_saves_and_shows_results():
    at = open_page(PAGE)
    assert not at.exception
    before = {j.id for j in session_jobs()}
    set_text(at, "Epochs", 1)
    set_text(at, "Batch size", 32)
    set_text(at, "Batches per epoch (0 = all)", 4)
    set_text(at, "Run name (optional)", "apptest run")
    click(at, "Start training")
    assert not at.error
    new = [j for j in session_jobs() if j.id not in before]
    assert len(new) == 1
    job = new[0]
    assert job.join(120) and job.status == "finished", job.error
    at.run()
    assert not at.exception
    assert any("Saved as run" in t and job.run_id in t for t in texts(at.success))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "finished"
    assert metrics["Test accuracy (bundled)"].endswith("%")
    assert component_data(at, "loss_chart")["note"] == "4 batches plotted"
    progress = component_data(at, "tp_progress")
    assert progress["state"]["text"].startswith("epoch 1/1 · batch 4/4")
    assert progress["feed"] is None  # an ended job: nothing left to ask the server for
    assert not any("batch 0/0" in t for t in texts(at.markdown))
    assert store().info(job.run_id).name == "apptest run"
    assert next(b for b in at.button if b.label == "Start training").disabled is False
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Take home: Python script (.py)" in labels
    assert "Take home: Jupyter notebook (.ipynb)" in labels


def test_the_pictures_of_a_version_are_sent_once_and_again_when_the_browser_asks():
    """The filters and feature maps (~120 kB of numbers) go to the browser once per version; the
    runs after send only the version. A browser that has not drawn them (a fresh mount) asks,
    which takes back the "sent" mark (what the component's ``missing`` trigger does)."""
    at = open_page(PAGE)
    before = {j.id for j in session_jobs()}
    set_text(at, "Epochs", 1)
    set_text(at, "Batch size", 32)
    set_text(at, "Batches per epoch (0 = all)", 2)
    click(at, "Start training")
    job = next(j for j in session_jobs() if j.id not in before)
    assert job.join(120) and job.status == "finished", job.error
    at.run()  # (its pictures were sent at the latest here)
    at.run()
    version = component_data(at, "weights_pictures")["version"]
    assert version.startswith(job.id)
    assert component_data(at, "weights_pictures") == {"version": version, "feed": None}
    del at.session_state["weights_pictures_sent"]  # the browser asked for what it lacks
    at.run()
    again = component_data(at, "weights_pictures")
    assert again["version"] == version and len(again["filters"]["maps"]) == 16
    at.run()
    assert component_data(at, "weights_pictures") == {"version": version, "feed": None}


def estimate_seconds_shown(at) -> float:
    line = next(c.value for c in at.caption if c.value.startswith("Estimated time"))
    n, unit = re.search(r"about (\d+) (s|min)", line).groups()
    return float(n) * (60 if unit == "min" else 1)


def test_the_estimate_follows_the_set_up_before_start():
    at = open_page(PAGE)
    set_text(at, "Epochs", 3)
    at.run()
    three = estimate_seconds_shown(at)
    set_text(at, "Epochs", 30)  # typed, not started
    at.run()
    assert estimate_seconds_shown(at) > 5 * three
    assert not session_jobs() or all(j.config.epochs != 30 for j in session_jobs())


def test_bad_set_up_says_why_start_did_nothing_and_the_reason_stays():
    at = open_page(PAGE)
    before = len(session_jobs())
    cases = [
        ("Learning rate", "fast", "learning rate 'fast' is not a number"),
        ("Epochs", "1000", "epochs must be from 1 to 100 (you typed 1000)"),
        ("Epochs", "-3", "epochs must be from 1 to 100 (you typed -3)"),
        ("Epochs", "2.5", "epochs '2.5' is not a whole number"),
        ("Batch size", "0", "batch size must be a whole number from 1 to 4096"),
    ]
    good = {"Learning rate": "0.001", "Epochs": "1", "Batch size": "32"}
    for label, value, reason in cases:
        for k, v in good.items():
            set_text(at, k, v)
        set_text(at, label, value)
        click(at, "Start training")
        assert len(at.error) == 1 and reason in shown(at.error[0]), texts(at.error)
        at.run()  # a refresh of the page (as the live panel's polling does) keeps it
        assert len(at.error) == 1 and reason in shown(at.error[0])
    assert len(session_jobs()) == before, "a job started despite bad input"


def test_learning_rate_messages_stay_until_the_next_action():
    at = open_page(PAGE)
    set_text(at, "Epochs", 5)
    set_text(at, "Batch size", 16)
    click(at, "Start training")
    job = session_jobs()[-1]
    try:
        click(at, "Pause")
        lr_box = next(w for w in at.number_input if w.label == "New learning rate")
        lr_box.set_value(50.0)
        click(at, "Apply learning rate")
        assert any("at most 10" in t for t in texts(at.error)), texts(at.error)
        at.run()
        assert any("at most 10" in t for t in texts(at.error))
        next(w for w in at.number_input if w.label == "New learning rate").set_value(0.0002)
        click(at, "Apply learning rate")
        assert not at.error
        note = "learning rate 0.001 → 0.0002 from the next batch"
        assert note in texts(at.info)
        at.run()
        at.run()
        assert note in texts(at.info), "the confirmation vanished with a refresh"
        click(at, "Resume")  # the next action clears it
        assert note not in texts(at.info)
    finally:
        job.stop()
        assert job.join(120)


def upload(at, payload: bytes, model: str = "convnet", name: str = "uploaded weights"):
    next(w for w in at.selectbox if w.label == "Model the weights are for").set_value(model)
    at.file_uploader[0].set_value(("weights.pt", payload, "application/octet-stream"))
    set_text(at, "Name for the imported run", name)
    click(at, "Import weights")


def test_uploads_bad_refused_good_imported():
    from cnncore.models import build_model
    from cnncore.runs import state_dict_bytes

    at = open_page(PAGE)
    wrong_shapes = io.BytesIO()
    torch.save({"weight": torch.zeros(3)}, wrong_shapes)
    fcnet = state_dict_bytes(build_model("fcnet"))
    for payload, reason in (
        (b"not a torch file", "not a PyTorch weights file"),
        (wrong_shapes.getvalue(), "does not fit the convnet model"),
        (fcnet, "does not fit the convnet model"),
    ):
        upload(at, payload)
        assert len(at.error) == 1 and "Not imported" in shown(at.error[0])
        assert reason in shown(at.error[0])
        assert store().list() == [], "a refused upload changed the run store"
    upload(at, fcnet, "fcnet")
    assert not at.error and "Imported as run" in shown(at.success[0])
    at.run()
    assert "Imported as run" in shown(at.success[0]), "the upload result vanished on a refresh"
    (info,) = store().list()
    assert info.config["model"] == "fcnet" and info.status == "imported"


def test_names_are_text_pickers_tell_twins_apart_and_delete_asks_each_time():
    from cnncore.models import build_model
    from cnncore.runs import state_dict_bytes

    at = open_page(PAGE)
    weights = state_dict_bytes(build_model("convnet"))
    upload(at, weights, name=EVIL)
    upload(at, weights, name=EVIL)
    twins = store().list()
    assert len(twins) == 2 and twins[0].name == twins[1].name == EVIL
    # Every Markdown-rendering element escapes the name: no live image or bold syntax.
    rendered = [
        e.value
        for kind in ("markdown", "caption", "success", "error", "info", "subheader")
        for e in getattr(at, kind)
    ]
    for value in rendered:
        assert not re.search(r"(?<!\\)!(?<!\\)\[|(?<!\\)\*\*bold", value), value
    assert EVIL in [t.value for t in at.text]  # shown as typed, with st.text
    picker = next(s for s in at.selectbox if s.label == "Run" and s.key == "manage_run")
    assert len(set(picker.options)) == 2, picker.options  # twins told apart by their ids
    assert all(EVIL in label for label in picker.options)

    victim = twins[1].id  # the older twin, picked by id
    picker.set_value(victim).run()
    next(c for c in at.checkbox if c.label == "Really delete").check().run()
    click(at, "Delete run")
    assert [r.id for r in store().list()] == [twins[0].id], "deleted the wrong twin"
    assert next(c for c in at.checkbox if c.label == "Really delete").value is False
    assert next(b for b in at.button if b.label == "Delete run").disabled
    assert any(f"Deleted run {EVIL} ({victim})" in t for t in texts(at.success))

    set_text(at, "New name", "kept")
    click(at, "Rename")
    assert store().info(twins[0].id).name == "kept"


def test_feature_map_arithmetic_matches_the_models_activation():
    from cnncore.models import build_model
    from cnncore.runs import state_dict_bytes

    torch.manual_seed(0)
    at = open_page(PAGE)
    upload(at, state_dict_bytes(build_model("convnet")), name="arith")
    at.run()
    for layer, field in ((1, "5x5"), (2, "9x9")):
        next(r for r in at.radio if r.label == "Convolution").set_value(layer).run()
        assert not at.exception
        head = next(t for t in texts(at.markdown) if t.startswith(f"**conv {layer}, map 0"))
        assert f"the {field} input pixels" in head
        own = float(re.search(r"own activation there: \*\*([-\d.]+)\*\*", head).group(1))
        shown_code = component_data(at, "rf_products_equation")
        equation = shown_code["code"]  # plain text (not st.code: a 1.5 MB highlighter to load)
        assert "ReLU(" in equation and shown_code["html"] == html.escape(equation)
        assert not at.code
        assert equation.count("(bias)") == 1
        relu = equation.strip().splitlines()[-1]  # "ReLU(pre) = act"
        act = float(relu.rsplit("= ", 1)[1].replace("−", "-"))
        assert abs(act - own) < 1e-3, (relu, own)
        if layer == 2:
            assert "the other 13 channels" in equation
    assert any("standardises each input pixel" in c.value for c in at.caption)


def interrupted(name: str, kill_step: int = 6, config=None) -> str:
    """An interrupted run in the visitor's workspace (a Trainer killed mid-epoch 2)."""
    from cnncore.data import load_data
    from cnncore.train import TrainConfig
    from tests.test_resume import interrupted_run

    config = config or TrainConfig(epochs=3, batch_size=16, max_batches=4, precision="fp32")
    kill = lambda e: e.kind == "train" and e.step == kill_step  # noqa: E731
    return interrupted_run(store(), load_data("bundled"), kill, config, name=name)


def test_resume_button_continues_an_interrupted_run_in_the_live_panel():
    import shutil

    from cnncore.runs import RESUME_FILE

    run_id = interrupted(EVIL)
    early = interrupted("early", kill_step=2)  # before its first epoch ended: not resumable
    old = interrupted("old")
    (store().root / old / RESUME_FILE).unlink()  # as saved before resume existed
    gallery = store().root.parent.parent / "gallery"
    gallery.mkdir()
    shutil.copytree(store().root / run_id, gallery / "gallery-copy")  # never offered

    at = open_page(PAGE)
    assert not at.exception
    picker = next(s for s in at.selectbox if s.key == "resume_pick")
    ours = (run_id, early, old)  # the gallery copy is not offered
    assert len(picker.options) == 3
    assert all(any(f"({i})" in o for i in ours) for o in picker.options)
    picker.set_value(early).run()
    assert not [b for b in at.button if b.label == "Resume training"]
    assert any("cannot be resumed" in t.value and "no epoch had ended" in t.value for t in at.text)
    picker = next(s for s in at.selectbox if s.key == "resume_pick")
    picker.set_value(old).run()
    assert any("no resume state" in t.value for t in at.text)
    next(s for s in at.selectbox if s.key == "resume_pick").set_value(run_id).run()
    assert "Continues after epoch 1 of 3." in [t.value for t in at.text]
    rendered = [
        e.value for kind in ("markdown", "caption", "success", "info") for e in getattr(at, kind)
    ]
    assert not any(re.search(r"(?<!\\)!(?<!\\)\[", v) for v in rendered)  # the name stays text

    before = {j.id for j in session_jobs()}
    click(at, "Resume training")
    (job,) = [j for j in session_jobs() if j.id not in before]
    assert job.resume_run == run_id and job.name == EVIL
    assert any(f"Resuming run {run_id}" in t for t in texts(at.success))
    assert any(EVIL in s for s in texts(at.subheader))  # the live panel shows it
    assert job.join(120) and job.status == "finished", job.error
    at.run()
    assert not at.exception
    assert any("Saved as run" in t and run_id in t for t in texts(at.success))
    assert next(s for s in at.selectbox if s.key == "result_run").value == run_id
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
    info = store().info(run_id)
    assert info.status == "finished" and info.name == EVIL
    steps = store().metrics(run_id).query("kind == 'train'")["step"].tolist()
    assert steps == list(range(1, 13))
    picker = next(s for s in at.selectbox if s.key == "resume_pick")
    assert len(picker.options) == 2 and not any(f"({run_id})" in o for o in picker.options)
