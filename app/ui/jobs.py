"""Background jobs for the pages: the process-wide JobManager, a per-browser-tab session id
that survives a refresh, and a progress panel any page can show for a job."""

import atexit
import re
import uuid

import streamlit as st

from cnncore.jobs import JobManager

SESSION_IDLE_S = 30 * 60  # a tab not seen for this long has gone: its jobs are stopped and saved
_SID = re.compile(r"^[0-9a-f]{12}$")
STATUS_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/directions_run:",
                "paused": ":material/pause_circle:", "finished": ":material/check_circle:",
                "stopped": ":material/stop_circle:", "failed": ":material/error:",
                "diverged": ":material/warning:"}  # fmt: skip


@st.cache_resource
def job_manager() -> JobManager:
    manager = JobManager()
    atexit.register(manager.shutdown)  # a server shutdown stops every job, which saves its run
    return manager


def session_id() -> str:
    """This tab's id. It is kept in the URL (``?sid=``) so a browser refresh, which starts a new
    Streamlit session, finds its jobs again."""
    sid = st.session_state.get("sid") or st.query_params.get("sid", "")
    if not _SID.match(sid):
        sid = uuid.uuid4().hex[:12]
    st.session_state["sid"] = sid
    if st.query_params.get("sid") != sid:
        st.query_params["sid"] = sid
    manager = job_manager()
    manager.touch(sid)
    manager.reap(SESSION_IDLE_S)
    return sid


def job_status_line(snap: dict) -> str:
    status = snap["status"]
    text = f"{STATUS_ICONS.get(status, '')} **{status}** — {snap['message']}"
    if status == "queued" and snap.get("queue_position"):
        text += f" (other jobs are training; you are number {snap['queue_position']} in line)"
    return text


def job_panel(snap: dict, detail: str = "") -> None:
    """Status, progress bar (with ``detail`` as its text) and any error of a job snapshot."""
    st.markdown(job_status_line(snap))
    st.progress(min(max(snap["progress"], 0.0), 1.0), text=detail or f"{snap['progress']:.0%}")
    if snap["error"]:
        st.error(snap["error"])
