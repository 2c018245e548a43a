"""Browser benchmark: how fast the pages answer, measured in a real browser. Not a pytest file.

Starts a real `streamlit run` (bundled data, a temporary run store) and headless Chromium, then
prints p50/p95 per interaction, from the key press or click to the page being idle again
(Streamlit's data-test-script-state="notRunning"), or to the answer being shown:

- convolution: a filter-slider key press; an input-cell edit; Chromium's CPU per slider move
- invariance: a "Shift one digit" dx step and dy step (after a tiny comparison trained with the
  page's controls)
- live training: Pause / Apply learning rate / Resume / Stop click while a job trains, until the
  page shows it
- live training polls (``poll``): what the polling live panel costs the browser while a job
  trains (main-thread busy ms per second, long tasks, CPU of all Chromium processes)
- live training throughput (``rate``): the job's images/s while the page polls it (and with no
  page open), against the headless Trainer on the same number of threads in a child process, in
  interleaved windows (only one of them trains at a time), so the machine's drift cancels
- every page: first visit after the server is warm, until its content is shown: in a new browser
  context (a cold cache, the page's address opened directly), and in a session that opened on
  Home (the page's sidebar link clicked: the frontend and its scripts already loaded); and, for
  scale, a one-title Streamlit app's cold first visit (Streamlit's own floor on this machine)
  and the Convolution page's on a server without streamlit[performance] (what the extra is worth)

Run: python tests/bench_ui.py [--tries 20] [--only visit,conv,inv,train,poll,rate] [--window 8]
Timings are the browser's own clock (performance.now): the input event's timestamp to the
attribute change, recorded by a MutationObserver, so polling adds nothing. Other load on the
machine adds to them; name the CPU when you quote them (lscpu | grep 'Model name').
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tests/bench_ui.py`
    sys.path.insert(0, str(ROOT))

from tests.serving import launch_chromium, running_server  # noqa: E402

# The headless Trainer, on the threads a training job gets, in a child process: one line per
# batch ("epoch,step,wall seconds"), flushed, so it can be read while the child is stopped.
HEADLESS = """
import json, sys, time
from cnncore.data import load_data
from cnncore.jobs import WORKER_THREADS, set_intraop_threads
from cnncore.train import TrainConfig, Trainer
set_intraop_threads(WORKER_THREADS)
out = open(sys.argv[2], "w", buffering=1)
def row(e):
    if e.kind == "train":
        out.write(f"{e.epoch},{e.step},{time.perf_counter()}\\n")
Trainer(TrainConfig(**json.loads(sys.argv[1])), load_data("bundled"), on_event=row).run()
"""


def window_rate(rows: list[tuple[int, int, float]], batch_size: int, skip: int = 2) -> float:
    """images/s over a window's rows (epoch, step, seconds), in the order they were recorded:
    consecutive batches of the same epoch only (an epoch's end, with its validation and
    checkpoint, is left out on both sides), after the first ``skip`` rows (the switch)."""
    images = seconds = 0.0
    for (e0, s0, t0), (e1, s1, t1) in itertools.pairwise(rows[skip:]):
        if e0 == e1 and s1 > s0:
            images += (s1 - s0) * batch_size
            seconds += t1 - t0
    return images / seconds if seconds else float("nan")


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
    slider = page.get_by_role("slider", name="w[0,0]", exact=True)
    times = []
    for i in range(tries):
        key = "ArrowLeft" if i % 2 == 0 else "ArrowRight"
        times.append(timed(page, lambda k=key: (slider.focus(), slider.press(k))))
    report("convolution: filter slider key press -> idle", times)
    # What a move costs the student's browser: all Chromium processes' CPU over quiet moves (a
    # key press, then 1.2 s untouched: no checks from this driver in between).
    slider.focus()
    time.sleep(1.0)
    c0 = chromium_cpu_seconds()
    for i in range(10):
        page.keyboard.press("ArrowLeft" if i % 2 == 0 else "ArrowRight")
        time.sleep(1.2)
    print(
        "convolution: Chromium CPU per filter slider move "
        f"{(chromium_cpu_seconds() - c0) / 10 * 1000:.0f} ms (10 quiet moves, all its processes)"
    )

    select_input_cell(page)
    times = []
    for i in range(tries):
        times.append(timed(page, lambda v=str(i % 2): edit_input_cell(page, v)))
        page.keyboard.press("ArrowUp")
        time.sleep(0.2)
    report("convolution: input-cell edit -> idle", times)


def select_input_cell(page) -> None:
    """Focus the input grid's top-left cell (its text is selected, so typing replaces it)."""
    cell = page.get_by_role("textbox", name="input row 1, column 1", exact=True)
    cell.wait_for()
    cell.focus()
    time.sleep(0.3)


