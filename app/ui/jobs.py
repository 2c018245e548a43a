"""Background jobs for the pages: the process-wide JobManager, the visitor's key to their jobs
(their workspace, from a cookie: never a URL parameter), a progress panel any page can show for a
job, and ``poll_every``, the period a page polls a job at."""

import atexit

import streamlit as st

from app.ui import live_feed
from app.ui.live_feed import POLL_PAUSED_S, POLL_QUEUED_S, POLL_RUNNING_S
from app.ui.runs import settings, workspace_id
from cnncore.jobs import JobManager

SESSION_IDLE_S = 30 * 60  # a workspace not seen for this long has gone: its jobs stop and save
STATUS_ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "paused": ":material/pause_circle:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "failed": ":material/error:",
    "diverged": ":material/warning:",
}


@st.cache_resource
def job_manager() -> JobManager:
    manager = JobManager(settings=settings())
    atexit.register(manager.shutdown)  # a server shutdown stops every job, which saves its run
    return manager


def session_id() -> str:
    """The key of this visitor's jobs: their workspace (so every tab and refresh of the same
    browser finds them, and nobody else does). Also marks the workspace as still there."""
    sid = workspace_id()
    manager = job_manager()
    manager.touch(sid)
    manager.reap(SESSION_IDLE_S)
    return sid


def poll_every(snap: dict | None) -> float | None:
    """Seconds until a page should look at a job again: None once it has ended (stop polling),
    slowly while it is queued, every POLL_RUNNING_S while it trains or is paused.

    A page passes it to ``st.fragment(run_every=...)``; when it turns None, the page reruns once
    (``st.rerun()``) so the fragment is rebuilt without ``run_every``."""
    if snap is None or snap.get("done"):
        return None
    return {"queued": POLL_QUEUED_S, "paused": POLL_PAUSED_S}.get(snap["status"], POLL_RUNNING_S)


def queue_text(snap: dict) -> str:
    """ "number 2 in line, about 40 s" from the manager's live estimate (not a stale message)."""
    return live_feed.queue_text(snap, job_manager())


def job_status_line(snap: dict) -> str:
    status = snap["status"]
    text = f"{STATUS_ICONS.get(status, '')} **{status}** — {snap['message']}"
    if snap.get("stopping"):  # shown at the click, not when the run has been saved
        text = f"{STATUS_ICONS['stopped']} **stopping** — training stopped; saving the run…"
    if status == "queued" and snap.get("queue_position"):
        text = f"{STATUS_ICONS['queued']} **queued** — other jobs are training; {queue_text(snap)}"
    return text


# What the state line says while a job has not ended: no moving numbers (the progress bar under
# it carries those), so it redraws only when the student acts, not on every poll.
STATE_NOTES = {
    "queued": "other jobs are training; it starts by itself when a slot is free",
    "starting": "loading the data and the model",
    "running": "training in the background; the curves below grow as it learns",
    "paused": "Resume goes on from the next batch",
}


def job_state_line(snap: dict) -> str:
    """``job_status_line`` without the per-batch message while the job runs (the live panel
    shows that in its polling part): it changes only when the job's state does."""
    if snap.get("done") or snap.get("stopping") or snap["status"] not in STATE_NOTES:
        return job_status_line(snap)
    status = snap["status"]
    return f"{STATUS_ICONS.get(status, '')} **{status}** — {STATE_NOTES[status]}"


def job_panel(snap: dict, detail: str = "") -> float | None:
    """Status, progress bar (with ``detail`` as its text) and any error of a job snapshot;
    returns ``poll_every(snap)``, when the page should look again (None: stop polling)."""
    st.markdown(job_status_line(snap))
    st.progress(min(max(snap["progress"], 0.0), 1.0), text=detail or f"{snap['progress']:.0%}")
    if snap["error"]:
        st.error(snap["error"])
    return poll_every(snap)
