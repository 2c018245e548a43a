"""Run store additions for the training page: zip export, TensorBoard events, upload cap,
and the analysis/plot helpers a run's report is made of."""

import io
import json
import zipfile

import pytest
import torch

from cnncore import runs as runs_mod
from cnncore import weights as weights_mod
from cnncore.analysis import confusion_matrix, ema_debiased, evaluate_split
from cnncore.errors import UserError
from cnncore.plots import training as plots
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, Trainer


@pytest.fixture
def saved(tiny_data, tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, max_batches=3, precision="fp32")
    result = Trainer(config, tiny_data).run()
    store = RunStore(tmp_path)
    return store, store.save(result, config, "bundled", name="zipped", tensorboard=True), result


def test_zip_has_everything_and_round_trips(saved, tiny_data):
    store, run_id, result = saved
    model, _ = store.load_model(run_id)
    html = plots.run_report_html(store.info(run_id), store.metrics(run_id), model, tiny_data)
    data = store.export_zip(run_id, html)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        assert {"config.json", "metrics.csv", "model.pt", "report.html"} <= names
        assert any(n.startswith("events.out.tfevents") for n in names)
        meta = json.loads(zf.read(f"{run_id}/config.json"))
        assert meta["name"] == "zipped"
        state = torch.load(io.BytesIO(zf.read(f"{run_id}/model.pt")), weights_only=True)
        report = zf.read(f"{run_id}/report.html").decode()
    for k, v in result.model.state_dict().items():
        torch.testing.assert_close(state[k], v.cpu())
    assert "Confusion matrix" in report and "plotly" in report.lower()


def test_tensorboard_events_hold_the_losses(saved):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store, run_id, result = saved
    acc = EventAccumulator(str(store.root / run_id))
    acc.Reload()
    train = [e.value for e in acc.Scalars("Loss/Train")]
    expected = result.metrics.query("kind == 'train'")["loss"].tolist()
    assert train == pytest.approx(expected, rel=1e-5)
    assert [e.step for e in acc.Scalars("Accuracy/Validation")] == [3]


def test_upload_size_cap_refuses_and_saves_nothing(tmp_path, monkeypatch):
    from cnncore.models import build_model

    store = RunStore(tmp_path)
    monkeypatch.setattr(weights_mod, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(UserError, match="over the 0.000954 MB limit"):
        store.import_weights(runs_mod.state_dict_bytes(build_model("convnet")), "convnet", "big")
    assert store.list() == []


def test_history_from_metrics_matches_live_markers(tiny_data):
    from cnncore.jobs import TrainingJob

    job = TrainingJob(
        TrainConfig(epochs=1, batch_size=32, max_batches=6, precision="fp32"), tiny_data
    )
    job.control.set_lr(5e-4)  # applied before the first batch
    job.start()
    assert job.join(60)
    saved = plots.history_from_metrics(job.result.metrics)
    live = job.history()
    assert saved["steps"] == live["steps"] and saved["losses"] == pytest.approx(live["losses"])
    assert [m["kind"] for m in saved["markers"]] == [m["kind"] for m in live["markers"]] == ["lr"]
    assert saved["markers"][0]["lr"] == pytest.approx(5e-4)
    fig = plots.loss_figure(saved, 0.6, log_y=True)
    assert fig.layout.yaxis.type == "log" and len(fig.layout.shapes) == 1


def test_ema_debiased_against_formula():
    xs = [4.0, 2.0, 3.0, float("nan"), 1.0]
    w = 0.5
    s1 = 0.5 * 4.0
    s2 = w * s1 + 0.5 * 2.0
    s3 = w * s2 + 0.5 * 3.0
    s4 = w * s3 + 0.5 * 1.0
    out = ema_debiased(xs, w)
    assert out[0] == pytest.approx(4.0)  # debiased: the first point is the first loss
    assert out[1:3] == pytest.approx([s2 / (1 - w**2), s3 / (1 - w**3)])
    assert out[3] != out[3] and out[4] == pytest.approx(s4 / (1 - w**4))
    assert ema_debiased(xs[:3], 0.0) == xs[:3]


def test_confusion_matrix_and_mistakes(tiny_data, saved):
    labels = torch.tensor([0, 1, 1, 2])
    preds = torch.tensor([0, 2, 1, 2])
    cm = confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    store, run_id, _ = saved
    model, _ = store.load_model(run_id)
    ev = evaluate_split(model, tiny_data.test)
    assert int(ev.confusion.sum()) == len(tiny_data.test)
    assert ev.accuracy == pytest.approx(float(ev.confusion.diag().sum()) / len(tiny_data.test))
    wrong = ev.mistakes(5)
    assert all(ev.preds[i] != ev.labels[i] for i in wrong)
    conf = [float(ev.probs[i, ev.preds[i]]) for i in wrong]
    assert conf == sorted(conf, reverse=True)