def edit_input_cell(page, value: str) -> None:
    """Type into the focused cell like a student; Enter sends the edit (and moves down a row, so
    ArrowUp comes back to the same cell for the next try)."""
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
    for name in ("dx", "dy"):
        slider = page.get_by_role("slider", name=name, exact=False).first
        times = []
        for i in range(tries):
            key = "ArrowRight" if (i // 4) % 2 == 0 else "ArrowLeft"
            times.append(timed(page, lambda k=key, s=slider: (s.focus(), s.press(k))))
        report(f"invariance: Shift one digit, {name} step -> idle", times)


def shown_after(page, click, text: str, timeout: float = 30) -> float:
    """ms from a click until ``text`` is in the page's main area (any case)."""
    t0 = time.perf_counter()
    click()
    page.wait_for_function(
        "(t) => document.querySelector('main').innerText.toLowerCase().includes(t)",
        arg=text.lower(),
        polling=20,
        timeout=timeout * 1000,
    )
    return (time.perf_counter() - t0) * 1000


def fill_training_form(page, **values: str) -> None:
    """Fill the set-up's text boxes by their labels (``Epochs="50"``)."""
    setup = page.locator("main details").filter(has_text="Set-up").first
    setup.wait_for(state="attached", timeout=60_000)
    if setup.get_attribute("open") is None:  # folded away once the visitor has a run
        setup.locator("summary").first.click()
    for label, value in values.items():
        page.get_by_role("textbox", name=label.replace("_", " "), exact=True).fill(value)


def start_a_job(page, url: str, what: str) -> bool:
    """Open the training page and start a long job with its controls; False (said) if it failed."""
    page.goto(f"{url}/training")
    wait_idle(page)
    try:
        fill_training_form(page, Epochs="50", Batch_size="32")
        page.get_by_role("button", name="Start training").click()
        page.get_by_role("button", name="Pause").wait_for(timeout=120_000)
    except Exception as exc:
        print(f"{what}: could not start a job with the page's controls ({exc})")
        return False
    return True


def bench_training(page, url: str, tries: int) -> None:
    """Pause, Apply learning rate, Resume (and finally Stop) while a job trains: click -> the
    page says so."""
    from playwright.sync_api import expect

    if not start_a_job(page, url, "training"):
        return
    pauses, applies, resumes = [], [], []
    try:
        for i in range(tries):
            pause = page.get_by_role("button", name="Pause", exact=True)
            # Pause is disabled until the job has started (it may still be starting right after
            # Start): time the click a student can make, not the wait for the job to start
            expect(pause).to_be_enabled(timeout=60_000)
            t0 = time.perf_counter()
            pause.click()
            page.get_by_role("button", name="Resume", exact=True).wait_for(timeout=30_000)
            pauses.append((time.perf_counter() - t0) * 1000)
            box = page.get_by_label("New learning rate")
            lr = f"{0.0005 + i * 0.0001:g}"
            box.fill(lr)
            box.press("Enter")
            wait_idle(page)
            apply = page.get_by_role("button", name="Apply learning rate").click
            applies.append(shown_after(page, apply, f"→ {lr} from the next batch"))
            resume = page.get_by_role("button", name="Resume", exact=True)
            expect(resume).to_be_enabled(timeout=60_000)
            t0 = time.perf_counter()
            resume.click()
            page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=30_000)
            resumes.append((time.perf_counter() - t0) * 1000)
        print("training: each try, ms: Pause", *(f"{t:.0f}" for t in pauses), end="; ")
        print("Resume", *(f"{t:.0f}" for t in resumes))
        report("training: Pause click -> shown", pauses)
        report("training: Apply learning rate click -> shown", applies)
        report("training: Resume click -> shown", resumes)
        wait_idle(page)  # a click during a rerun can be lost
        t0 = time.perf_counter()
        page.get_by_role("button", name="Stop", exact=True).first.click()
        page.get_by_text("stopped", exact=False).first.wait_for(timeout=30_000)
        report("training: Stop click -> shown", [(time.perf_counter() - t0) * 1000])
        page.get_by_text("Saved as run").first.wait_for(timeout=600_000)
        wait_idle(page)
    except Exception as exc:  # the page is being reworked: say what was not found
        print(f"training: a control did not answer as expected ({str(exc).splitlines()[0]})")


