"""Background jobs: life cycle, live control, errors reported, runs saved, queue and threads."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from cnncore.data import Dataset, Split
from cnncore.errors import UserError
from cnncore.jobs import FunctionJob, JobManager, TrainingJob, keep_house
from cnncore.models import build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def cfg(**kw):
    base = dict(epochs=1, batch_size=16, max_batches=4, precision="fp32", seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def manager():
    m = JobManager(max_running=2)
    yield m
    assert m.shutdown(timeout=30), "a job thread did not exit"


def job_threads():
    return [t for t in threading.enumerate() if t.name.startswith("job-")]


def test_training_job_finishes_and_saves_run(tiny_data, tmp_path, manager):
    store = RunStore(tmp_path)
    job = manager.submit(TrainingJob(cfg(epochs=2), tiny_data, store, session_id="s1"))
    assert job.join(60)
    snap = job.snapshot()
    assert snap["status"] == "finished" and snap["progress"] == 1.0
    assert snap["history"]["steps"] == list(range(1, 9))
    assert [v["epoch"] for v in snap["history"]["val"]] == [1, 2]
    assert snap["history"]["test"]["accuracy"] is not None
    run_id = snap["run_id"]
    assert store.info(run_id).status == "finished"
    metrics = store.metrics(run_id)
    assert (metrics["kind"] == "train").sum() == 8
    model, config = store.load_model(run_id)
    assert config.epochs == 2
    weights, step = job.weights()
    assert step == 8
    for name, tensor in model.state_dict().items():  # the saved weights are the last published
        torch.testing.assert_close(tensor, weights[name])
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / run_id).iterdir())


def test_pause_resume_lr_change_and_stop(tiny_data, tmp_path, manager):
    store = RunStore(tmp_path)
    job = manager.submit(TrainingJob(cfg(epochs=200, max_batches=30), tiny_data, store, "s1"))
    wait_for(lambda: len(job.history()["steps"]) >= 2, what="first batches")
    job.pause()
    wait_for(lambda: any(m["kind"] == "pause" for m in job.history()["markers"]), what="pause")
    assert job.status == "paused"
    frozen = len(job.history()["steps"])
    time.sleep(0.4)
    assert len(job.history()["steps"]) == frozen, "training went on while paused"
    job.set_lr(0.0005)
    job.resume()
    wait_for(lambda: len(job.history()["steps"]) >= frozen + 3, what="batches after resume")
    assert job.status == "running"
    kinds = [m["kind"] for m in job.history()["markers"]]
    assert kinds[:3] == ["pause", "resume", "lr"] or kinds[:3] == ["lr", "pause", "resume"]
    lr_marker = next(m for m in job.history()["markers"] if m["kind"] == "lr")
    assert lr_marker["old_lr"] == pytest.approx(1e-3) and lr_marker["lr"] == pytest.approx(5e-4)
    job.stop()
    assert job.join(30)
    assert job.status == "stopped"
    steps = len(job.history()["steps"])
    assert steps < 200 * 30
    metrics = store.metrics(job.run_id)
    assert (metrics["kind"] == "train").sum() == steps
    assert metrics.query("kind == 'train'")["lr"].iloc[-1] == pytest.approx(5e-4)
    assert store.info(job.run_id).status == "stopped"


def test_bad_lr_change_refused(tiny_data):
    job = TrainingJob(cfg(), tiny_data)
    with pytest.raises(UserError, match="learning rate"):
        job.set_lr(float("nan"))
    with pytest.raises(UserError, match="learning rate"):
        job.set_lr(-1)


def test_bad_hyperparameters_refused_before_queueing(tiny_data, manager):
    with pytest.raises(UserError, match="batch size"):
        TrainingJob(cfg(batch_size=0), tiny_data)
    assert manager.jobs() == []


def test_worker_error_is_reported_and_run_kept(tiny_data, tmp_path, manager):
    bad = Dataset(
        "bad",
        "labels out of range",
        tiny_data.classes,
        Split(tiny_data.train.images, torch.full_like(tiny_data.train.labels, 99)),
        tiny_data.val,
        tiny_data.test,
    )
    store = RunStore(tmp_path)
    job = manager.submit(TrainingJob(cfg(), bad, store))
    assert job.join(30)
    assert job.status == "failed"
    assert "out of bounds" in job.error
    assert "out of bounds" in job.snapshot()["error"]
    assert store.info(job.run_id).status == "failed"


def test_function_job_error_and_result(manager):
    def boom(report, control):
        report(0.5, "half way")
        raise ZeroDivisionError("no")

    def fine(report, control):
        for i in range(5):
            report((i + 1) / 5, f"step {i}")
        return 42

    bad, good = manager.submit(FunctionJob(boom)), manager.submit(FunctionJob(fine))
    assert bad.join(10) and good.join(10)
    assert bad.status == "failed" and bad.error == "ZeroDivisionError: no"
    assert "ZeroDivisionError" in bad.traceback
    assert good.status == "finished" and good.result == 42 and good.progress == 1.0


def test_nan_loss_ends_diverged_and_keeps_recorded(tiny_data, tmp_path, manager):
    model = build_model("convnet")
    calls = {"n": 0}

    def poison(module, inputs, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] > 3 else output

    model.register_forward_hook(poison)
    store = RunStore(tmp_path)
    job = manager.submit(TrainingJob(cfg(epochs=3), tiny_data, store, model=model))
    assert job.join(30)
    assert job.status == "diverged"
    assert "nan" in job.message.lower() and "smaller learning rate" in job.message
    metrics = store.metrics(job.run_id)
    losses = metrics.query("kind == 'train'")["loss"]
    assert len(losses) == 4 and losses.iloc[:3].notna().all() and pd.isna(losses.iloc[3])
    assert store.info(job.run_id).status == "diverged"


def test_queue_two_run_third_waits(tiny_data, tmp_path, manager):
    store = RunStore(tmp_path)
    gate = threading.Event()

    jobs = [
        manager.submit(
            TrainingJob(cfg(epochs=100, max_batches=20), tiny_data, store, f"s{i}", name=f"run {i}")
        )
        for i in range(2)
    ]
    third = manager.submit(FunctionJob(lambda report, control: gate.wait(10) and "ran", "s3"))
    assert [j.status for j in jobs] == ["running", "running"]
    assert third.status == "queued" and third.queue_position == 1
    assert "position 1" in third.snapshot()["message"]
    assert len(manager.running()) == 2
    wait_for(lambda: all(len(j.history()["steps"]) >= 2 for j in jobs), what="both training")
    jobs[0].stop()
    wait_for(lambda: third.status == "running", what="third to start")
    assert third.queue_position is None
    gate.set()
    assert third.join(10) and third.result == "ran"
    jobs[1].stop()
    assert jobs[1].join(30)
    names = {store.info(j.run_id).name for j in jobs}
    assert names == {"run 0", "run 1"}
    assert [j.id for j in manager.jobs("s1")] == [jobs[1].id]


def test_stopping_a_queued_job_and_session(tiny_data, manager):
    gates = [threading.Event() for _ in range(2)]
    busy = [manager.submit(FunctionJob(lambda r, c, g=g: g.wait(10), "a")) for g in gates]
    waiting = manager.submit(FunctionJob(lambda r, c: "never", "b"))
    later = manager.submit(FunctionJob(lambda r, c: "never", "b"))
    assert (waiting.queue_position, later.queue_position) == (1, 2)
    assert len(manager.stop_session("b")) == 2
    assert waiting.status == "stopped" and later.status == "stopped"
    assert waiting.result is None and manager.queued() == []
    for g in gates:
        g.set()
    assert all(j.join(10) for j in busy)


def test_shutdown_joins_all_threads(tiny_data):
    manager = JobManager(max_running=1)
    jobs = [manager.submit(TrainingJob(cfg(epochs=500), tiny_data)) for _ in range(3)]
    wait_for(lambda: len(jobs[0].history()["steps"]) >= 1, what="first job training")
    assert manager.shutdown(timeout=30)
    assert [j.status for j in jobs] == ["stopped", "stopped", "stopped"]
    assert not any(t.name in {f"job-{j.id}" for j in jobs} for t in job_threads())
    with pytest.raises(UserError, match="shut down"):
        manager.submit(FunctionJob(lambda r, c: None))


def test_session_reaped_when_idle(tiny_data, manager):
    job = manager.submit(TrainingJob(cfg(epochs=500), tiny_data, session_id="gone"))
    manager.touch("gone")
    assert manager.reap(idle_s=60) == []
    time.sleep(0.05)
    assert manager.reap(idle_s=0.01) == [job]
    assert job.join(30) and job.status == "stopped"


def test_function_job_that_raises_after_a_stop_ends_stopped_not_failed(manager):
    started = threading.Event()

    def work(report, control):
        started.set()
        while not control.stop_requested:
            time.sleep(0.01)
        raise UserError("the comparison was stopped before training finished")

    job = manager.submit(FunctionJob(work))
    assert started.wait(10)
    job.stop()
    assert job.join(10)
    assert job.status == "stopped" and job.error == ""
    assert "stopped before training finished" in job.message


def test_worker_and_the_threads_it_starts_run_at_a_lower_priority(manager):
    """Interactive page threads keep their priority; a job's worker (and the OpenMP or other
    threads it starts) yields to them."""
    import os
    from dataclasses import replace

    from cnncore.jobs import JOB_NICE

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen = {}

    def fn(report, control):
        seen["worker"] = nice()
        child = threading.Thread(target=lambda: seen.setdefault("child", nice()))
        child.start()
        child.join()

    here = nice()
    job = manager.submit(FunctionJob(fn))
    assert job.join(30) and job.status == "finished"
    assert seen["worker"] == seen["child"] == min(19, here + JOB_NICE) > here
    assert nice() == here  # the caller's thread is untouched

    # the setting job_nice = 0 keeps the worker at the caller's priority
    plain = JobManager(max_running=1, settings=replace(manager.settings, job_nice=0))
    try:
        seen.clear()
        assert plain.submit(FunctionJob(fn)).join(30)
        assert seen["worker"] == seen["child"] == here
    finally:
        assert plain.shutdown(timeout=30)


def test_a_stop_is_shown_at_once_while_the_run_is_still_being_saved(manager):
    release = threading.Event()

    def fn(report, control):
        while not control.stop_requested:
            time.sleep(0.01)
        release.wait(30)  # the end of a job (a training job tests and saves its run) takes time

    job = manager.submit(FunctionJob(fn))
    wait_for(lambda: job.status == "running", what="start")
    assert job.snapshot()["stopping"] is False
    job.stop()
    assert job.snapshot()["stopping"] is True and not job.done
    release.set()
    assert job.join(30) and job.status == "stopped" and job.snapshot()["stopping"] is False


def test_a_new_job_manager_pays_the_first_optimizers_import_before_any_job(tmp_path):
    """A process's first optimizer imports torch._dynamo (seconds here): the manager does it in
    the background when it is made (the training page opens it), not the first run after Start."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys, time\n"
        "from cnncore.jobs import JobManager\n"
        "assert 'torch._dynamo' not in sys.modules, 'imported before the manager'\n"
        "manager = JobManager(max_running=1)\n"
        "deadline = time.monotonic() + 120\n"
        "while 'torch._dynamo' not in sys.modules and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    env = {"CNN_EXPLORER_RUNS": str(tmp_path / "runs"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_an_idle_manager_collects_the_garbage_closed_sessions_leave():
    """Streamlit's collection after every run is off: the manager's housekeeping collects the
    cycles (e.g. of closed sessions) while no job runs."""
    import gc
    import weakref

    class Node:
        pass

    manager = JobManager(max_running=1)
    gc.disable()  # only the housekeeping may collect during this test
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: freed only by a collection
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None
        args = (weakref.ref(manager), manager._closing, 0.05)
        threading.Thread(target=keep_house, args=args, daemon=True).start()
        wait_for(lambda: gone() is None, timeout=30, what="the cycle collected")
    finally:
        gc.enable()
        manager.shutdown()


def test_a_manager_nobody_holds_is_not_kept_alive_by_its_housekeeping():
    import gc
    import weakref

    manager = JobManager(max_running=1)
    gone = weakref.ref(manager)
    del manager
    gc.collect()
    assert gone() is None


ARENAS_PROBE = """
import ctypes, sys, threading
import torch
from cnncore.jobs import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas(2)
def work():
    for _ in range(200):
        (torch.ones(64, 1024) * 2).sum()  # 256 kB through malloc each, the GIL released
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" paragraph per arena, on stderr
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_the_server_limits_malloc_arenas_so_memory_goes_back():
    """Eight threads allocating at once get arenas of their own (up to 8 per core); with the
    server's limit (app/streamlit_app.py) they share two."""

    def arenas(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", ARENAS_PROBE, mode],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return sum(line.startswith("Arena ") for line in done.stderr.splitlines())

    assert arenas("limit") == 2
    assert arenas("plain") > 2
