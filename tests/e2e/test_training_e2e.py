"""Live training in a real browser: start, watch the curve grow (fed by the server's live feed,
with no rerun of the page), pause, messages that stay while the panel refreshes, resume, stop,
reload; take a run home and run the script; click a feature-map pixel and read its equation; the
layout at 800 px."""

import io
import json
import re
import subprocess
import sys
import time
import zipfile

import pytest

from app.ui.jobs import POLL_RUNNING_S
from app.ui.live_feed import WEIGHTS_S
from tests.e2e.conftest import ARTIFACTS, assert_no_exception, open_app, wait_idle
from tests.e2e.test_layout_e2e import PROBLEMS_JS

pytestmark = pytest.mark.e2e


def plotted(page) -> int:
    """Points of the raw loss curve the live chart (a canvas component) has drawn; -1: no chart."""
    chart = page.locator(".st-key-loss_chart .lc")
    return int(chart.get_attribute("data-points")) if chart.count() == 1 else -1


def wait_until(page, predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            page.screenshot(path=ARTIFACTS / "training-timeout.png", full_page=True)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def screenshot(page, name: str, width: int = 1400) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(max(height, 1000), 6000)})
    time.sleep(0.8)  # plotly charts re-layout to the new size
    page.screenshot(path=ARTIFACTS / name)
    page.set_viewport_size({"width": width, "height": 1000})