def chromium_cpu_seconds() -> float:
    """utime + stime of every Chromium process on the machine (the benchmark runs alone under
    the CPU lock, so these are its browser's)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if "chrom" in name.lower():
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def page_cpu_seconds(pid: int) -> float:
    """CPU seconds of the server's page work: the whole process less its niced threads (a training
    job's; page threads come and go with the runs they serve, so they cannot be summed)."""
    tick, jobs = os.sysconf("SC_CLK_TCK"), 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended meanwhile
            continue
        if int(fields[16]) > 0:  # nice
            jobs += (int(fields[11]) + int(fields[12])) / tick
    return process_cpu_seconds(pid) - jobs


LONG_TASKS_JS = """() => {
  window.__long = [];
  new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__long.push(e.duration)))
    .observe({type: 'longtask'});
}"""


def bench_poll_cost(page, url: str, server_pid: int, seconds: float = 10.0) -> None:
    """What the live panel's polling costs the browser while a job trains: the renderer main
    thread's busy time (CDP Performance.getMetrics TaskDuration, ScriptDuration, LayoutDuration,
    RecalcStyleDuration) per second, long tasks (> 50 ms), and the CPU of all Chromium processes."""
    if not start_a_job(page, url, "poll cost"):
        return
    time.sleep(3)  # past the first draws
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.evaluate(LONG_TASKS_JS)
    names = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")

    def metrics() -> dict:
        got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return {n: got.get(n, 0.0) for n in names}

    m0, c0, s0, t0 = (
        metrics(),
        chromium_cpu_seconds(),
        page_cpu_seconds(server_pid),
        time.perf_counter(),
    )
    time.sleep(seconds)
    m1, c1, s1 = metrics(), chromium_cpu_seconds(), page_cpu_seconds(server_pid)
    dt = time.perf_counter() - t0
    long = page.evaluate("() => window.__long")
    per_s = {n: (m1[n] - m0[n]) / dt * 1000 for n in names}
    print(
        "training: browser cost of the polling live panel while a job trains: main thread busy "
        f"{per_s['TaskDuration']:.0f} ms/s (script {per_s['ScriptDuration']:.0f}, layout "
        f"{per_s['LayoutDuration']:.0f}, style {per_s['RecalcStyleDuration']:.0f}); "
        f"{len(long)} long tasks in {dt:.0f} s (max {max(long, default=0):.0f} ms); all Chromium "
        f"processes {(c1 - c0) / dt * 1000:.0f} ms CPU/s; the server less its niced "
        f"job {(s1 - s0) / dt * 1000:.0f} ms CPU/s"
    )
    page.get_by_role("button", name="Stop", exact=True).first.click()
    page.get_by_text("Saved as run").first.wait_for(timeout=600_000)
    wait_idle(page)


def run_metrics(runs: Path, name: str, timeout: float = 60) -> Path:
    """The metrics.csv of the run named ``name`` (its folder appears when its job starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for config in runs.rglob("config.json"):
            try:
                if json.loads(config.read_text()).get("name") == name:
                    return config.parent / "metrics.csv"
            except (OSError, ValueError):  # being written
                pass
        time.sleep(0.5)
    raise TimeoutError(f"no run named {name!r} appeared")


def csv_rows(path: Path, start: int = 0) -> list[tuple[int, int, float]]:
    """(epoch, step, seconds) of a run's train rows in metrics.csv, from the ``start``-th on."""
    with open(path, newline="") as f:
        train = [r for r in csv.DictReader(f) if r["kind"] == "train"]
    return [(int(r["epoch"]), int(r["step"]), float(r["seconds"])) for r in train[start:]]


