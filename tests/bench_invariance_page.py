"""Browser benchmark of the translation-invariance page (issue 8.2): a real `streamlit run` and
headless Chromium. Prints, for one visitor:

- first visit of the page after the server is warm: navigation start -> the script idle with the
  comparison settings shown;
- "Shift one digit": a dx or dy key press -> the page idle again (data-test-script-state =
  notRunning), p50/p95 over 20 presses, models already trained.

    python tests/bench_invariance_page.py [--presses 20]

A command, not a test: it prints numbers and asserts nothing about them. Name the CPU with
them (`lscpu | grep 'Model name'`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, wait_idle  # noqa: E402

# Records every change of the app's script state with its time (performance.now(), ms).
WATCH_STATE = """() => {
  window.__states = [];
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__states.push(
      [performance.now(), app.getAttribute('data-test-script-state')]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def _idle_after(page, t0: float, timeout: float = 30) -> float:
    """ms from t0 until the script went running and then notRunning again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = page.evaluate("window.__states")
        seen_running = False
        for t, state in states:
            if t < t0:
                continue
            if state == "running":
                seen_running = True
            elif seen_running and state == "notRunning":
                return t - t0
        time.sleep(0.01)
    raise RuntimeError("the page did not become idle")


def _press_and_time(page, slider, key: str) -> float:
    t0 = page.evaluate("performance.now()")
    slider.press(key)
    return _idle_after(page, t0)


def _start_server(work: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "CNN_EXPLORER_RUNS": str(work / "runs"), "CNN_EXPLORER_SOURCE": "bundled"}
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
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start")


def _report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{name}: p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms over {len(ms)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        proc, url = _start_server(Path(tmp))
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/invariance")  # warm-up: imports, data, the speed measurement
            wait_idle(page, 300)
            page.get_by_text("s on this machine").wait_for(timeout=300_000)
            firsts = []
            for _ in range(3):
                started = time.perf_counter()
                page.goto(f"{url}/invariance")
                page.get_by_role("button", name="Train and compare").wait_for()
                wait_idle(page, 120)
                firsts.append(1000 * (time.perf_counter() - started))
            _report("first visit after warm-up (to idle, settings shown)", firsts)

            epochs = page.get_by_label("Epochs (same for all)")
            epochs.fill("1")
            epochs.press("Tab")
            wait_idle(page)
            page.get_by_text("2-D grid of shifts").click()
            wait_idle(page)
            page.get_by_role("button", name="Train and compare").click()
            page.get_by_text("Shift one digit").wait_for(timeout=600_000)
            wait_idle(page, 120)
            page.evaluate(WATCH_STATE)
            times = []
            for i in range(args.presses):
                label = "dx (→ right)" if i % 2 == 0 else "dy (↓ down)"
                slider = page.get_by_role("slider", name=label)
                slider.focus()
                times.append(_press_and_time(page, slider, "ArrowRight" if i < 16 else "ArrowLeft"))
            _report("shift one digit: dx/dy key press -> idle", times)
            browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
