"""JobManager limits: per-visitor caps, batch/epoch caps, memory budget, threads <= cores, a
workspace's room, an honest queue wait; and an ended job keeps no trainer or data."""

import gc
import threading
import time
import weakref

import pytest
import torch

from cnncore.data import Dataset, Split
from cnncore.errors import UserError
from cnncore.jobs import FunctionJob, JobManager, TrainingJob
from cnncore.memory import estimate_training_bytes, rss_bytes
from cnncore.settings import profile_defaults
from cnncore.train import TrainConfig
from cnncore.workspaces import Workspaces


def cfg(**kw):
    base = dict(epochs=1, batch_size=16, max_batches=4, precision="fp32", seed=0)
    return TrainConfig(**{**base, **kw})


def settings(**kw):
    from dataclasses import replace

    return replace(profile_defaults("class", 16, 64000), **kw)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def blocker(gate):
    def work(report, control):
        deadline = time.monotonic() + 30
        while not (gate.is_set() or control.stop_requested) and time.monotonic() < deadline:
            time.sleep(0.01)

    return work


@pytest.fixture
def gate():
    g = threading.Event()
    yield g
    g.set()


def test_one_running_and_one_queued_per_visitor(gate):
    m = JobManager(settings=settings(jobs_at_once=4, threads_per_job=1))
    first = m.submit(FunctionJob(blocker(gate), "alice"))
    second = m.submit(FunctionJob(blocker(gate), "alice"))
    assert first.status == "running"
    assert second.status == "queued", "a visitor's second job waits though slots are free"
    with pytest.raises(UserError, match="1 job\\(s\\) running and 1 waiting"):
        m.submit(FunctionJob(blocker(gate), "alice"))
    bob = m.submit(FunctionJob(blocker(gate), "bob"))  # others are not held up by alice
    assert bob.status == "running"
    gate.set()
    assert m.shutdown(30)


def test_batch_size_epochs_and_memory_are_checked_before_queueing(tiny_data):
    m = JobManager(settings=settings(max_batch_size=512, max_epochs=5, memory_per_job_mb=300))
    with pytest.raises(UserError, match="batch size 1,024 is over this server's limit of 512"):
        m.submit(TrainingJob(cfg(batch_size=1024), tiny_data))
    with pytest.raises(UserError, match="6 epochs is over this server's limit of 5"):
        m.submit(TrainingJob(cfg(epochs=6), tiny_data))
    big = Dataset(
        "fake",
        "",
        tiny_data.classes,
        Split(
            torch.zeros(200_000, 1, 28, 28, dtype=torch.uint8),
            torch.zeros(200_000, dtype=torch.long),
        ),
        tiny_data.val,
        tiny_data.test,
    )
    with pytest.raises(UserError, match="would need about .* more than the 300 MB one job may"):
        m.submit(TrainingJob(cfg(batch_size=512), big))
    assert m.jobs() == [] and m.shutdown(5)


def test_a_job_waits_until_its_memory_fits_next_to_the_running_ones(tiny_data, gate):
    m = JobManager(
        settings=settings(
            jobs_at_once=4, threads_per_job=1, memory_budget_mb=1000, memory_per_job_mb=700
        )
    )
    heavy = FunctionJob(blocker(gate), "alice")
    heavy.memory_bytes = 600e6
    other = FunctionJob(blocker(gate), "bob")
    other.memory_bytes = 600e6
    m.submit(heavy), m.submit(other)
    assert heavy.status == "running" and other.status == "queued"
    gate.set()
    wait_for(lambda: other.done, what="the second job to run once memory freed")
    assert other.status == "finished" and m.shutdown(10)


def test_threads_per_job_times_running_jobs_never_exceeds_cores(gate):
    for at_once in (1, 2, 3, 7):
        m = JobManager(settings=settings(jobs_at_once=at_once, threads_per_job=2))
        assert m.max_running * m.threads <= 16
    m = JobManager(max_running=8, settings=settings(threads_per_job=4))  # explicit count
    assert m.threads == 2
    seen = []

    def record(report, control):
        seen.append(torch.get_num_threads())

    m = JobManager(settings=settings(jobs_at_once=1, threads_per_job=3, cores=4))
    job = m.submit(FunctionJob(record))
    assert job.join(10) and seen == [3]


def test_a_full_workspace_is_refused_before_training(tiny_data, tmp_path):
    spaces = Workspaces(tmp_path / "runs", max_runs=0)
    m = JobManager(settings=settings())
    with pytest.raises(UserError, match="your workspace holds 0 runs"):
        m.submit(TrainingJob(cfg(), tiny_data, spaces.store("local"), "local"))


