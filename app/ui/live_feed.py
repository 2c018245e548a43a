"""The live training panel's feed: a read-only JSON route its components poll while a job trains.

Why not a polling fragment: each run of a Streamlit fragment makes the browser re-render every
element of the page, not only the fragment's (the frontend keeps the script-run state in a React
context that every element reads). A tab watching a job through ``st.fragment(run_every=2)`` cost
its Chromium ~95-99 ms of CPU per second and the server ~17 ms/s (2-core AMD EPYC dev machine,
session 13), CPU that a class's training jobs on the same machine feel. Here the page draws the
live panel once; its components (the progress line, the two charts, the pictures) ask
``/_cnn/live/<token>/<part>`` every couple of seconds and redraw only what changed, and the page
reruns only when the job's state does (queued -> training, its run folder appears, it ends).

The route exists when the app is started with ``streamlit run app/streamlit_app.py`` (an ``st.App``
that mounts ``routes()``); ``main.py`` started on its own, and AppTest, have no route, and the panel
polls in a fragment as before (``available()`` says which).

A tab watches a job through a token: a random string handed to the page of the job's workspace
only, in the components' data (never in an address a student sees or shares). The route answers
for known tokens only, only reads, and sends a part only when it changed since the version the
browser says it has (``?have=``).
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import torch

from cnncore.analysis import feature_maps, first_layer_filters, model_from_state
from cnncore.jobs import JobManager, TrainingJob, set_intraop_threads
from cnncore.plots import training as plots

PATH = "/_cnn/live"
# A running job: new curves every 2 s (a page that polls in a fragment redraws every element of the
# page each time: at 1 s a training tab's Chromium took 210-300 ms of CPU per second on the 2-core
# dev machine, and at 0.5 s its main thread was ~57% busy and clicks waited).
POLL_RUNNING_S = 2.0
# A paused job: the same pace, so Pause and Resume never change a polling fragment's period (which
# takes a whole-page rerun); its polls find the history version unchanged and rebuild nothing.
POLL_PAUSED_S = POLL_RUNNING_S
POLL_QUEUED_S = 3.0  # a queued job: its position and wait change slowly
WEIGHTS_S = 4.0  # the filters and feature maps are rebuilt at most this often while a job trains
MAX_WATCHES = 256  # the tabs watching at once the server remembers (the oldest are forgotten)
ENDED_TTL_S = 600.0  # a watch of an ended job nobody asked about for this long is forgotten
_mounted = False  # set by routes(): this process serves the feed


@dataclass
class Watch:
    """What one tab watches: a job, with the tab's view of it (smoothing, log scale, digit)."""

    token: str
    job: TrainingJob
    manager: JobManager
    image: torch.Tensor | None = None  # the digit the feature maps show (uint8, 1 x H x W)
    label: str = ""
    digit: int = 0
    smoothing: float = 0.6
    log_y: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    curves: tuple | None = None  # (key, versions, payload, batches)
    pictures: dict | None = None  # {version, built, payload}
    seen: float = field(default_factory=time.monotonic)  # when a page or the route last used it


_watches: collections.OrderedDict[str, Watch] = collections.OrderedDict()
_lock = threading.Lock()


def available() -> bool:
    """Whether this server serves the feed (else the page polls in a fragment)."""
    return _mounted


def watch(token: str | None, job: TrainingJob, manager: JobManager, **view: Any) -> Watch:
    """Remember (or update) what a tab watches, under ``token`` (a new one for a new tab or job,
    or a token the server has forgotten). ``view``: image, label, digit, smoothing, log_y."""
    with _lock:
        w = _watches.get(token) if token else None
        if w is None or w.job is not job:
            w = Watch(secrets.token_urlsafe(16), job, manager)
            _watches[w.token] = w
            now = time.monotonic()
            for old in [
                t for t, o in _watches.items() if o.job.done and now - o.seen > ENDED_TTL_S
            ]:
                del _watches[old]  # (with its payloads)
            while len(_watches) > MAX_WATCHES:
                _watches.popitem(last=False)
        _watches.move_to_end(w.token)
        w.seen = time.monotonic()
    with w.lock:
        for name, value in view.items():
            setattr(w, name, value)
    return w


def feed(w: Watch, part: str, every: float) -> dict:
    """What a component needs to ask the route for ``part`` every ``every`` seconds."""
    return {"url": f"{PATH}/{w.token}/{part}", "every": every}


# ------------------------------------------------------------------ what the parts hold
def queue_text(snap: dict, manager: JobManager) -> str:
    """ "number 2 in line, about 40 s" from the manager's live estimate (not a stale message)."""
    wait = manager.wait_seconds(snap["id"])
    text = f"you are number {snap['queue_position']} in line"
    if wait is None:
        return text + "; the wait is not known yet"
    return text + (f", about {wait:.0f} s" if wait < 120 else f", about {wait / 60:.0f} min")


