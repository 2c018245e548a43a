"""Resuming an interrupted run: the Trainer continues from the state saved at an epoch end, bit for
bit the run it would have been; the store reopens the run in place (its lock, the partly trained
epoch's rows dropped) and refuses, in one sentence, every run that is not an interrupted one of its
own with a resume state."""

import io
import os
import threading
import zipfile

import pytest
import torch

from cnncore.errors import UserError
from cnncore.jobs import JobManager, TrainingJob, set_intraop_threads
from cnncore.runs import RESUME_FILE, RunStore, event_row, training_state
from cnncore.train import TrainConfig, Trainer
from cnncore.workspaces import LOCAL, Workspaces

CONFIG = TrainConfig(epochs=3, batch_size=16, max_batches=4, precision="fp32", seed=7)


class Killed(Exception):
    """Stands for the process dying (kill -9) at a chosen event."""


def student(trainer_ref, changes=True):
    """An on_event that changes the learning rate at step 2 and pauses (then resumes) at step 3,
    as a student would in epoch 1; the same in every run compared."""

    def on_event(event):
        trainer = trainer_ref[0]
        if changes and event.kind == "train" and event.step == 2:
            trainer.control.set_lr(4e-4)
        if changes and event.kind == "train" and event.step == 3:
            trainer.control.pause()
        if event.kind == "pause":
            trainer.control.resume()

    return on_event


def straight(data, config=CONFIG, changes=True):
    ref = [None]
    ref[0] = trainer = Trainer(config, data, on_event=student(ref, changes))
    return trainer.run()


def writing(writer, ref, kill_at=None, changes=True):
    """The CLI's and the job's listener: each row to disk, a checkpoint with the resume state at
    each epoch end; ``kill_at(event)`` True: the process dies there."""
    lesson = student(ref, changes)

    def on_event(event):
        if kill_at is not None and kill_at(event):
            raise Killed
        lesson(event)
        writer.append([event_row(event)])
        if event.kind == "val":
            writer.checkpoint(ref[0].model, event.epoch, training_state(ref[0], event.epoch))

    return on_event


def interrupted_run(store, data, kill_at, config=CONFIG, changes=True, name="to resume") -> str:
    writer = store.begin(config, data.source, name=name)
    ref = [None]
    ref[0] = Trainer(config, data, on_event=writing(writer, ref, kill_at, changes))
    with pytest.raises(Killed):
        ref[0].run()
    writer.close()  # what the kernel does for a killed process: the lock goes, nothing else
    return writer.id


def resume_to_the_end(store, data, run_id, changes=True):
    writer, config, state = store.resume(run_id)
    ref = [None]
    ref[0] = Trainer(config, data, on_event=writing(writer, ref, changes=changes), resume=state)
    result = ref[0].run()
    writer.finish(result)
    return result


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def columns(table, kinds=("train", "val", "lr", "pause", "resume", "test")):
    rows = table[table["kind"].isin(kinds)]
    rows = rows[["step", "epoch", "kind", "loss", "accuracy", "lr"]].astype(object)
    return rows.where(rows.notna(), None).to_dict("records")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_k_epochs_a_kill_and_a_resume_equal_n_epochs_straight_bit_for_bit(
    tiny_data, tmp_path, optimizer
):
    config = TrainConfig(**{**CONFIG.to_dict(), "optimizer": optimizer})
    whole = straight(tiny_data, config)
    store = RunStore(tmp_path)
    # killed in epoch 2, after its second batch: epoch 1 (with the lr change and pause) is saved
    run_id = interrupted_run(store, tiny_data, lambda e: e.kind == "train" and e.step == 6, config)
    info = store.info(run_id)
    assert info.status == "interrupted" and info.resumable and info.checkpoint_epoch == 1
    assert "can be resumed" in info.note
    on_disk = store.metrics(run_id)
    assert on_disk["step"].max() == 5  # epoch 2's first batch reached the disk before the kill

    result = resume_to_the_end(store, tiny_data, run_id)

    assert result.status == "finished"
    assert same_weights(result.model, whole.model), "the resumed run's weights differ"
    info = store.info(run_id)
    assert info.status == "finished" and not info.resumable
    assert not (store.root / run_id / RESUME_FILE).exists()  # an ended run does not keep it
    assert info.summary["test_accuracy"] == whole.test_accuracy
    metrics = store.metrics(run_id)
    train = metrics[metrics["kind"] == "train"]
    assert train["step"].tolist() == list(range(1, 13)), "duplicated or missing steps"
    assert columns(metrics) == columns(whole.metrics)
    # the lr change of epoch 1 was kept, and the run continued at the changed rate
    assert metrics[metrics["kind"] == "lr"]["lr"].tolist() == [4e-4]
    assert train["lr"].iloc[-1] == 4e-4
    loaded, _ = store.load_model(run_id)
    assert same_weights(loaded, whole.model)


