"""Fault drills (issue 9): real processes are killed or interrupted mid-training, stores cannot be
written, folders are damaged, the loss becomes NaN; each time the run store tells the truth and
nothing that reached the disk is lost.

The server drill runs a TrainingJob in a child process (what the app's job manager does in the
Streamlit server) and kills that process with SIGKILL; tests/e2e/test_server_kill_e2e.py does
the same through a real ``streamlit run`` and a browser.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from cnncore.errors import UserError
from cnncore.jobs import JobManager, TrainingJob
from cnncore.models import build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig
from cnncore.workspaces import LOCAL, Workspaces
from tests.conftest import ROOT
from tests.test_run_store import make_odd_folders

LONG = [
    "--data",
    "bundled",
    "--no-download",
    "--epochs",
    "1000",
    "--batch-size",
    "16",
    "--max-batches",
    "5",
    "--precision",
    "fp32",
]
WAIT_S = 300  # a guard against a hung child, not a speed requirement


def cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "cnncore", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_store(runs) -> RunStore:
    """Where ``python -m cnncore train --runs RUNS`` writes: workspace ``local`` under RUNS
    (RUNS/ws/local/), the store ``python -m cnncore runs --runs RUNS`` lists."""
    return Workspaces(runs).store(LOCAL)


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_run(proc: subprocess.Popen, store: RunStore, checkpoint: bool, rows: int = 2):
    """The one run in ``store`` once it has ``rows`` training rows on disk (and a checkpoint)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the process ended early ({proc.returncode}): {proc.stderr.read()}")
        runs = store.list()
        ready = (
            runs and runs[0].status == "running" and (not checkpoint or runs[0].checkpoint_epoch)
        )
        if ready and (store.metrics(runs[0].id)["kind"] == "train").sum() >= rows:
            return runs[0]
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"no run with {rows} rows{' and a checkpoint' if checkpoint else ''} appeared")


def assert_interrupted_with_curves(store: RunStore, run_id: str, runs_folder) -> None:
    info = store.info(run_id)
    assert info.status == "interrupted" and not info.damaged
    assert info.checkpoint_epoch >= 1
    metrics = store.metrics(run_id)
    assert (metrics["kind"] == "train").sum() >= 5 and (metrics["kind"] == "val").sum() >= 1
    model, _ = store.load_model(run_id)  # the last checkpoint loads
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    listing = cli("runs", "--runs", str(runs_folder))
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
    line = next(ln for ln in listing.stdout.splitlines() if run_id in ln)
    assert "interrupted" in line and f"weights of epoch {info.checkpoint_epoch}" in line


def killed_cli_run(runs, args=LONG, rows: int = 6):
    """``python -m cnncore train`` killed with SIGKILL once its first checkpoint and ``rows``
    metrics rows are on disk; returns the run as listed then."""
    proc = start([sys.executable, "-m", "cnncore", "train", *args, "--runs", str(runs)])
    run = wait_for_run(proc, cli_store(runs), checkpoint=True, rows=rows)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    return run


def test_kill_9_of_cli_train_leaves_an_interrupted_run_with_curves(tmp_path):
    runs = tmp_path / "runs"
    run = killed_cli_run(runs)
    assert_interrupted_with_curves(cli_store(runs), run.id, runs)


SERVER = """
import sys
from cnncore.data import load_data
from cnncore.jobs import JobManager, TrainingJob
from cnncore.runs import RunStore
from cnncore.train import TrainConfig

config = TrainConfig(epochs=1000, batch_size=16, max_batches=5, precision="fp32")
manager = JobManager(max_running=1)
job = manager.submit(TrainingJob(config, load_data("bundled"), RunStore(sys.argv[1]), "s1", "drill"))
job.join()
"""


def test_kill_9_of_a_process_running_a_training_job(tmp_path):
    runs = tmp_path / "runs"
    proc = start([sys.executable, "-c", SERVER, str(runs)])
    run = wait_for_run(proc, RunStore(runs), checkpoint=True, rows=6)
    assert run.name == "drill"
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    assert_interrupted_with_curves(RunStore(runs), run.id, runs)


