"""cnncore.runs: runs written as they train, folders that appear whole, ids that never collide,
interrupted runs, and folders of any content listed (damaged with a reason), never raising."""

import json
import os
import stat
import threading

import pandas as pd
import pytest
import torch

from cnncore import runs as runs_mod
from cnncore.errors import UserError
from cnncore.jobs import TrainingJob
from cnncore.models import build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, Trainer

CONFIG = TrainConfig(epochs=2, batch_size=16, max_batches=3, precision="fp32")


def row(step, kind="train", loss=1.0):
    return {"step": step, "epoch": 1, "kind": kind, "loss": loss, "lr": 1e-3, "seconds": 0.1}


def test_a_run_is_on_disk_while_it_trains_and_lists_interrupted_when_its_writer_dies(tmp_path):
    store = RunStore(tmp_path)
    writer = store.begin(CONFIG, "bundled", name="live")
    assert store.info(writer.id).status == "running"  # the lock is held: a writer is alive
    writer.append([row(1, loss=2.5), row(2, loss=2.0)])
    assert store.metrics(writer.id)["loss"].tolist() == [2.5, 2.0]  # on disk, not buffered
    with pytest.raises(UserError, match="no weights"):
        store.load_model(writer.id)
    model = build_model("convnet")
    writer.checkpoint(model, 1)
    writer.append([row(3, loss=1.5)])
    with pytest.raises(UserError, match="still training"):
        store.delete(writer.id)
    writer.close()  # as a killed process would: no end status, lock gone

    info = store.info(writer.id)
    assert info.status == "interrupted" and not info.damaged
    assert info.checkpoint_epoch == 1 and "weights of epoch 1" in info.note
    assert info.summary["message"] == info.note  # what a page shows as the run's message
    assert store.table()["status"].tolist() == ["interrupted"]
    assert store.metrics(writer.id)["loss"].tolist() == [2.5, 2.0, 1.5]
    loaded, _ = store.load_model(writer.id)
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    store.delete(writer.id)  # an interrupted run can be deleted
    assert store.list() == []


def test_interrupted_before_any_epoch_ended_lists_without_weights(tmp_path):
    store = RunStore(tmp_path)
    with store.begin(CONFIG, "bundled") as writer:
        writer.append([row(1)])
    info = store.info(writer.id)
    assert info.status == "interrupted" and info.checkpoint_epoch is None
    assert "no epoch had ended" in info.note