def child_rows(path: Path, start: int = 0) -> list[tuple[int, int, float]]:
    lines = path.read_text().splitlines()[start:]
    return [(int(e), int(s), float(t)) for e, s, t in (ln.split(",") for ln in lines if ln)]


def bench_training_rate(page, url: str, runs: Path, seconds: float, repeats: int) -> None:
    """images/s of a job started from the page against the headless Trainer on the same threads,
    measured in interleaved windows so that this VM's drift (up to 1.4x within minutes) cancels:
    the app's job and a headless Trainer in a child process both train a long run, and only one
    runs at a time: the child (the job paused with the page's Pause button), then the job with
    its page open and polling (the child stopped with SIGSTOP), then the job with no page open
    (the tab on about:blank), again and again. Each window's steady rate comes from the batches
    recorded inside it (metrics.csv rows for the job, the child's own rows); each app window is
    compared with the mean of the headless windows on either side of it."""
    config = {"epochs": 100, "batch_size": 64, "max_batches": 0, "precision": "fp32"}
    page.goto(f"{url}/training")
    wait_idle(page)
    fill_training_form(
        page,
        Epochs=str(config["epochs"]),
        Batch_size=str(config["batch_size"]),
        **{"Batches per epoch (0 = all)": "0"},
    )
    page.locator(".st-key-tp_precision").click()
    page.get_by_role("option", name="fp32").click()
    page.get_by_label("Run name (optional)").fill("bench rate")
    page.get_by_role("button", name="Start training").click()
    pause = page.get_by_role("button", name="Pause", exact=True)
    try:
        pause.wait_for(timeout=120_000)
    except Exception:
        print(
            "rate: the job did not start; the page says:", page.locator("main").inner_text()[:800]
        )
        return
    resume = page.get_by_role("button", name="Resume", exact=True)
    pause.click()
    resume.wait_for(timeout=30_000)
    metrics = run_metrics(runs, "bench rate")
    log = runs.parent / "headless_rows.csv"
    child = subprocess.Popen(
        [sys.executable, "-c", HEADLESS, json.dumps(config), str(log)], cwd=ROOT
    )
    try:
        while not log.exists() or len(log.read_text().splitlines()) < 50:  # started, warm
            time.sleep(0.5)
        windows: dict[str, list[float]] = {"headless": [], "watched": [], "alone": []}

        def window(kind: str) -> None:
            time.sleep(1.5)  # the switch settles
            read = child_rows if kind == "headless" else csv_rows
            path = log if kind == "headless" else metrics
            start = len(read(path))
            time.sleep(seconds)
            rows = read(path, start)
            windows[kind].append(window_rate(rows, config["batch_size"]))

        for _ in range(repeats):
            window("headless")
            child.send_signal(signal.SIGSTOP)
            resume.click()
            pause.wait_for(timeout=30_000)
            window("watched")
            page.goto("about:blank")
            window("alone")
            page.goto(f"{url}/training")
            wait_idle(page)
            pause.click()
            resume.wait_for(timeout=30_000)
            child.send_signal(signal.SIGCONT)
        window("headless")
    finally:
        child.kill()
        child.wait()
    h = windows["headless"]
    around = [(a + b) / 2 for a, b in itertools.pairwise(h)]
    w = [a / m for a, m in zip(windows["watched"], around, strict=True)]
    n = [a / m for a, m in zip(windows["alone"], around, strict=True)]
    print(
        f"training: images/s in interleaved {seconds:g} s windows (batch 64, fp32): headless "
        + " / ".join(f"{x:.0f}" for x in h)
        + "; the job with its page polling "
        + " / ".join(f"{a:.0f} ({r:.0%})" for a, r in zip(windows["watched"], w, strict=True))
        + "; with no page open "
        + " / ".join(f"{a:.0f} ({r:.0%})" for a, r in zip(windows["alone"], n, strict=True))
    )
    print(
        f"training: the job with its page polling, median of {repeats}: {statistics.median(w):.0%} "
        f"of headless (worst {min(w):.0%}); with no page open {statistics.median(n):.0%}"
    )
    page.goto(f"{url}/training")
    wait_idle(page)
    page.get_by_role("button", name="Stop", exact=True).first.click()
    page.get_by_text("Saved as run").first.wait_for(timeout=120_000)