def test_a_run_resumed_twice_still_equals_the_straight_run(tiny_data, tmp_path):
    config = TrainConfig(**{**CONFIG.to_dict(), "epochs": 4})
    whole = straight(tiny_data, config, changes=False)
    store = RunStore(tmp_path)
    run_id = interrupted_run(
        store, tiny_data, lambda e: e.kind == "train" and e.step == 7, config, changes=False
    )
    writer, cfg, state = store.resume(run_id)
    ref = [None]
    kill = writing(writer, ref, lambda e: e.kind == "train" and e.step == 14, changes=False)
    ref[0] = Trainer(cfg, tiny_data, on_event=kill, resume=state)
    with pytest.raises(Killed):
        ref[0].run()
    writer.close()
    assert store.info(run_id).checkpoint_epoch == 3
    result = resume_to_the_end(store, tiny_data, run_id, changes=False)
    assert same_weights(result.model, whole.model)
    steps = store.metrics(run_id).query("kind == 'train'")["step"].tolist()
    assert steps == list(range(1, 17))


def test_killed_after_its_last_epoch_a_resume_only_tests_and_saves(tiny_data, tmp_path):
    whole = straight(tiny_data, changes=False)
    store = RunStore(tmp_path)
    run_id = interrupted_run(store, tiny_data, lambda e: e.kind == "test", changes=False)
    result = resume_to_the_end(store, tiny_data, run_id, changes=False)
    assert result.status == "finished" and same_weights(result.model, whole.model)
    assert result.val_accuracy == whole.val_accuracy
    assert result.test_accuracy == whole.test_accuracy
    kinds = store.metrics(run_id)["kind"].tolist()
    assert kinds.count("train") == 12 and kinds.count("test") == 1


def test_refused_in_one_sentence_unless_interrupted_with_a_resume_state(tiny_data, tmp_path):
    store = RunStore(tmp_path / "ws")
    finished = store.begin(CONFIG, "bundled")
    finished.finish(straight(tiny_data, changes=False))
    with pytest.raises(UserError, match=r"is finished, not interrupted"):
        store.resume(finished.id)

    live = store.begin(CONFIG, "bundled")  # a writer holds the lock: still training
    with pytest.raises(UserError, match=r"is still training"):
        store.resume(live.id)
    live.close()

    early = interrupted_run(store, tiny_data, lambda e: e.kind == "train" and e.step == 2)
    with pytest.raises(UserError, match=r"before its first epoch ended"):
        store.resume(early)

    old = interrupted_run(store, tiny_data, lambda e: e.kind == "train" and e.step == 6)
    os.remove(store.root / old / RESUME_FILE)  # as a run saved before resume existed
    assert not store.info(old).resumable and "no resume state" in store.info(old).note
    with pytest.raises(UserError, match=r"has no resume state"):
        store.resume(old)

    with pytest.raises(UserError, match=r"there is no run nope"):
        store.resume("nope")
    with pytest.raises(UserError, match=r"is not a run id"):
        store.resume("../elsewhere")


