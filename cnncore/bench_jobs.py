"""``python -m cnncore bench jobs``: does training inside a job, polled the way the live page
polls it, keep the headless Trainer's speed? And do concurrent jobs queue and finish correctly?
"""

from __future__ import annotations

import tempfile
import threading

import pandas as pd

from cnncore.analysis import feature_maps, first_layer_filters, model_from_state
from cnncore.data import Dataset
from cnncore.jobs import JobManager, TrainingJob
from cnncore.plots import training as plots
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, Trainer


def draw_like_the_page(job: TrainingJob, data: Dataset, weights: bool = True) -> None:
    """What one poll of the page's live panel computes (figures built and serialised); the page
    redraws the weight images (``weights``) every 4th poll."""
    snap = job.snapshot()
    figs = [plots.loss_figure(snap["history"], 0.6), plots.val_figure(snap["history"])]
    state, step = job.weights()
    if state is not None and weights:
        model = model_from_state(job.config.model, state)
        figs.append(plots.filters_figure(*first_layer_filters(model), step))
        image = data.test.images[0]
        figs.append(plots.feature_maps_figure(feature_maps(model, image), image, "0"))
    for fig in figs:
        fig.to_json()


def headless(config: TrainConfig, data: Dataset) -> float:
    return Trainer(config, data).run().images_per_s


def headless_in_thread(config: TrainConfig, data: Dataset) -> float:
    """The same Trainer in a bare thread, unpolled: separates the cost of polling from any
    difference between the main thread and a worker thread (measured large on a busy 2-core
    machine, where a worker thread trained faster than the main thread)."""
    out = []
    worker = threading.Thread(target=lambda: out.append(headless(config, data)))
    worker.start()
    worker.join()
    return out[0]


def in_job(config: TrainConfig, data: Dataset, poll_s: float) -> tuple[float, int]:
    manager = JobManager(max_running=1)
    job = manager.submit(TrainingJob(config, data, store=None))
    polls = 0
    while not job.join(poll_s):
        draw_like_the_page(job, data, weights=polls % 4 == 0)
        polls += 1
    manager.shutdown()
    if job.status != "finished":
        raise RuntimeError(f"the benchmark job ended {job.status}: {job.error or job.message}")
    return job.result.images_per_s, polls


def throughput(
    data: Dataset, config: TrainConfig, poll_s: float = 0.5, repeats: int = 2
) -> pd.DataFrame:
    """Alternate headless and in-job runs ``repeats`` times (after a warm-up); best of each,
    since other work on the machine only ever slows a run down."""
    headless(TrainConfig(**{**config.to_dict(), "epochs": 1, "max_batches": 3}), data)  # warm-up
    rows = []
    for r in range(repeats):
        rows.append(
            {
                "mode": "headless Trainer",
                "repeat": r,
                "images_per_s": headless(config, data),
                "polls": 0,
            }
        )
        rows.append({"mode": "headless Trainer in a bare thread", "repeat": r,
                     "images_per_s": headless_in_thread(config, data), "polls": 0})  # fmt: skip
        rate, polls = in_job(config, data, poll_s)
        rows.append(
            {
                "mode": f"TrainingJob polled every {poll_s:g} s",
                "repeat": r,
                "images_per_s": rate,
                "polls": polls,
            }
        )
    return pd.DataFrame(rows)


def queue_check(data: Dataset, config: TrainConfig) -> list[str]:
    """Two jobs at once (two "sessions") plus a third that must wait, then run. Returns lines of
    findings; raises AssertionError if anything is wrong."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        manager = JobManager(max_running=2)
        configs = [TrainConfig(**{**config.to_dict(), "seed": s}) for s in (1, 2, 3)]
        jobs = [manager.submit(TrainingJob(c, data, store, session_id=f"session-{i}",
                                           name=f"session {i}", tensorboard=False))
                for i, c in enumerate(configs, start=1)]  # fmt: skip
        states = [j.status for j in jobs]
        assert states[:2] == ["running", "running"] and states[2] == "queued", states
        assert jobs[2].queue_position == 1
        lines.append(f"at submit: {states}, third job's queue position {jobs[2].queue_position}")
        assert all(j.join(600) for j in jobs), "a job did not end"
        assert manager.shutdown()
        assert jobs[2].started >= min(jobs[0].ended, jobs[1].ended) - 1e-3, "the third did not wait"
        for job in jobs:
            info = store.info(job.run_id)
            metrics = store.metrics(job.run_id)
            batches = int((metrics["kind"] == "train").sum())
            assert job.status == "finished" and info.status == "finished", job.message
            assert info.name == job.name and info.config["seed"] == job.config.seed
            assert info.summary["test_accuracy"] == job.result.test_accuracy
            assert batches == len(job.history()["steps"]) > 0
            lines.append(f"{job.name}: {job.status}, run {job.run_id} (seed {info.config['seed']}, "
                         f"{batches} batches, test accuracy {info.summary['test_accuracy']:.1%})")  # fmt: skip
        waited = jobs[2].started - jobs[2].created
        lines.append(f"the third job waited {waited:.1f} s in the queue, then ran and finished")
    return lines