def test_folder_appears_whole_and_ids_never_collide(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    seen = []
    real_rename = os.rename

    def watching_rename(src, dst):
        seen.append((sorted(os.listdir(src)), [r.id for r in store.list()]))
        return real_rename(src, dst)

    monkeypatch.setattr(runs_mod.os, "rename", watching_rename)
    writer = store.begin(CONFIG, "bundled", run_id="same")
    monkeypatch.undo()
    # At the moment it is renamed into place the folder is complete, and not listed before.
    assert seen == [([".lock", "config.json", "metrics.csv"], [])]
    writer.close()

    writers, errors = [], []

    def start():
        try:
            writers.append(store.begin(CONFIG, "bundled", run_id="same"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = sorted(w.id for w in writers)
    assert len(set(ids)) == 8 and "same" not in ids
    for w in writers:
        assert json.loads((tmp_path / w.id / "config.json").read_text())["id"] == w.id
        w.close()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".new-")]  # no leftovers


def test_finished_run_round_trips_and_files_are_readable_by_others(tiny_data, tmp_path):
    store = RunStore(tmp_path)
    result = Trainer(CONFIG, tiny_data).run()
    run_id = store.save(result, CONFIG, "bundled", name="done")
    folder = tmp_path / run_id
    umask = runs_mod._umask()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755 & ~umask
    for name in ("config.json", "metrics.csv", "model.pt", ".lock"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644 & ~umask, name
    info = store.info(run_id)
    assert (info.status, info.name, info.damaged) == ("finished", "done", "")
    saved = store.metrics(run_id)
    assert saved["loss"].tolist() == pytest.approx(result.metrics["loss"].tolist(), nan_ok=True)


def test_rename_while_training_is_kept_at_the_end(tiny_data, tmp_path):
    store = RunStore(tmp_path)
    writer = store.begin(CONFIG, "bundled", name="before")
    store.rename(writer.id, "after")
    writer.checkpoint(build_model("convnet"), 1)
    result = Trainer(CONFIG, tiny_data).run()
    writer.finish(result)
    assert store.info(writer.id).name == "after"
    assert store.info(writer.id).status == "finished"


def _meta(**changes):
    meta = {
        "id": "x",
        "name": "odd",
        "created": "2026-01-01 10:00:00",
        "config": TrainConfig().to_dict(),
        "summary": {"status": "finished", "data": "bundled"},
    }
    for key, value in changes.items():
        if key in ("lr", "epochs", "model"):
            meta["config"][key] = value
        elif key in ("status", "val_accuracy", "message"):
            meta["summary"][key] = value
        else:
            meta[key] = value
    return json.dumps(meta)


ODD_FOLDERS = {
    "created-5": (_meta(created=5), "created is not a date"),
    "name-list": (_meta(name=["a"]), "name is not text"),
    "config-string": (_meta(config="convnet"), "no training settings"),
    "lr-text": (_meta(lr="fast"), "invalid training settings"),
    "epochs-negative": (_meta(epochs=-1), "invalid training settings (epochs"),
    "model-unknown": (_meta(model="resnet"), "invalid training settings (model"),
    "status-odd": (_meta(status="great"), "unknown status"),
    "acc-text": (_meta(val_accuracy="high"), "val_accuracy is not a number"),
    "message-number": (_meta(message=3), "message is not text"),
    "summary-list": (_meta(summary=[1]), "summary is not an object"),
    "json-list": ("[1, 2]", "not a JSON object"),
    "json-broken": ("{not json", "not valid JSON"),
    "json-binary": (b"\xff\xfe\x00garbage", "not valid JSON"),
    "json-deep": ("[" * 100_000, "not valid JSON"),
}


def make_odd_folders(root):
    """Every kind of bad run folder the store must list as damaged (root: a store folder)."""
    root.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (content, reason) in ODD_FOLDERS.items():
        folder = root / name
        folder.mkdir()
        data = content if isinstance(content, bytes) else content.encode()
        (folder / "config.json").write_bytes(data)
        (folder / "metrics.csv").write_text("step,epoch,kind,loss\n")
        (folder / "model.pt").write_bytes(b"")
        expected[name] = reason
    (root / "no-config").mkdir()
    expected["no-config"] = "config.json is missing"
    (root / "config-is-a-folder" / "config.json").mkdir(parents=True)
    expected["config-is-a-folder"] = "config.json is a folder"
    fifo = root / "config-is-a-fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "config.json")  # opening it for reading would block forever
    expected["config-is-a-fifo"] = "config.json is a special file"
    big = root / "config-huge"
    big.mkdir()
    (big / "config.json").write_bytes(b" " * (2 << 20))
    expected["config-huge"] = "over 1 MB"
    for name, missing in (("no-metrics", "metrics.csv"), ("no-model", "model.pt")):
        (root / name).mkdir()
        (root / name / "config.json").write_text(_meta())
        other = "model.pt" if missing == "metrics.csv" else "metrics.csv"
        (root / name / other).write_bytes(b"x")
        expected[name] = f"{missing} is missing"
    (root / "model-is-a-folder").mkdir()
    (root / "model-is-a-folder" / "config.json").write_text(_meta())
    (root / "model-is-a-folder" / "metrics.csv").write_text("step,kind,loss\n")
    (root / "model-is-a-folder" / "model.pt").mkdir()
    expected["model-is-a-folder"] = "model.pt is a folder"
    (root / "metrics-garbage").mkdir()
    (root / "metrics-garbage" / "config.json").write_text(_meta())
    (root / "metrics-garbage" / "metrics.csv").write_bytes(b"\x00\x9f\xff binary junk")
    (root / "metrics-garbage" / "model.pt").write_bytes(b"x")
    expected["metrics-garbage"] = "metrics.csv is unreadable (no header"
    (root / "a-file-not-a-folder").write_text("ignored")
    (root / ".hidden-temp").mkdir()  # a folder being built: never listed
    return expected


def test_odd_folders_are_listed_damaged_and_never_break_a_listing(tmp_path):
    store = RunStore(tmp_path / "runs")
    expected = make_odd_folders(store.root)
    rows = {r.id: r for r in store.list()}
    assert set(rows) == set(expected)
    for name, reason in expected.items():
        assert reason in rows[name].damaged, (name, rows[name].damaged)
        assert store.info(name).damaged == rows[name].damaged
        with pytest.raises(UserError, match="damaged"):
            store.metrics(name)
        with pytest.raises(UserError, match="damaged"):
            store.load_model(name)
    table = store.table()
    assert len(table) == len(expected) and set(table["status"]) == {"damaged"}
    store.delete("json-broken")  # a damaged run can be cleaned away
    assert "json-broken" not in {r.id for r in store.list()}


def test_unreadable_files_are_damaged_not_errors(tmp_path, tiny_data, monkeypatch):
    store = RunStore(tmp_path)
    run_id = store.save(Trainer(CONFIG, tiny_data).run(), CONFIG, "bundled")
    other = store.save(Trainer(CONFIG, tiny_data).run(), CONFIG, "bundled")
    real_open = os.open

    def no_permission(path, *args, **kwargs):  # as chmod 000 would, even for root
        # (inside run_id's folder only: a run saved in the same second is run_id + "-2")
        inside = str(path).startswith(f"{tmp_path / run_id}{os.sep}")
        if inside and not str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(runs_mod.os, "open", no_permission)
    rows = {r.id: r for r in store.list()}
    assert rows[run_id].damaged == "config.json cannot be read (permission denied)"
    assert not rows[other].damaged  # one bad folder does not hide the others
    monkeypatch.undo()

    def unreadable_csv(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runs_mod.pd, "read_csv", unreadable_csv)
    with pytest.raises(UserError, match=f"^run {other}: its metrics.csv cannot be read"):
        store.metrics(other)
    monkeypatch.undo()
    if os.geteuid() != 0:  # the real thing, where permissions bind
        (tmp_path / other / "config.json").chmod(0)
        assert "permission denied" in store.info(other).damaged


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\x02garbage\xff", b"step,kind,loss\n1,train,abc\n", b"a,b\n1,2\n", b""],
)
def test_metrics_of_a_damaged_csv_is_one_user_error(tmp_path, tiny_data, content):
    store = RunStore(tmp_path)
    run_id = store.save(Trainer(CONFIG, tiny_data).run(), CONFIG, "bundled")
    (tmp_path / run_id / "metrics.csv").write_bytes(content)
    with pytest.raises(UserError, match="metrics.csv (cannot be read|is unreadable)") as caught:
        store.metrics(run_id)
    assert "\n" not in str(caught.value)


def test_a_line_cut_short_by_a_kill_is_dropped(tmp_path):
    store = RunStore(tmp_path)
    with store.begin(CONFIG, "bundled") as writer:
        writer.append([row(1), row(2)])
    with open(tmp_path / writer.id / "metrics.csv", "a") as f:
        f.write("3,1,tr")  # what a half-written line would look like
    table = store.metrics(writer.id)
    assert table["step"].tolist() == [1, 2, 3] and pd.isna(table["loss"].iloc[2])
    with open(tmp_path / writer.id / "metrics.csv", "a") as f:
        f.write("\n,")
    assert store.metrics(writer.id)["step"].tolist() == [1, 2, 3]


def test_unwritable_store_is_refused_before_training(tiny_data, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    for root in (blocked, blocked / "runs"):
        store = RunStore(root)
        with pytest.raises(UserError, match="cannot be written.*training was not started"):
            store.check_writable()
        with pytest.raises(UserError, match="cannot be written"):
            store.begin(CONFIG, "bundled")
        with pytest.raises(UserError, match="cannot be written"):
            TrainingJob(CONFIG, tiny_data, store)
        assert store.list() == []


def test_training_job_checkpoints_each_epoch_while_it_runs(tiny_data, tmp_path):
    store = RunStore(tmp_path)
    job = TrainingJob(
        TrainConfig(epochs=3, batch_size=16, max_batches=4, precision="fp32"),
        tiny_data,
        store,
        tensorboard=False,
    )
    listen = job._on_event

    def pause_after_epoch_one(event):
        listen(event)
        if event.kind == "val" and event.epoch == 1:
            job.control.pause()

    job._on_event = pause_after_epoch_one
    job.start()

    # Paused once the Trainer has recorded the pause (after the epoch-end checkpoint was written).
    def kinds_on_disk():
        return store.metrics(job.run_id)["kind"].tolist() if job.run_id else []

    while not job.done and "pause" not in kinds_on_disk():
        job._done.wait(0.05)
    assert job.status == "paused"
    info = store.info(job.run_id)
    assert info.status == "running" and info.checkpoint_epoch == 1
    metrics = store.metrics(job.run_id)
    assert (metrics["kind"] == "train").sum() == 4 and metrics["kind"].tolist()[-2:] == [
        "val",
        "pause",
    ]
    on_disk, _ = store.load_model(job.run_id)
    weights, step = job.weights()
    assert step == 4  # published on pause: the weights at the end of epoch 1
    for name, tensor in on_disk.state_dict().items():
        assert torch.equal(tensor, weights[name])
    job.resume()
    assert job.join(120)
    assert store.info(job.run_id).status == "finished"
    assert (store.metrics(job.run_id)["kind"] == "train").sum() == 12