def test_a_damaged_or_hostile_resume_file_is_refused_and_nothing_changes(tiny_data, tmp_path):
    store = RunStore(tmp_path)
    run_id = interrupted_run(store, tiny_data, lambda e: e.kind == "train" and e.step == 6)
    path = store.root / run_id / RESUME_FILE
    good = path.read_bytes()
    metrics_before = (store.root / run_id / "metrics.csv").read_bytes()

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    hostile = io.BytesIO()
    torch.save({"format": 1, "x": Boom()}, hostile)
    deflated = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as src,
        zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item))
    wrong = torch.load(io.BytesIO(good), weights_only=True)
    wrong["generator"] = torch.zeros(3, dtype=torch.uint8)
    wrong_bytes = io.BytesIO()
    torch.save(wrong, wrong_bytes)
    for payload, reason in (
        (b"", "is empty"),
        (b"garbage" * 10, "not a PyTorch weights file"),
        (hostile.getvalue(), "resume.pt is damaged|not a state dict|Python objects"),
        (deflated.getvalue(), "compressed entries"),
        (wrong_bytes.getvalue(), "resume.pt is damaged"),
    ):
        path.write_bytes(payload)
        with pytest.raises(UserError, match=reason):
            store.resume(run_id)
        assert not (tmp_path / "pwned").exists()
        assert store.info(run_id).status == "interrupted"  # lock released, nothing rewritten
        assert (store.root / run_id / "metrics.csv").read_bytes() == metrics_before
    path.write_bytes(good)
    assert resume_to_the_end(store, tiny_data, run_id).status == "finished"


def test_a_gallery_copy_or_another_workspace_run_cannot_be_resumed(tiny_data, tmp_path):
    spaces = Workspaces(tmp_path / "runs")
    mine, other = spaces.store(LOCAL), spaces.store("w" + "0" * 24)
    run_id = interrupted_run(other, tiny_data, lambda e: e.kind == "train" and e.step == 6)
    with pytest.raises(
        UserError, match=r"there is no run \S+ in this workspace \(local\); only a run of this"
    ):
        mine.resume(run_id)
    finished = mine.begin(CONFIG, "bundled")
    finished.finish(straight(tiny_data, changes=False))
    gallery_id = spaces.publish(LOCAL, finished.id)
    with pytest.raises(UserError, match=r"there is no run"):
        mine.resume(gallery_id)  # readable through the workspace, never written through it
    assert other.info(run_id).resumable


def test_a_training_job_resumes_a_run_in_place(tiny_data, tmp_path):
    manager = JobManager(1)
    alone = manager.submit(TrainingJob(CONFIG, tiny_data))  # on a job's threads, as the resume
    assert alone.join(120) and alone.status == "finished"
    whole = alone.result
    store = RunStore(tmp_path)
    ref = [None]
    writer = store.begin(CONFIG, tiny_data.source, name="to resume")
    killed = writing(writer, ref, lambda e: e.kind == "train" and e.step == 9, changes=False)
    outcome = []

    def first_part():  # on as many threads as a job: oneDNN's sums depend on the thread count
        set_intraop_threads(manager.threads)
        ref[0] = Trainer(CONFIG, tiny_data, on_event=killed)
        try:
            ref[0].run()
        except Killed as exc:
            outcome.append(exc)

    thread = threading.Thread(target=first_part)
    thread.start()
    thread.join(120)
    assert outcome, "the first part was not killed"
    writer.close()
    run_id = writer.id
    job = manager.submit(TrainingJob.resuming(store, run_id, tiny_data, "s1"))
    assert job.name == "to resume"
    assert job.join(120) and job.status == "finished", job.error
    assert job.run_id == run_id and [r.id for r in store.list()] == [run_id]
    assert same_weights(store.load_model(run_id)[0], whole.model)
    history = job.history()  # the live panel draws the whole run, the epochs before too
    assert history["steps"] == list(range(1, 13)) and len(history["val"]) == 3
    assert store.info(run_id).status == "finished"
    with pytest.raises(UserError, match=r"is finished, not interrupted"):
        TrainingJob.resuming(store, run_id, tiny_data, "s1")
    manager.shutdown()


def test_a_job_refuses_a_resume_on_other_data(tiny_data, tmp_path):
    store = RunStore(tmp_path)
    run_id = interrupted_run(store, tiny_data, lambda e: e.kind == "train" and e.step == 6)
    other = type(tiny_data)(
        "mnist", "", *[getattr(tiny_data, k) for k in ("classes", "train", "val", "test")]
    )
    with pytest.raises(UserError, match=r"trained on bundled; choose bundled"):
        TrainingJob.resuming(store, run_id, other, "s1")
