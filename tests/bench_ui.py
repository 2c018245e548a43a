"""Browser benchmark: how fast the pages answer, measured in a real browser. Not a pytest file.

Starts a real `streamlit run` (bundled data, a temporary run store) and headless Chromium, then
prints p50/p95 per interaction, from the key press or click to the page being idle again
(Streamlit's data-test-script-state="notRunning"), or to the answer being shown:

- convolution: a filter-slider key press; an input-cell edit
- invariance: a "Shift one digit" dx step (after a tiny comparison trained with the page's controls)
- live training: Pause / Stop click while a job trains, until the page shows it
- every page: first visit after the server is warm, until its content is shown

Run: python tests/bench_ui.py [--tries 20] [--only conv,inv,train,visit]
Timings are the browser's own clock (performance.now): the input event's timestamp to the
attribute change, recorded by a MutationObserver, so polling adds nothing. Other load on the
machine adds to them; name the CPU when you quote them (lscpu | grep 'Model name').
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

# Records every script-state change with the browser's clock, and the time of the last input.
OBSERVE_JS = """() => {
  if (window.__bench) return;
  const app = document.querySelector('[data-testid="stApp"]');
  window.__bench = {states: [], inputs: []};
  new MutationObserver(() => window.__bench.states.push(
      [performance.now(), app.getAttribute('data-test-script-state')]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  for (const ev of ['keydown', 'pointerdown'])
    window.addEventListener(ev, (e) => window.__bench.inputs.push(e.timeStamp), true);
}"""
MARK_JS = "() => { window.__bench.states = []; window.__bench.inputs = []; }"
# Input -> idle: from the last input event before the first run to the next 'notRunning'.
LATENCY_JS = """() => {
  const {states, inputs} = window.__bench;
  const run = states.findIndex(([, s]) => s === 'running');
  if (run < 0 || !inputs.length) return null;
  const end = states.slice(run).find(([, s]) => s === 'notRunning');
  if (!end) return null;
  const t0 = Math.max(...inputs.filter((t) => t <= states[run][0]));
  return end[0] - t0;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "CNN_EXPLORER_SOURCE": "bundled", "CNN_EXPLORER_RUNS": str(runs)}
    log = open(runs.parent / "server.log", "w")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.port",
         str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"streamlit did not start; see {runs.parent / 'server.log'}")


def wait_idle(page, timeout: float = 120) -> None:
    app = page.locator('[data-testid="stApp"]')
    app.wait_for(timeout=timeout * 1000)
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 3:
        quiet = quiet + 1 if app.get_attribute("data-test-script-state") == "notRunning" else 0
        if time.monotonic() > deadline:
            raise SystemExit("the page did not become idle")
        time.sleep(0.05)


def timed(page, action, timeout: float = 10) -> float | None:
    """Milliseconds from the input ``action`` makes to the end of the run it starts (None when
    no run was seen: the input was lost, e.g. a grid click that only focused the grid)."""
    page.evaluate(OBSERVE_JS)
    page.evaluate(MARK_JS)
    action()
    deadline = time.monotonic() + timeout
    while (ms := page.evaluate(LATENCY_JS)) is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
    wait_idle(page)
    return ms


def report(name: str, times: list[float | None]) -> None:
    lost = times.count(None)
    times = [t for t in times if t is not None]
    if lost:
        name += f" ({lost} input(s) started no run and are left out)"
    if not times:
        print(f"{name}: no measurements")
        return
    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
    print(
        f"{name}: p50 {statistics.median(times):.0f} ms, p95 {q[18]:.0f} ms, "
        f"max {max(times):.0f} ms over {len(times)} tries"
    )


# --- the interactions ---------------------------------------------------------------------


def bench_convolution(page, url: str, tries: int) -> None:
    page.goto(f"{url}/convolution")
    wait_idle(page)
    slider = page.locator(".st-key-cv_w_0_0").get_by_role("slider")
    times = []
    for i in range(tries):
        key = "ArrowLeft" if i % 2 == 0 else "ArrowRight"
        times.append(timed(page, lambda k=key: (slider.focus(), slider.press(k))))
    report("convolution: filter slider key press -> idle", times)

    select_input_cell(page)
    times = []
    for i in range(tries):
        times.append(timed(page, lambda v=str(i % 2): edit_input_cell(page, v)))
        page.keyboard.press("ArrowUp")
        time.sleep(0.2)
    report("convolution: input-cell edit -> idle", times)


def select_input_cell(page) -> None:
    """Click the input grid's top-left cell (glide-data-grid draws on a canvas)."""
    grid = page.locator('[class*="st-key-cv_img_0_"] [data-testid="stDataFrameResizable"]')
    grid.wait_for()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 10, box["y"] + 36 + 17)
    time.sleep(0.3)


