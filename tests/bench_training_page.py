"""Benchmark (a command, not a test) of the Live training page in a real browser:

    python tests/bench_training_page.py [--tries 5] [--batches 30]

Starts `streamlit run` on a free port with a fresh run store and headless Chromium, then prints
- first visit of the page after the server is warm: seconds until content (not placeholders),
- a click on Pause / Resume / Apply learning rate while a job trains: ms until the page shows it
  (p50 and p95 over ``--tries``),
- the job's images/s while the page polls it, against the headless Trainer on the same number of
  threads in a child process, run before and after (the ratio is what matters on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADLESS = """
import json, sys
from cnncore.data import load_data
from cnncore.jobs import WORKER_THREADS, set_intraop_threads
from cnncore.train import TrainConfig, Trainer
set_intraop_threads(WORKER_THREADS)
cfg = TrainConfig(**json.loads(sys.argv[1]))
print(Trainer(cfg, load_data("bundled")).run().images_per_s)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "CNN_EXPLORER_RUNS": str(runs),
        "CNN_EXPLORER_SOURCE": "bundled",
        "CNN_EXPLORER_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/streamlit_app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start")


def idle(page, timeout: float = 120) -> None:
    app = page.locator('[data-testid="stApp"]')
    app.wait_for(timeout=timeout * 1000)
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 2:
        quiet = quiet + 1 if app.get_attribute("data-test-script-state") == "notRunning" else 0
        if time.monotonic() > deadline:
            raise SystemExit("the page did not finish its run")
        time.sleep(0.1)


def shown_after(page, click, text: str) -> float:
    """ms from a click until ``text`` is in the page."""
    started = time.perf_counter()
    click()
    page.wait_for_function(
        "(t) => document.querySelector('main').innerText.includes(t)",
        arg=text,
        polling=20,
        timeout=300_000,
    )
    return (time.perf_counter() - started) * 1000


def headless_rate(config: dict) -> float:
    out = subprocess.run(
        [sys.executable, "-c", HEADLESS, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def cpu_name() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "?"
    )
    return f"{model}, {os.cpu_count()} cores"


def report(visits, pauses, applies, resumes) -> None:
    print(f"CPU: {cpu_name()}")
    print(
        f"first visit after warm-up, s to the Start button: {', '.join(f'{v:.2f}' for v in visits)}"
    )
    for name, values in (("Pause", pauses), ("Apply learning rate", applies), ("Resume", resumes)):
        print(
            f"{name} click -> shown, ms: p50 {p(values, 0.5):.0f}, p95 {p(values, 0.95):.0f} "
            f"(n={len(values)}, max {max(values):.0f})",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=5)
    ap.add_argument("--batches", type=int, default=30, help="batches per epoch of the timed run")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    config = {"epochs": 2, "batch_size": 64, "max_batches": args.batches, "precision": "fp32"}
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    proc, url = start_server(work / "runs")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-gpu"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/training")  # warm-up: data, models, caches
            idle(page)
            visits = []
            for _ in range(3):
                fresh = browser.new_page(viewport={"width": 1400, "height": 1000})
                started = time.perf_counter()
                fresh.goto(f"{url}/training")
                fresh.get_by_role("button", name="Start training").wait_for(timeout=60_000)
                visits.append(time.perf_counter() - started)
                fresh.close()

            # Control latency on a long run.
            page.get_by_role("textbox", name="Epochs", exact=True).fill("50")
            page.get_by_role("textbox", name="Batch size", exact=True).fill("32")
            page.get_by_role("button", name="Start training").click()
            page.get_by_role("button", name="Pause").wait_for(timeout=60_000)
            page.wait_for_function(
                "() => document.querySelector('main').innerText.includes('images/s')",
                timeout=120_000,
            )
            pauses, resumes, applies = [], [], []
            for i in range(args.tries):
                pauses.append(
                    shown_after(page, page.get_by_role("button", name="Pause").click, "Resume")
                )
                box = page.get_by_label("New learning rate")
                lr = f"{0.0005 + i * 0.0001:g}"
                box.fill(lr)
                box.press("Enter")
                time.sleep(0.8)
                applies.append(
                    shown_after(
                        page,
                        page.get_by_role("button", name="Apply learning rate").click,
                        f"→ {lr} from the next batch",
                    )
                )
                resumes.append(
                    shown_after(page, page.get_by_role("button", name="Resume").click, "Pause")
                )
                time.sleep(1.0)
            report(visits, pauses, applies, resumes)
            stops = [shown_after(page, page.get_by_role("button", name="Stop").click, "stopped")]
            print(f"Stop click -> shown, ms: {stops[0]:.0f}", flush=True)
            page.wait_for_function(
                "() => document.querySelector('main').innerText.includes('Saved as run')",
                timeout=600_000,
            )
            idle(page)

            # Throughput: headless, then in the app with the page open and polling, then headless.
            before = headless_rate(config)
            page.goto(f"{url}/training")
            idle(page)
            page.get_by_role("textbox", name="Epochs", exact=True).fill(str(config["epochs"]))
            page.get_by_role("textbox", name="Batch size", exact=True).fill(
                str(config["batch_size"])
            )
            page.get_by_role("textbox", name="Batches per epoch (0 = all)", exact=True).fill(
                str(config["max_batches"])
            )
            page.locator(".st-key-tp_precision").click()
            page.get_by_role("option", name="fp32").click()
            page.get_by_label("Run name (optional)").fill("bench")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_function(
                "() => document.querySelector('main').innerText.includes('Saved as run')",
                timeout=600_000,
                polling=500,
            )
            after = headless_rate(config)
            browser.close()
        runs = [json.loads(c.read_text()) for c in (work / "runs").glob("*/config.json")]
        app_rate = next(r["summary"]["images_per_s"] for r in runs if r["name"] == "bench")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    headless_mean = statistics.mean([before, after])
    print(
        f"images/s headless {before:.0f} / {after:.0f}, in the app with the page polling "
        f"{app_rate:.0f}: {app_rate / headless_mean:.0%} of headless"
    )


if __name__ == "__main__":
    main()