# What each page shows once its content (not a placeholder) is there: (page name, a host element
# outside any component, an element inside it that may sit in a component's shadow root, or text
# the host shows).
CONTENT = {
    "": ("Home", "main h1", None, "CNN Explorer"),
    "convolution": ("Convolution", ".st-key-cv_stepper", ".head", None),  # the step header
    "training": ("Live training", "main button", None, "Start training"),
    "invariance": ("Translation invariance", "main h1", None, "Translation invariance"),
}

# Installed before the page's own scripts: checks at every animation frame, from navigation start,
# whether the content is there, and keeps the browser's clock at the first frame it is.
# (Playwright's wait_for polls at growing intervals, up to 500 ms apart: too coarse to time this.)
CONTENT_CLOCK_JS = """([host, inner, text]) => {
  const deep = (root) => [...root.querySelectorAll('*')].some(
      (el) => el.matches(inner) || (el.shadowRoot && deep(el.shadowRoot)));
  const shown = (el) => (inner ? deep(el) : true) && (!text || el.textContent.includes(text));
  const tick = () => {
    if ([...document.querySelectorAll(host)].some(shown)) window.__contentShown = performance.now();
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


# The same check for a page reached from Home by its sidebar link: the clock starts at the click
# (the page's own navigation started long before). Invariance's heading must be its own, not Home's.
NAV_CLOCK_JS = """([host, inner, text]) => {
  window.__contentShown = undefined;
  const deep = (root) => [...root.querySelectorAll('*')].some(
      (el) => el.matches(inner) || (el.shadowRoot && deep(el.shadowRoot)));
  const shown = (el) => (inner ? deep(el) : true) && (!text || el.textContent.includes(text));
  addEventListener('pointerdown', (e) => {
    const t0 = e.timeStamp;
    const tick = () => {
      if ([...document.querySelectorAll(host)].some(shown))
        window.__contentShown = performance.now() - t0;
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, {capture: true, once: true});
}"""


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BARE_APP = 'import streamlit as st\n\nst.title("CNN Explorer")\n'


def cold_visit(browser, address: str, check: tuple, server_pid: int) -> tuple[float, float, float]:
    """One first visit in a new browser context (nothing cached): ms from navigation start until
    the content is shown, and the CPU seconds Chromium's processes and the server used meanwhile."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(f"({CONTENT_CLOCK_JS})({json.dumps(check)})")
    page = ctx.new_page()
    c0, s0 = chromium_cpu_seconds(), process_cpu_seconds(server_pid)
    page.goto(address)
    page.wait_for_function("() => window.__contentShown !== undefined", timeout=60_000)
    cpu = (chromium_cpu_seconds() - c0, process_cpu_seconds(server_pid) - s0)
    shown = page.evaluate("window.__contentShown")  # ms since navigation start
    ctx.close()
    return shown, *cpu


def bench_first_visit(browser, url: str, tries: int, server_pid: int, tmp: Path) -> None:
    """A new browser context per try: nothing cached, as for a student's first visit. One context
    is opened and closed first, not counted: the browser's first context pays a one-time start-up
    a student's running browser has already paid. Also the CPU the browser's processes and the
    server used during the visits (2 cores here: more than the visit's time means both were full).
    Home's visits alternate with those of a one-title Streamlit app (the same title, the repo's
    config, its own server): Streamlit's own floor for a first visit on this machine. The
    Convolution page's alternate with the same page on a server without streamlit[performance]
    (HTTP parsed in Python on asyncio's loop): what the extra is worth here."""
    first = browser.new_context()
    first.new_page().goto(url)
    first.close()
    bare_script = tmp / "bare_app.py"
    bare_script.write_text(BARE_APP)
    plain_env = {"CNN_EXPLORER_RUNS": str(tmp / "plain-runs"), "CNN_EXPLORER_OFFLINE": "1"}
    with (
        running_server({}, script=bare_script) as (bare_url, bare_proc),
        running_server(plain_env, plain=True) as (plain_url, plain_proc),
    ):
        warm = browser.new_page()
        for address in (bare_url, f"{plain_url}/convolution"):
            warm.goto(address)
            wait_idle(warm)
        warm.close()
        for path, (name, *check) in CONTENT.items():
            visits, bare, plain = [], [], []
            for _ in range(max(3, tries // 4)):
                visits.append(cold_visit(browser, f"{url}/{path}", check, server_pid))
                if not path:
                    bare.append(cold_visit(browser, bare_url, check, bare_proc.pid))
                if path == "convolution":
                    plain.append(cold_visit(browser, f"{plain_url}/{path}", check, plain_proc.pid))
            times, browser_cpu, server_cpu = zip(*visits, strict=True)
            report(f"first visit, {name}: navigation -> content shown", list(times))
            print(
                f"  CPU during those visits, median: Chromium's processes "
                f"{statistics.median(browser_cpu) * 1000:,.0f} ms, the server "
                f"{statistics.median(server_cpu) * 1000:,.0f} ms"
            )
            if bare:
                report(
                    "first visit, a one-title Streamlit app (Streamlit's floor; alternated with "
                    "Home): navigation -> title shown",
                    [t for t, *_ in bare],
                )
            if plain:
                plain_times = [t for t, *_ in plain]
                report(
                    "first visit, Convolution on a server without streamlit[performance] "
                    "(alternated with the one above)",
                    plain_times,
                )
                gain = statistics.median(a - b for a, b in zip(plain_times, times, strict=True))
                print(f"  streamlit[performance] saves {gain:.0f} ms per visit (paired median)")
            if path:  # the same page's first visit in a session that opened on Home
                times = []
                for _ in range(max(3, tries // 4)):
                    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = ctx.new_page()
                    page.goto(url)
                    wait_idle(page)
                    page.evaluate(f"({NAV_CLOCK_JS})", check)
                    nav = page.locator('[data-testid="stSidebarNav"]')
                    nav.get_by_role("link", name=name).click()
                    page.wait_for_function(
                        "() => window.__contentShown !== undefined", timeout=60_000
                    )
                    times.append(page.evaluate("window.__contentShown"))
                    ctx.close()
                report(
                    f"first visit, {name}, from Home by its sidebar link: click -> content shown",
                    times,
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--only", default="visit,conv,inv,train,poll,rate")
    ap.add_argument("--window", type=float, default=8.0, help="seconds of each rate window")
    ap.add_argument("--repeats", type=int, default=5, help="rounds of the rate windows")
    args = ap.parse_args()
    only = set(args.only.split(","))
    with open("/proc/cpuinfo") as info:
        names = [ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        env = {"CNN_EXPLORER_RUNS": str(runs), "CNN_EXPLORER_OFFLINE": "1"}
        with (
            running_server(env, log=Path(tmp) / "server.log") as (url, proc),
            sync_playwright() as pw,
        ):
            browser = launch_chromium(pw)
            warm = browser.new_page()
            for path in CONTENT:  # warm the server: imports, data, caches
                warm.goto(f"{url}/{path}")
                wait_idle(warm)
            warm.close()
            # the server's own warm-up: the job manager the training page opened imports what a
            # first optimizer needs (torch._dynamo) in the background, about 2 s here
            time.sleep(5)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            if "visit" in only:
                bench_first_visit(browser, url, args.tries, proc.pid, Path(tmp))
            if "conv" in only:
                bench_convolution(page, url, args.tries)
            if "inv" in only:
                bench_invariance(page, url, args.tries)
            if "train" in only:
                bench_training(page, url, max(3, args.tries // 4))
            if "poll" in only:
                bench_poll_cost(page, url, proc.pid)
            if "rate" in only:
                bench_training_rate(page, url, runs, args.window, args.repeats)
            browser.close()


if __name__ == "__main__":
    main()