# Counts the page's script runs from now on (the app's script state turning "running").
COUNT_RUNS_JS = """() => {
  window.__runs = 0;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__runs += 1;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


# What the browser does when its tab goes to the background (or comes back).
HIDE_JS = """(hidden) => {
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def parts(requests: list[str]) -> set[str]:
    """The live feed's parts among these request URLs (state, loss, val, pictures)."""
    return {u.split("?")[0].rsplit("/", 1)[1] for u in requests}


def status_text(page) -> str:
    return page.locator("main").inner_text()


def test_train_pause_resume_stop_and_reload(page):
    open_app(page, "training")
    page.get_by_role("textbox", name="Batch size", exact=True).fill("16")
    page.get_by_role("textbox", name="Epochs", exact=True).fill("20")
    page.get_by_label("Run name (optional)").fill("browser run")
    page.get_by_role("button", name="Start training").click()

    wait_until(page, lambda: plotted(page) >= 5, what="first plotted batches")
    # The curves, the progress line and the pictures ask the server's feed for what changed:
    # the page itself does not rerun while they grow (a rerun redraws every element of it).
    feed = []
    page.on("request", lambda r: feed.append(r.url) if "/_cnn/live/" in r.url else None)
    page.evaluate(COUNT_RUNS_JS)
    first = plotted(page)
    text = page.locator(".cnn-lp-text").inner_text()
    wait_until(page, lambda: plotted(page) > first + 5, what="the curve to grow")
    wait_until(page, lambda: page.locator(".cnn-lp-text").inner_text() != text, what="progress")
    # each part asks on its own timer: within two periods every part in view has asked
    wait_until(
        page,
        lambda: page.wait_for_timeout(100) or {"state", "loss", "val"} <= parts(feed),
        timeout=2 * POLL_RUNNING_S + 2,
        what="the progress line and both charts to ask the feed",
    )
    assert page.evaluate("window.__runs") == 0, "the page reran while the job trained"
    assert_no_exception(page)
    legend = page.locator(".st-key-loss_chart .lc-legend").inner_text()
    assert "loss (raw)" in legend and "loss (smoothed, w=0.6)" in legend
    # the running model's filters and feature maps, as pictures, while it trains
    pictures = page.locator(".st-key-weights_pictures")
    wait_until(page, lambda: pictures.locator("canvas").count() >= 16, what="the filters")
    title = pictures.locator(".lw-filters .lw-title").inner_text()  # (in the shadow DOM)
    assert title.startswith("First-layer filters at batch")
    # Scrolled out of view, the pictures are not asked for (their weights change every few
    # seconds); scrolled back, they are asked for at once.
    page.set_viewport_size({"width": 1400, "height": 600})
    page.get_by_role("heading", name="Live training").scroll_into_view_if_needed()
    assert pictures.bounding_box()["y"] > 800, "the pictures should be out of view here"
    page.wait_for_timeout(1000)  # a request already on its way lands (and events are read)
    feed.clear()
    page.wait_for_timeout((2 * POLL_RUNNING_S + 1) * 1000)
    asked = parts(feed)
    assert "pictures" not in asked and "state" in asked, asked
    pictures.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # (well under the 2 s a timer would take)
    assert "/pictures?" in " ".join(feed), "the pictures were not asked for when they showed"
    # A hidden browser tab asks for nothing; shown again, it asks at once.
    page.evaluate(HIDE_JS, True)
    page.wait_for_timeout(1000)
    feed.clear()
    page.wait_for_timeout((POLL_RUNNING_S + 1) * 1000)
    assert feed == [], "a hidden tab kept asking"
    page.evaluate(HIDE_JS, False)
    page.wait_for_timeout(1000)
    asked = parts(feed)
    assert {"state", "pictures"} <= asked, asked  # (the charts are scrolled away here)
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.get_by_role("button", name="Pause").click()
    wait_until(
        page,
        lambda: (
            "paused" in status_text(page) and page.get_by_role("button", name="Resume").count() == 1
        ),
        what="paused",
    )
    assert page.get_by_role("button", name="Pause").count() == 0
    time.sleep(POLL_RUNNING_S + 0.5)  # the batches trained before the pause are drawn by then
    held = plotted(page)
    time.sleep(POLL_RUNNING_S + 0.5)  # at least one more refresh
    assert plotted(page) == held, "points kept coming while paused"
    # A trip to another page and back mounts the pictures afresh. Paused, their version does not
    # change, so the server, which sent them once, sends only the version: the new mount asks.
    pictures.scroll_into_view_if_needed()  # (asked for only while they can be seen)
    page.wait_for_timeout((WEIGHTS_S + POLL_RUNNING_S + 1) * 1000)  # the paused weights drawn
    title = pictures.locator(".lw-filters .lw-title").inner_text()
    page.get_by_role("link", name="Home").click()
    wait_idle(page)
    page.get_by_role("link", name="Live training").click()
    wait_until(page, lambda: pictures.locator("canvas").count() >= 16, what="the filters again")
    assert pictures.locator(".lw-filters .lw-title").inner_text() == title

    # Messages stay while the live panel refreshes (every 2 s), until the next action.
    for value, expected in (("50", "at most 10"), ("0.0002", "0.001 → 0.0002 from the next batch")):
        box = page.get_by_label("New learning rate")
        box.fill(value)
        box.press("Enter")
        time.sleep(1.0)
        page.get_by_role("button", name="Apply learning rate").click()
        wait_until(page, lambda e=expected: e in status_text(page), what=f"message {expected!r}")
        time.sleep(POLL_RUNNING_S + 1.5)  # the live panel refreshes at least once meanwhile
        assert expected in status_text(page), f"{expected!r} vanished with a refresh"
    page.get_by_role("button", name="Resume").click()
    wait_until(page, lambda: plotted(page) > held + 3, what="training to resume")
    screenshot(page, "training-live.png")

    page.get_by_role("button", name="Stop").click()
    wait_until(page, lambda: "Saved as run" in status_text(page), what="stopped and saved")
    wait_idle(page)
    text = status_text(page)
    assert "stopped" in text
    run_id = text.split("Saved as run ")[1].split(".")[0].strip()
    stopped_at = plotted(page)
    assert stopped_at > held

    page.reload()
    wait_idle(page, 90)
    assert_no_exception(page)
    text = status_text(page)
    assert f"Saved as run {run_id}" in text, "the run is not found after a reload"
    assert "browser run" in text
    wait_until(page, lambda: plotted(page) >= 0, what="the loss chart to draw after the reload")
    assert plotted(page) == stopped_at
    # Plotly's script loads on demand: the chart is drawn a moment after the run has ended
    confusion = page.locator(".st-key-confusion .js-plotly-plot")
    wait_until(page, lambda: confusion.count() == 1, what="the confusion matrix to draw")
    screenshot(page, "training-after-reload.png")
    # with a run's results (the layout test sees the page before any): nothing cut at 800 px
    page.set_viewport_size({"width": 800, "height": 900})
    page.wait_for_timeout(1500)  # charts and components lay themselves out
    assert page.evaluate(PROBLEMS_JS) == []
    assert page.errors == []


def test_bad_learning_rate_is_refused(page):
    open_app(page, "training")
    page.get_by_role("textbox", name="Learning rate").fill("-1")
    page.get_by_role("button", name="Start training").click()
    wait_idle(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Training not started")
    assert alert.count() == 1 and "learning rate must be" in alert.inner_text()


def dump(page, what: str) -> bytes:
    """Click a download button and return the bytes it delivers."""
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=what).click()
    return open(info.value.path(), "rb").read()


def train_tiny(page, name: str) -> None:
    open_app(page, "training")
    page.get_by_role("textbox", name="Epochs", exact=True).fill("1")
    page.get_by_role("textbox", name="Batch size", exact=True).fill("32")
    page.get_by_role("textbox", name="Batches per epoch (0 = all)", exact=True).fill("5")
    page.get_by_label("Run name (optional)").fill(name)
    page.locator(".st-key-tp_precision").click()
    page.get_by_role("option", name="fp32").click()
    page.get_by_role("button", name="Start training").click()
    wait_until(page, lambda: "Saved as run" in status_text(page), timeout=180, what="the run")
    wait_idle(page)


def test_take_a_run_home_and_run_the_script(page, tmp_path):
    train_tiny(page, "take home")
    page.get_by_text("Rename, delete, download or take home a run").click()
    wait_idle(page)
    script = tmp_path / "home.py"
    script.write_bytes(dump(page, "Take home: Python script (.py)"))
    notebook = json.loads(dump(page, "Take home: Jupyter notebook (.ipynb)"))
    assert notebook["nbformat"] == 4 and notebook["cells"]
    run = zipfile.ZipFile(io.BytesIO(dump(page, "Download run as zip")))
    metrics = next(n for n in run.namelist() if n.endswith("metrics.csv"))
    config = json.loads(run.read(next(n for n in run.namelist() if n.endswith("config.json"))))
    assert config["name"] == "take home"
    rows = [line.split(",") for line in run.read(metrics).decode().splitlines()[1:]]
    app_losses = [float(r[3]) for r in rows if r[2] == "train"]

    proc = subprocess.run(
        [sys.executable, str(script), "--print-every", "1", "--logdir", "tb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    losses = [float(x) for x in re.findall(r"batch \d+/5 loss ([\d.]+)", proc.stdout)]
    assert len(losses) == len(app_losses) == 5
    assert all(abs(a - b) < 1e-5 for a, b in zip(losses, app_losses, strict=True))
    acc = float(re.search(r"test accuracy: ([\d.]+)%", proc.stdout).group(1)) / 100
    assert abs(acc - config["summary"]["test_accuracy"]) < 0.02


def import_convnet(page, tmp_path, name="clicked net"):
    import torch

    from cnncore.models import build_model

    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(build_model("convnet").state_dict(), path)
    open_app(page, "training")
    page.get_by_text("Load weights from a .pt file").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_label("Name for the imported run").fill(name)
    time.sleep(1.0)
    page.get_by_role("button", name="Import weights").click()
    wait_until(page, lambda: "Imported as run" in status_text(page), what="the import")
    wait_idle(page)


PIXEL_JS = """([r, c]) => {
  const gd = document.querySelector('.st-key-rf_chart .js-plotly-plot');
  const xa = gd._fullLayout.xaxis2, ya = gd._fullLayout.yaxis2;
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(c), box.top + ya._offset + ya.l2p(r)];
}"""


def click_pixel(page, row: int, col: int) -> str:
    page.locator(".st-key-rf_chart").scroll_into_view_if_needed()
    chart = page.locator(".st-key-rf_chart .js-plotly-plot")
    wait_until(page, lambda: chart.count() == 1, what="the feature-map chart to draw")
    time.sleep(0.8)
    page.mouse.click(*page.evaluate(PIXEL_JS, [row, col]))
    wait_until(page, lambda: f"pixel ({row}, {col})" in status_text(page), what="the clicked pixel")
    wait_idle(page)
    # the equation's code block draws in a shadow root, which the page's text leaves out
    return status_text(page) + "\n" + page.locator(".st-key-rf_products_equation pre").inner_text()


def check_equation(text: str) -> None:
    own = float(re.search(r"own activation there: (-?\d+\.\d+)", text).group(1))
    relu = re.search(r"ReLU\(([−\d.]+)\) = ([−\d.]+)", text)
    assert abs(float(relu.group(2).replace("−", "-")) - own) < 1e-3, (relu.group(0), own)


def test_click_a_feature_map_pixel_and_read_its_equation(page, tmp_path):
    import_convnet(page, tmp_path)
    text = click_pixel(page, 6, 9)
    assert "the 5x5 input pixels at rows 6–10, columns 9–13" in text
    assert "(bias)" in text
    check_equation(text)
    page.get_by_text("conv 2 (9x9 field)").click()
    wait_idle(page)
    text = click_pixel(page, 3, 4)
    assert "the 9x9 input pixels at rows 3–11, columns 4–12" in text
    assert "the other 13 channels" in text and "total:" in text
    check_equation(text)
    screenshot(page, "training-arithmetic.png")
    assert page.errors == []


OVERFLOW_JS = """(sel) => [...document.querySelectorAll(sel)]
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)"""


def test_narrow_window_nothing_cut(page, tmp_path):
    import_convnet(page, tmp_path, "narrow")
    for width in (800, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        wait_idle(page)
        if not page.locator(".st-key-tp_model").is_visible():
            page.get_by_text("Set-up", exact=True).click()
        time.sleep(1.0)
        assert page.locator('[data-testid="stMetricValue"]').count() >= 4
        cut = page.evaluate(
            OVERFLOW_JS, '[data-testid="stMetricValue"] div, [data-testid="stMetricLabel"] p'
        )
        assert cut == [], f"metrics cut at {width} px: {cut}"
        cut = page.evaluate(OVERFLOW_JS, "main button p")
        assert cut == [], f"button labels cut at {width} px: {cut}"
        page.locator(".st-key-tp_model").click()
        options = page.get_by_role("option").all_inner_texts()
        assert (
            "ConvNet (the lesson's CNN)" in options
            and "FCNet (flattened, fully connected)" in options
        )
        page.keyboard.press("Escape")
        screenshot(page, f"training-{width}.png", width)