def test_another_visitor_cannot_get_or_stop_my_job(gate):
    m = JobManager(settings=settings(jobs_at_once=2, threads_per_job=1))
    mine = m.submit(FunctionJob(blocker(gate), "alice"))
    assert m.get(mine.id, "bob") is None and m.jobs("bob") == []
    with pytest.raises(UserError, match="no job"):
        m.stop(mine.id, "bob")
    assert mine.status == "running"
    m.stop(mine.id, "alice")
    assert mine.join(10) and mine.status == "stopped"


def test_queued_wait_comes_from_the_running_jobs_seconds_left(tiny_data):
    m = JobManager(settings=settings(jobs_at_once=1, threads_per_job=1, running_per_visitor=1))
    running = m.submit(TrainingJob(cfg(epochs=20, max_batches=30), tiny_data, None, "a"))
    waiting = m.submit(TrainingJob(cfg(epochs=1, max_batches=5), tiny_data, None, "b"))
    after = m.submit(TrainingJob(cfg(epochs=1, max_batches=5), tiny_data, None, "c"))
    wait_for(lambda: running.snapshot()["seconds_left"] is not None, what="a rate")
    snap = running.snapshot()
    first, second = m.wait_seconds(waiting.id), m.wait_seconds(after.id)
    assert first == pytest.approx(snap["seconds_left"], rel=0.5)
    expected = 5 * 16 / snap["images_per_s"]  # the job ahead: 5 batches of 16 at this rate
    assert second - first == pytest.approx(expected, rel=0.5)
    assert m.wait_seconds(running.id) is None
    assert m.shutdown(30)


def fake_data(n_train: int) -> Dataset:
    g = torch.Generator().manual_seed(0)

    def split(n):
        images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
        return Split(images, torch.randint(0, 10, (n,), generator=g))

    return Dataset("fake", "fake", tuple("0123456789"), split(n_train), split(500), split(500))


def test_an_ended_job_holds_no_trainer_and_no_dataset_tensors():
    data = fake_data(2000)
    m = JobManager(settings=settings())
    job = m.submit(TrainingJob(cfg(), data, None, "a"))
    assert job.join(60) and job.status == "finished"
    images = weakref.ref(data.train.images)
    trainer = weakref.ref(job.result.model)  # the result's model (the weights) is kept
    del data
    gc.collect()
    assert job.trainer is None and job.data is None
    assert images() is None, f"still referenced by {gc.get_referrers(images())!r:.300}"
    assert trainer() is not None and job.weights()[0] is not None
    assert job.history()["steps"] and job.snapshot()["status"] == "finished"
    tensors = [o for o in gc.get_objects() if type(o) is torch.Tensor]
    float_copies = [t for t in tensors if t.dtype == torch.float32 and t.shape[:1] == (2000,)]
    assert float_copies == [], "a float copy of the training images is still alive"
    assert m.shutdown(5)


def test_twelve_jobs_on_60k_images_leave_memory_where_it_was():
    data = fake_data(60_000)
    m = JobManager(
        settings=settings(
            jobs_at_once=1, threads_per_job=1, running_per_visitor=1, queued_per_visitor=20
        )
    )
    gc.collect()
    start = rss_bytes()
    jobs = [
        m.submit(TrainingJob(cfg(max_batches=2, batch_size=64), data, None, "a")) for _ in range(12)
    ]
    for job in jobs:
        assert job.join(120) and job.status == "finished"
    gc.collect()
    grown = rss_bytes() - start
    # each trainer held a 188 MB float copy of the images: kept, 12 would be 2.2 GB
    assert grown < 300e6, f"RSS grew by {grown / 1e6:.0f} MB after 12 ended jobs"
    assert len(m.jobs()) == 12 and m.shutdown(5)


def test_memory_estimate_is_near_the_measured_peak(tmp_path):
    """A real Trainer in a fresh process: peak RSS above its start vs the estimate."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = ROOT / "tests" / "memory_peak.py"
    for args in (["convnet", "1024", "20000"], ["fcnet", "256", "60000"]):
        out = subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        measured, estimate = (float(x) for x in out.stdout.split()[-2:])
        assert estimate / 2 < measured < estimate * 2, (args, measured, estimate)
    assert estimate_training_bytes(cfg(batch_size=50_000), 60_000) > 5e9  # the 9 GB case


def test_poll_period_follows_the_job_state():
    from app.ui.jobs import POLL_QUEUED_S, POLL_RUNNING_S, poll_every

    assert poll_every({"status": "running", "done": False}) == POLL_RUNNING_S
    assert poll_every({"status": "queued", "done": False}) == POLL_QUEUED_S > POLL_RUNNING_S
    # Pause/Resume keep the pace: a change of pace costs a whole-page rerun (a slower click)
    assert poll_every({"status": "paused", "done": False}) == POLL_RUNNING_S
    for ended in ("finished", "stopped", "failed", "diverged"):
        assert poll_every({"status": ended, "done": True}) is None
    assert poll_every(None) is None
