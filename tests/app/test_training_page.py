"""The live training page through AppTest: a tiny run end to end, bad input refused."""

import io

import torch

from tests.app.conftest import open_page

PAGE = "views/training.py"


def set_number(at, label, value):
    next(w for w in at.number_input if w.label == label).set_value(value)


def start(at):
    next(b for b in at.button if b.label == "Start training").click()
    at.run()


def session_jobs():
    from app.ui.jobs import job_manager

    return job_manager().jobs()


def test_tiny_run_trains_saves_and_shows_results():
    at = open_page(PAGE)
    assert not at.exception
    before = {j.id for j in session_jobs()}
    set_number(at, "Epochs", 1)
    set_number(at, "Batch size", 32)
    set_number(at, "Batches per epoch (0 = all)", 4)
    next(w for w in at.text_input if w.label == "Run name (optional)").set_value("apptest run")
    start(at)
    assert not at.exception and not at.error
    new = [j for j in session_jobs() if j.id not in before]
    assert len(new) == 1
    job = new[0]
    assert job.join(120) and job.status == "finished", job.error
    at.run()
    assert not at.exception
    assert any(f"Saved as run **{job.run_id}**" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "finished"
    assert metrics["Test accuracy (bundled)"].endswith("%")
    assert any("4 batches plotted" in c.value for c in at.caption)
    from app.ui.runs import run_store

    assert run_store().info(job.run_id).name == "apptest run"
    assert next(b for b in at.button if b.label == "Start training").disabled is False


def test_bad_hyperparameters_refused_with_reason():
    at = open_page(PAGE)
    before = len(session_jobs())
    next(w for w in at.text_input if w.label == "Learning rate").set_value("fast")
    start(at)
    assert not at.exception
    assert "learning rate 'fast' is not a number" in at.error[0].value
    at.error  # noqa: B018
    next(w for w in at.text_input if w.label == "Learning rate").set_value("0.001")
    set_number(at, "Batch size", 0)
    start(at)
    assert "batch size must be a whole number from 1 to 4096" in at.error[0].value
    set_number(at, "Batch size", 32)
    set_number(at, "Epochs", 0)
    start(at)
    assert "epochs must be a whole number >= 1" in at.error[0].value
    assert len(session_jobs()) == before, "a job started despite bad input"


def upload(at, payload: bytes, model: str = "convnet"):
    next(w for w in at.selectbox if w.label == "Model the weights are for").set_value(model)
    at.file_uploader[0].set_value(("weights.pt", payload, "application/octet-stream"))
    next(b for b in at.button if b.label == "Import weights").click()
    at.run()
    assert not at.exception


def test_uploads_bad_refused_good_imported():
    from app.ui.runs import run_store
    from cnncore.models import build_model
    from cnncore.runs import state_dict_bytes

    at = open_page(PAGE)
    wrong_shapes = io.BytesIO()
    torch.save({"weight": torch.zeros(3)}, wrong_shapes)
    fcnet = state_dict_bytes(build_model("fcnet"))
    for payload, reason in ((b"not a torch file", "not a PyTorch weights file"),
                            (wrong_shapes.getvalue(), "does not fit the convnet model"),
                            (fcnet, "does not fit the convnet model")):  # fmt: skip
        upload(at, payload)
        assert len(at.error) == 1 and "Not imported" in at.error[0].value
        assert reason in at.error[0].value
        assert run_store().list() == [], "a refused upload changed the run store"
    upload(at, fcnet, "fcnet")
    assert not at.error and "Imported as run" in at.success[0].value
    (info,) = run_store().list()
    assert info.config["model"] == "fcnet" and info.status == "imported"
