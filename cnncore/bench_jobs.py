"""``python -m cnncore bench jobs``: does training inside a job, polled the way the live page
polls it, keep the headless Trainer's speed? And do concurrent jobs queue and finish correctly?
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pandas as pd

from cnncore.analysis import feature_maps, first_layer_filters, model_from_state
from cnncore.data import Dataset, load_data
from cnncore.jobs import WORKER_THREADS, JobManager, TrainingJob, set_intraop_threads
from cnncore.plots import training as plots
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, Trainer, warm_up

# The live panel's cadence (app/ui/live_feed.py POLL_RUNNING_S and WEIGHTS_S).
PAGE_POLL_S = 2.0
PAGE_WEIGHTS_S = 4.0


def draw_like_the_page(job: TrainingJob, data: Dataset, weights: bool = True) -> None:
    """What one poll of the page's live panel computes: the two charts' payload, and with
    ``weights`` the filters' and feature maps' payload, each serialised."""
    snap = job.snapshot()
    payloads = [plots.live_curves_payload(snap["history"], 0.6)]
    state, step = job.weights()
    if state is not None and weights:
        model = model_from_state(job.config.model, state)
        image = data.test.images[0]
        maps = feature_maps(model, image)
        payloads.append(plots.weights_payload(*first_layer_filters(model), step, maps, image, "0"))
    for payload in payloads:
        json.dumps(payload)


def watch_like_the_page(job: TrainingJob, data: Dataset, poll_s: float = PAGE_POLL_S) -> int:
    """Poll ``job`` every ``poll_s`` until it ends, drawing like the page (the weights every
    PAGE_WEIGHTS_S); returns the number of polls."""
    every = max(1, round(PAGE_WEIGHTS_S / poll_s))
    polls = 0
    while not job.join(poll_s):
        draw_like_the_page(job, data, weights=polls % every == 0)
        polls += 1
    return polls


def headless(config: TrainConfig, data: Dataset) -> float:
    return Trainer(config, data).run().images_per_s


def in_job(config: TrainConfig, data: Dataset, poll_s: float) -> tuple[float, int]:
    """Train in a TrainingJob while this thread polls and draws like the page (on one intra-op
    thread, as the app's script threads do)."""
    set_intraop_threads(1)
    manager = JobManager(max_running=1)
    job = manager.submit(TrainingJob(config, data, store=None))
    polls = watch_like_the_page(job, data, poll_s)
    manager.shutdown()
    if job.status != "finished":
        raise RuntimeError(f"the benchmark job ended {job.status}: {job.error or job.message}")
    return job.result.images_per_s, polls


def _measure_in_child(
    mode: str, config: TrainConfig, spec: str, poll_s: float, threads: int
) -> dict:
    """One measurement in a fresh process, so one mode's threads never slow the other's (the
    headless Trainer is the CLI, a process of its own; the job is the app's)."""
    cmd = [
        sys.executable,
        "-m",
        "cnncore.bench_jobs",
        mode,
        json.dumps(config.to_dict()),
        spec,
        str(poll_s),
        str(threads),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child {mode} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def throughput(
    spec: str, config: TrainConfig, poll_s: float = PAGE_POLL_S, repeats: int = 2
) -> pd.DataFrame:
    """Alternate, ``repeats`` times, each in a fresh process on data source ``spec``: the
    headless Trainer on the job worker's intra-op threads (the same config, so the difference is
    the job and its polling), the job polled like the page, and, for context, the headless
    Trainer on every core (what the CLI uses). The CLI reports the best of each, since other
    work on the machine only ever slows a run down."""
    cores = os.cpu_count() or 1
    modes = [
        ("headless", WORKER_THREADS, f"headless Trainer, {WORKER_THREADS} thread(s)"),
        (
            "job",
            WORKER_THREADS,
            f"TrainingJob polled every {poll_s:g} s, {WORKER_THREADS} thread(s)",
        ),
    ]
    if cores != WORKER_THREADS:
        modes.append(("headless", cores, f"headless Trainer, {cores} threads (the CLI)"))
    rows = []
    for r in range(repeats):
        for mode, threads, label in modes:
            row = _measure_in_child(mode, config, spec, poll_s, threads)
            rows.append({"mode": label, "repeat": r, **row})
    return pd.DataFrame(rows)


def _child(mode: str, config_json: str, spec: str, poll_s: float, threads: int) -> None:
    config = TrainConfig.from_dict(json.loads(config_json))
    # The job's poller runs on one thread, as the app's script threads do; the worker sets its
    # own count (WORKER_THREADS) when it starts.
    set_intraop_threads(1 if mode == "job" else threads)
    data = load_data(spec)
    warm = TrainConfig(**{**config.to_dict(), "epochs": 1, "max_batches": 3})
    if mode == "headless":
        headless(warm, data)  # oneDNN builds its kernels on first use; not part of the rate
        row = {"images_per_s": headless(config, data), "polls": 0}
    else:
        in_job(warm, data, poll_s)
        rate, polls = in_job(config, data, poll_s)
        row = {"images_per_s": rate, "polls": polls}
    print(json.dumps(row))


def queue_check(data: Dataset, config: TrainConfig) -> list[str]:
    """Two jobs at once (two "sessions") plus a third that must wait, then run. Returns lines of
    findings; raises AssertionError if anything is wrong."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        manager = JobManager(max_running=2)
        configs = [TrainConfig(**{**config.to_dict(), "seed": s}) for s in (1, 2, 3)]
        jobs = [
            manager.submit(
                TrainingJob(
                    c,
                    data,
                    store,
                    session_id=f"session-{i}",
                    name=f"session {i}",
                    tensorboard=False,
                )
            )
            for i, c in enumerate(configs, start=1)
        ]
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
            lines.append(
                f"{job.name}: {job.status}, run {job.run_id} (seed {info.config['seed']}, "
                f"{batches} batches, test accuracy {info.summary['test_accuracy']:.1%})"
            )
        waited = jobs[2].started - jobs[2].created
        lines.append(f"the third job waited {waited:.1f} s in the queue, then ran and finished")
    return lines


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))


def estimate_check(
    data: Dataset,
    config: TrainConfig | None = None,
    poll_s: float = PAGE_POLL_S,
    recalibrate: bool = False,
) -> dict:
    """The training page's estimate against what happens: ``config`` (default: the page's
    defaults) trained in a job polled and drawn like the page, from submit to done."""
    import time

    from cnncore.speed import calibrate, estimate_seconds

    config = config or TrainConfig()
    if recalibrate:
        calibrate(config.model, "cpu", WORKER_THREADS, refresh=True)
    estimate = estimate_seconds(config, data, WORKER_THREADS)
    set_intraop_threads(1)
    manager = JobManager(max_running=1)
    warm_up()  # as on the page: its job manager starts this when the page opens, before Start
    started = time.perf_counter()
    job = manager.submit(TrainingJob(config, data, store=None))
    polls = watch_like_the_page(job, data, poll_s)
    actual = time.perf_counter() - started
    manager.shutdown()
    return {
        "estimate_s": estimate,
        "actual_s": actual,
        "ratio": actual / estimate,
        "status": job.status,
        "precision": job.result.precision if job.result else "",
        "threads": WORKER_THREADS,
        "polls": polls,
    }