def test_ctrl_c_saves_the_run_as_stopped_in_one_line(tmp_path):
    runs = tmp_path / "runs"
    proc = start([sys.executable, "-m", "cnncore", "train", *LONG, "--runs", str(runs)])
    run = wait_for_run(proc, cli_store(runs), checkpoint=False, rows=2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = out.strip().splitlines()[-1]
    assert last.startswith("stopped by Ctrl-C after ") and last.endswith(
        f"saved run {run.id} in {runs}/ws/local/ as stopped"
    )
    store = cli_store(runs)
    info = store.info(run.id)
    assert info.status == "stopped" and not info.damaged
    listing = cli("runs", "--runs", str(runs))
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
    assert "stopped" in next(ln for ln in listing.stdout.splitlines() if run.id in ln)
    assert (store.metrics(run.id)["kind"] == "train").sum() >= 2
    store.load_model(run.id)  # the weights at the stop


def test_unwritable_store_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("the store path runs through a file, so os.mkdir truly fails")
    with pytest.raises(OSError):
        os.mkdir(blocker / "runs")
    proc = cli("train", *LONG, "--runs", str(blocker / "runs"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: the run store {blocker / 'runs/ws/local'}/ (workspace local of the runs folder "
        f"{blocker / 'runs'}/) cannot be written (not a directory); training was not started: "
        "use a folder you can write to (--runs, or $CNN_EXPLORER_RUNS for the app)"
    ]
    assert "data:" not in proc.stdout and "training" not in proc.stdout  # refused before either


def test_damaged_folders_are_listed_by_the_cli(tmp_path):
    runs = tmp_path / "runs"
    expected = make_odd_folders(runs)
    proc = cli("runs", "--runs", str(runs))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    lines = {ln.split()[0]: ln for ln in proc.stdout.splitlines()[1:]}
    assert set(lines) == set(expected)
    for name, reason in expected.items():
        assert "damaged" in lines[name] and reason in lines[name], name


def test_nan_loss_saves_a_diverged_run(tiny_data, tmp_path):
    # The learning rate is capped at 10, where these models stay finite; poisoning the forward
    # pass makes the loss NaN the way an exploding run would.
    model, calls = build_model("convnet"), [0]

    def poison(module, inputs, output):
        calls[0] += 1
        return output * float("nan") if calls[0] > 6 else output

    model.register_forward_hook(poison)
    store, manager = RunStore(tmp_path / "runs"), JobManager(1)
    config = TrainConfig(epochs=3, batch_size=16, max_batches=4, precision="fp32")
    job = manager.submit(TrainingJob(config, tiny_data, store, model=model, tensorboard=False))
    assert job.join(120) and job.status == "diverged"
    info = store.info(job.run_id)
    assert info.status == "diverged" and not info.damaged
    metrics = store.metrics(job.run_id)
    assert metrics.query("kind == 'train'")["loss"].isna().sum() == 1
    listing = cli("runs", "--runs", str(store.root))
    assert "diverged" in listing.stdout


def test_out_of_range_numbers_are_refused_in_one_line(tiny_data, tmp_path):
    proc = cli("train", *LONG, "--seed", str(10**26), "--runs", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: seed must be a whole number from 0 to 4294967295"
    proc = cli("train", *LONG, "--batch-size", "65536", "--runs", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: batch size must be a whole number from 1 to 4096"
    assert not (tmp_path / "runs").exists()
    job = TrainingJob(TrainConfig(max_batches=1), tiny_data)
    with pytest.raises(UserError, match=r"^learning rate must be a number > 0 \(and at most 10\)$"):
        job.set_lr(1e300)


RESUMABLE = [
    "--data",
    "bundled",
    "--no-download",
    "--epochs",
    "6",
    "--batch-size",
    "32",
    "--max-batches",
    "40",
    "--precision",
    "fp32",
    "--seed",
    "5",
]


def weights_of(store: RunStore, run_id: str) -> dict:
    return store.load_model(run_id)[0].state_dict()


def test_kill_9_after_an_epoch_end_then_resume_gives_the_uninterrupted_run(tmp_path):
    runs = tmp_path / "runs"
    run = killed_cli_run(runs, RESUMABLE, rows=41)  # mid-epoch 2 or later: after a checkpoint
    store = cli_store(runs)
    info = store.info(run.id)
    assert info.status == "interrupted" and info.resumable, info.note
    listing = cli("runs", "--runs", str(runs))
    hint = f"resume {run.id}: python -m cnncore train --resume {run.id} --runs {runs}"
    assert hint in listing.stdout.splitlines(), listing.stdout

    resumed = cli("train", "--resume", run.id, "--runs", str(runs))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after epoch {info.checkpoint_epoch} of 6" in resumed.stdout
    assert "Traceback" not in resumed.stderr

    alone = cli("train", *RESUMABLE, "--runs", str(tmp_path / "alone"))
    assert alone.returncode == 0, alone.stderr
    (reference,) = cli_store(tmp_path / "alone").list()

    info = store.info(run.id)
    assert info.status == "finished" and not info.damaged and not info.resumable
    metrics, expected = store.metrics(run.id), cli_store(tmp_path / "alone").metrics(reference.id)
    train = metrics.query("kind == 'train'")
    assert train["step"].tolist() == list(range(1, 241)), "duplicated or missing steps"
    assert train["loss"].tolist() == expected.query("kind == 'train'")["loss"].tolist()
    assert metrics.query("kind == 'val'")["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    mine, theirs = (
        weights_of(store, run.id),
        weights_of(cli_store(tmp_path / "alone"), reference.id),
    )
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs), "weights differ from the run alone"
    assert info.summary["test_accuracy"] == reference.summary["test_accuracy"]

    again = cli("train", "--resume", run.id, "--runs", str(runs))
    assert again.returncode == 2 and again.stderr.strip() == (
        f"error: run {run.id} is finished, not interrupted: only a run whose training was cut "
        "off (killed or crashed) can be resumed; start a new run instead"
    )


def test_ctrl_c_of_a_resumed_run_saves_it_as_stopped(tmp_path):
    runs = tmp_path / "runs"
    run = killed_cli_run(runs)
    mixed = cli("train", "--resume", run.id, "--epochs", "3", "--runs", str(runs))
    assert mixed.returncode == 2
    assert mixed.stderr.strip().endswith("with its own settings; leave out --epochs")
    kept = (cli_store(runs).metrics(run.id)["kind"] == "train").sum()
    proc = start(
        [sys.executable, "-m", "cnncore", "train", "--resume", run.id, "--runs", str(runs)]
    )
    deadline = time.monotonic() + WAIT_S
    while (cli_store(runs).metrics(run.id)["kind"] == "train").sum() < kept + 3:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130 and "Traceback" not in err
    assert (
        out.strip().splitlines()[-1].endswith(f"saved run {run.id} in {runs}/ws/local/ as stopped")
    )
    info = cli_store(runs).info(run.id)
    assert info.status == "stopped" and not info.damaged
    steps = cli_store(runs).metrics(run.id).query("kind == 'train'")["step"].tolist()
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= kept + 3
