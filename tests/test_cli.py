"""The command line, run for real in a subprocess with tiny budgets."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "cnncore", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_train_saves_a_run_and_runs_lists_it(tmp_path):
    runs = str(tmp_path / "runs")
    proc = cli(
        "train",
        "--data",
        "bundled",
        "--epochs",
        "2",
        "--max-batches",
        "3",
        "--runs",
        runs,
        "--name",
        "cli-run",
    )
    assert proc.returncode == 0, proc.stderr
    assert "validation accuracy:" in proc.stdout and "test accuracy:" in proc.stdout
    assert "saved run" in proc.stdout
    assert "6/6" in proc.stderr  # the tqdm bar reached the end
    listing = cli("runs", "--runs", runs)
    assert "cli-run" in listing.stdout and "finished" in listing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0"], "must be a number > 0"),
        (["--lr", "abc"], "is not a number"),
        (["--epochs", "0"], "must be >= 1"),
        (["--batch-size", "0"], "must be >= 1"),
        (["--epochs", "two"], "not a whole number"),
        (["--data", "cifar"], "valid sources"),
    ],
)
def test_bad_input_is_refused_without_traceback(tmp_path, args, message):
    proc = cli("train", "--runs", str(tmp_path / "runs"), "--no-download", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_auto_without_network_falls_back_and_says_so(tmp_path):
    proc = cli(
        "train",
        "--data",
        "auto",
        "--data-root",
        str(tmp_path / "none"),
        "--epochs",
        "1",
        "--max-batches",
        "1",
        "--runs",
        str(tmp_path / "runs"),
        env={"CNN_EXPLORER_MIRROR": "http://127.0.0.1:9/"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "data: bundled" in proc.stdout and "using the bundled 5,000 digits" in proc.stdout


def test_damaged_run_is_reported_by_runs(tmp_path):
    (tmp_path / "runs" / "half-saved").mkdir(parents=True)
    proc = cli("runs", "--runs", str(tmp_path / "runs"))
    assert proc.returncode == 0
    assert "damaged" in proc.stdout and "config.json is missing" in proc.stdout


def test_bench_pipeline_tiny_budget_reports_the_roofline():
    proc = cli("bench", "pipeline", "--batches", "1", "--repeats", "1", timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "lesson notebook" in out and "cnncore Trainer" in out
    assert "32.41 MFLOP" in out and "measured matmul peak fp32" in out and "bf16" in out
    assert "effect of the data pipeline (both fp32)" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"trainer fraction of fp32 roofline: \d+\.\d\d", last)


def test_bench_refresh_sends_a_bounded_number_of_points():
    proc = cli("bench", "refresh", "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in rows] == [1000, 100000, 1000000]
    assert int(rows[0][1]) == 1000 and all(int(r[1]) <= 2000 for r in rows)


def test_a_workspace_folder_given_as_runs_folder_is_refused_not_nested(tmp_path):
    runs = tmp_path / "runs"
    assert (
        cli(
            "train", "--data", "bundled", "--epochs", "1", "--max-batches", "1", "--runs", str(runs)
        ).returncode
        == 0
    )
    before = sorted(p.name for p in (runs / "ws" / "local").iterdir())
    proc = cli("runs", "--runs", str(runs / "ws" / "local"))
    assert proc.returncode == 2
    assert f"give the runs folder itself (--runs {runs})" in proc.stderr
    assert sorted(p.name for p in (runs / "ws" / "local").iterdir()) == before  # nothing moved