def progress_text(s: dict, manager: JobManager) -> str:
    """The progress bar's line: epoch, batch, images/s and the time left (or the queue)."""
    if s["status"] == "queued":
        return f"queued: {queue_text(s, manager)}" if s.get("queue_position") else "queued"
    if not s["batches_per_epoch"] or not s["batch"]:  # never "batch 0/0 · 0 images/s"
        return "no batch was trained" if s["done"] else "starting…"
    running = not s["done"] and s.get("seconds_left") is not None
    left = f", ~{s['seconds_left']:.0f} s left" if running else ""
    return (
        f"epoch {s['epoch']}/{s['config']['epochs']} · batch {s['batch']}/"
        f"{s['batches_per_epoch']} · {s['images_per_s']:,.0f} images/s{left}"
    )


def page_key(s: dict) -> str:
    """What the page drew the panel for: when it changes (the job left the queue, its run folder
    appeared, its first weights did, it ended), the page must redraw; Pause and Resume do not
    change it."""
    weights = s.get("weights_step", -1) >= 0
    return f"{s['status'] == 'queued'}-{bool(s.get('run_id'))}-{weights}-{s['done']}"


def state(w: Watch) -> dict:
    s = w.job.snapshot(since=w.job.version)  # no history copy
    w.manager.touch(w.job.session_id)  # a watching tab keeps its workspace alive
    return {
        "key": page_key(s),
        "status": s["status"],
        "progress": min(max(float(s["progress"]), 0.0), 1.0),
        "text": progress_text(s, w.manager),
        "error": s["error"] or "",
        "every": POLL_QUEUED_S if s["status"] == "queued" else POLL_RUNNING_S,
    }


def curves(w: Watch) -> tuple[dict, dict, int]:
    """(versions, payload, batches plotted) of the loss and validation charts, rebuilt only when
    the job's history version or the view changed (a paused job's polls build nothing)."""
    j = w.job
    with w.lock:
        if w.curves is None or w.curves[0] != (j.id, j.version, w.smoothing, w.log_y):
            h = j.chart_history()
            key = (j.id, h["version"], w.smoothing, w.log_y)
            payload = plots.live_curves_payload(h, w.smoothing, w.log_y)
            versions = {  # the validation chart changes once an epoch: redrawn only then
                "loss": "-".join(map(str, key)),
                "val": f"{j.id}-{len(h['val'])}-{h.get('test')}",
            }
            w.curves = (key, versions, payload, h["batches"])
        return w.curves[1], w.curves[2], w.curves[3]


def pictures(w: Watch) -> dict | None:
    """{version, payload} of the filters and the digit's feature maps, rebuilt from the job's
    latest weights at most every WEIGHTS_S (or when the digit changed, or the job ended)."""
    j = w.job
    with w.lock:
        shown = w.pictures
        fresh = shown is not None and shown["digit"] == w.digit
        if fresh and not j.done and time.monotonic() - shown["built"] < WEIGHTS_S:
            return shown
        weights, step = j.weights()
        if weights is None or w.image is None:
            return shown if fresh else None
        version = f"{j.id}-{step}-{w.digit}"
        if not fresh or shown["version"] != version:
            model = model_from_state(j.config.model, weights)
            filters, caption = first_layer_filters(model)
            payload = plots.weights_payload(
                filters, caption, step, feature_maps(model, w.image), w.image, w.label
            )
        else:
            payload = shown["payload"]
        w.pictures = dict(version=version, built=time.monotonic(), digit=w.digit, payload=payload)
        return w.pictures


def part(token: str, name: str, have: str = "") -> dict | None:
    """The route's answer: a part of what ``token`` watches, or None for an unknown token.
    ``loss``/``val``/``pictures`` hold ``version`` and, when it is not ``have``, the payload."""
    with _lock:
        w = _watches.get(token)
    if w is None:
        return None
    w.seen = time.monotonic()
    if name == "state":
        return state(w)
    if name in ("loss", "val"):
        versions, payload, batches = curves(w)
        out = {"version": versions[name]}
        if versions[name] != have:
            out.update(payload[name], note=f"{batches:,} batches plotted" if name == "loss" else "")
        return out
    if name == "pictures":
        set_intraop_threads(1)  # page-side work: one thread, the cores are the jobs'
        shown = pictures(w)
        if shown is None:
            return {"version": ""}
        return {"version": shown["version"]} | (
            {} if shown["version"] == have else shown["payload"]
        )
    return None


# ------------------------------------------------------------------------------- the route
def routes() -> list:
    """The feed's route for ``st.App(..., routes=...)``; serving it turns the feed on."""
    from starlette.responses import Response
    from starlette.routing import Route

    global _mounted
    _mounted = True

    def live(request) -> Response:  # a plain function: Starlette runs it in a worker thread
        token, name = request.path_params["token"], request.path_params["part"]
        body = part(token, name, request.query_params.get("have", ""))
        status = 200 if body is not None else 404
        # orjson writes NaN and infinities (a diverged loss) as null, which JSON can hold; the
        # pictures' ~100 kB take it 0.5 ms here, the json module ~6 ms with a pass to clean them
        text = orjson.dumps(body if body is not None else {"gone": True})
        return Response(
            text, status, media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    return [Route(PATH + "/{token}/{part}", live, methods=["GET"])]