def edit_input_cell(page, value: str) -> None:
    """Type into the selected cell like a student: typing opens the editor, Enter sends the edit
    (and moves down a row, so ArrowUp comes back to the same cell for the next try)."""
    page.keyboard.type(value)
    time.sleep(0.3)
    page.keyboard.press("Enter")  # the measured input


def bench_invariance(page, url: str, tries: int) -> None:
    page.goto(f"{url}/invariance")
    wait_idle(page)
    try:
        epochs = page.get_by_label("Epochs", exact=False).first
        epochs.fill("1")
        epochs.press("Tab")
        wait_idle(page)
        page.get_by_role("button", name="Train and compare").click()
        page.get_by_text("Shift one digit").first.wait_for(timeout=600_000)
        wait_idle(page)
    except Exception as exc:  # the page is being reworked: say what was not found
        print(f"invariance: could not train a comparison with the page's controls ({exc})")
        return
    slider = page.get_by_role("slider", name="dx", exact=False).first
    times = []
    for i in range(tries):
        key = "ArrowRight" if (i // 4) % 2 == 0 else "ArrowLeft"
        times.append(timed(page, lambda k=key: (slider.focus(), slider.press(k))))
    report("invariance: Shift one digit, dx step -> idle", times)


def bench_training(page, url: str, tries: int) -> None:
    """Pause then Resume (and finally Stop) while a job trains: click -> the page says so."""
    page.goto(f"{url}/training")
    wait_idle(page)
    try:
        page.get_by_label("Epochs").first.fill("50")
        page.get_by_role("button", name="Start training").click()
        page.get_by_role("button", name="Pause").wait_for(timeout=120_000)
    except Exception as exc:
        print(f"training: could not start a job with the page's controls ({exc})")
        return
    times = []
    try:
        for _ in range(tries):
            for label, then in (("Pause", "Resume"), ("Resume", "Pause")):
                t0 = time.perf_counter()
                page.get_by_role("button", name=label, exact=True).click()
                page.get_by_role("button", name=then, exact=True).wait_for(timeout=30_000)
                times.append((time.perf_counter() - t0) * 1000)
        report("training: Pause/Resume click -> shown", times)
        t0 = time.perf_counter()
        page.get_by_role("button", name="Stop", exact=True).first.click()
        page.get_by_text("stopped", exact=False).first.wait_for(timeout=30_000)
        report("training: Stop click -> shown", [(time.perf_counter() - t0) * 1000])
    except Exception as exc:  # the page is being reworked: say what was not found
        report("training: Pause/Resume click -> shown", times)
        print(f"training: a control did not answer as expected ({str(exc).splitlines()[0]})")


# What each page shows once its content (not a placeholder) is there.
CONTENT = {
    "": ("Home", lambda p: p.get_by_role("heading", name="CNN Explorer").first),
    # the stepper's header (or, on older versions of the page, the Plotly animation)
    "convolution": (
        "Convolution",
        lambda p: p.locator(".st-key-cv_stepper .head, .st-key-cv_anim .js-plotly-plot").first,
    ),
    "training": ("Live training", lambda p: p.get_by_role("button", name="Start training")),
    "invariance": ("Translation invariance", lambda p: p.locator("main h1").first),
}


def bench_first_visit(browser, url: str, tries: int) -> None:
    for path, (name, content) in CONTENT.items():
        times = []
        for _ in range(max(3, tries // 4)):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(f"{url}/{path}")
            content(page).wait_for(timeout=60_000)
            times.append((time.perf_counter() - t0) * 1000)
            ctx.close()
        report(f"first visit, {name}: navigation -> content shown", times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--only", default="visit,conv,inv,train")
    args = ap.parse_args()
    only = set(args.only.split(","))
    with open("/proc/cpuinfo") as info:
        names = [ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "runs")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                warm = browser.new_page()
                for path in CONTENT:  # warm the server: imports, data, caches
                    warm.goto(f"{url}/{path}")
                    wait_idle(warm)
                warm.close()
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                if "visit" in only:
                    bench_first_visit(browser, url, args.tries)
                if "conv" in only:
                    bench_convolution(page, url, args.tries)
                if "inv" in only:
                    bench_invariance(page, url, args.tries)
                if "train" in only:
                    bench_training(page, url, max(3, args.tries // 4))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
