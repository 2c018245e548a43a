"""The visitor's workspace, its run store, the class gallery, and a run picker.

A visitor's workspace is opened by a secret code kept in a browser cookie (``cnn_explorer_ws``,
SameSite=Strict, one year), never in a URL: a shared page link hands over nothing. The cookie is
written by a tiny JS component (``_cookie_writer``) and read back with ``st.context.cookies`` when a
session starts, so the workspace survives refreshes and browser restarts on the same browser; the
sidebar shows the code, and a visitor who enters it in another browser opens the same workspace.

Personal mode (the laptop profile): a visitor with no cookie works in ``local``, the command
line's workspace, so runs trained with ``python -m cnncore train`` show up in the app. Class mode:
every browser gets its own new workspace, and ``local`` cannot be entered.
"""

import os
import re

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from cnncore.errors import UserError
from cnncore.runs import DEFAULT_ROOT, RunInfo
from cnncore.settings import Settings, load_settings
from cnncore.workspaces import (
    LOCAL,
    GalleryStore,
    Workspaces,
    WorkspaceStore,
    folder_for,
    new_code,
    normalize_code,
)

COOKIE = "cnn_explorer_ws"
_CODE_KEY = "ws_code"  # session state: this session's workspace code
_WRITE_KEY = "ws_cookie_write"  # session state: the cookie still has to be written (and how)

_COOKIE_JS = """
export default function(component) {
  const { data, setTriggerValue } = component;
  const found = document.cookie.split("; ").find((c) => c.startsWith(data.name + "="));
  const current = found ? decodeURIComponent(found.slice(data.name.length + 1)) : "";
  if (data.force || !current) {
    // written without telling the server: a rerun now would interrupt the visitor's first run
    document.cookie = data.name + "=" + encodeURIComponent(data.code) +
      "; Max-Age=31536000; Path=/; SameSite=Strict";
  } else if (current !== data.code) {
    setTriggerValue("existing", current);  // another tab of this browser made one first
  }
}
"""


@st.cache_resource
def settings() -> Settings:
    """The server's settings (cnncore.settings); a bad value stops the app with its sentence."""
    return load_settings()


@st.cache_resource
def workspaces() -> Workspaces:
    s = settings()
    spaces = Workspaces(
        os.environ.get("CNN_EXPLORER_RUNS", DEFAULT_ROOT),
        max_runs=s.max_runs_per_workspace,
        max_bytes=s.max_disk_mb_per_workspace * 1_000_000,
    )
    spaces.migrate()  # runs saved before workspaces existed move to `local`, once
    return spaces


def resolve_code(session_code: str | None, cookie_code: str | None, mode: str) -> tuple[str, bool]:
    """(this visitor's workspace code, whether the cookie must be written) from the code this
    session already uses, the browser's cookie, and the server's mode. Never a URL parameter."""
    allow_local = mode == "personal"
    for candidate in (session_code, cookie_code):
        if candidate:
            try:
                return normalize_code(candidate, allow_local), False
            except UserError:
                continue  # a stale or tampered value: ignored
    if mode == "personal":
        return LOCAL, False
    return new_code(), True


def workspace_code() -> str:
    """This visitor's workspace code (see the module doc)."""
    if get_script_run_ctx() is None:  # outside a page run (a test, a thread): the default one
        return LOCAL if settings().mode == "personal" else ""
    code = st.session_state.get(_CODE_KEY)
    if not code:
        cookie = st.context.cookies.get(COOKIE)
        code, write = resolve_code(None, cookie, settings().mode)
        st.session_state[_CODE_KEY] = code
        if write:
            st.session_state[_WRITE_KEY] = "new"
    return code


def workspace_id() -> str:
    """This visitor's workspace folder: what jobs and runs are keyed by."""
    code = workspace_code()
    if not code:
        raise UserError("no workspace outside a page")
    return folder_for(code)


def run_store() -> WorkspaceStore:
    """This visitor's runs (reads also find the class gallery's runs by id)."""
    return workspaces().store(workspace_id())


def gallery_store() -> GalleryStore:
    return workspaces().gallery()


def switch_workspace(text: str) -> None:
    """Open the workspace of a code the visitor typed (UserError if it is not one)."""
    code = normalize_code(text, allow_local=settings().mode == "personal")
    st.session_state[_CODE_KEY] = code
    st.session_state[_WRITE_KEY] = "switch"


def _cookie_writer():
    return st.components.v2.component("cnn_explorer_workspace_cookie", js=_COOKIE_JS)


def write_cookie_if_needed() -> None:
    """Mount the cookie writer in a session with a new workspace or after a switch (it writes the
    cookie when it is missing, or always after a switch, and never asks for a rerun: one would
    interrupt the visitor's first run of a page). If another tab of this browser wrote a workspace
    cookie first, this tab adopts that one."""
    how = st.session_state.get(_WRITE_KEY)
    if not how:
        return
    code = st.session_state[_CODE_KEY]
    result = _cookie_writer()(
        data={"name": COOKIE, "code": code, "force": how == "switch"},
        key=f"ws_cookie_{code}",
        height=0,
        on_existing_change=lambda: None,
    )
    existing = getattr(result, "existing", None)
    if existing and how == "new":
        try:
            st.session_state[_CODE_KEY] = normalize_code(existing, settings().mode == "personal")
        except UserError:
            return
        st.session_state.pop(_WRITE_KEY, None)
        st.rerun()


def workspace_sidebar() -> None:
    """The sidebar's workspace part: runs here, the code to copy, a box to open another code."""
    code, store = workspace_code(), run_store()
    runs = store.list()
    damaged = sum(1 for r in runs if r.damaged)
    gallery = len(gallery_store().list())
    st.subheader("Workspace")
    where = "this machine's (shared with the command line)" if code == LOCAL else "your own"
    st.caption(
        f"Runs in {where} workspace: {len(runs) - damaged}"
        + (f" (+{damaged} damaged)" if damaged else "")
        + f"; in the class gallery: {gallery}."
    )
    # drawn only while open (opening it reruns the page): its text box would otherwise make every
    # page's first visit load Streamlit's text-input scripts before it could show anything
    box = st.expander(
        "Workspace code", icon=":material/key:", key="ws_code_open", on_change="rerun"
    )
    if box.open:
        with box:
            st.caption(
                "This code opens your workspace from another browser or device. Keep it to "
                "yourself: whoever has it can change your runs."
            )
            st.text(code)  # not st.code: that makes every page load a 1.5 MB highlighter
            with st.form("ws_switch", border=False):
                typed = st.text_input(
                    "Open another workspace",
                    placeholder="XXXX-XXXX-XXXX-XXXX",
                    key="ws_switch_code",
                )
                if st.form_submit_button("Open"):
                    try:
                        switch_workspace(typed)
                        st.rerun()
                    except UserError as exc:
                        st.error(str(exc))
    write_cookie_if_needed()


# ------------------------------------------------------------------------------------ pickers
def run_label(info: RunInfo) -> str:
    """A picker's text for a run: its name (as typed; pickers show text, never Markdown), when
    it was made (names may repeat), the model, and test accuracy."""
    s = info.summary or {}
    acc = s.get("test_accuracy")
    acc_text = f", test {acc:.1%}" if isinstance(acc, float) else ""
    model = (info.config or {}).get("model", "?")
    when = (info.created or "")[:16] or info.id
    where = "gallery: " if info.id.startswith("gallery-") else ""
    return f"{where}{info.name} · {when} ({model}{acc_text})"


def pick_run(label: str, key: str, models: tuple[str, ...] | None = None) -> str | None:
    """A selectbox of the visitor's healthy runs and the gallery's (optionally only of the given
    model names); returns a run id that ``run_store()`` opens."""
    own = run_store().list()
    owned = {r.id for r in own}
    runs = [
        r
        for r in own + [g for g in gallery_store().list() if g.id not in owned]
        if not r.damaged and r.status != "running"
    ]
    if models is not None:
        runs = [r for r in runs if (r.config or {}).get("model") in models]
    labels = {r.id: run_label(r) for r in runs}
    wanted = st.session_state.get(key)
    if wanted is not None and wanted not in labels:  # e.g. a shared link names someone's run
        st.info(
            f"{label}: run {escape_markdown(str(wanted))} is not in your workspace or the class "
            "gallery, so it cannot be opened here; pick one of yours.",
            icon=":material/link_off:",
        )
        del st.session_state[key]
    if not runs:
        st.caption("No saved runs yet: train one on the Live training page.")
        return None
    return st.selectbox(label, list(labels), format_func=labels.get, key=key)


def escape_markdown(text: str) -> str:
    """``text`` with Markdown's special characters escaped, so it is shown exactly as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&\"'])", r"\\\1", text)


def publish_button(run_id: str, key: str = "publish") -> None:
    """Publish one of the visitor's runs to the class gallery (a copy; everyone can see it)."""
    c = st.columns([2, 1.3], vertical_alignment="bottom")
    by = c[0].text_input("Your name for the gallery (optional)", key=f"{key}_by", max_chars=60)
    if c[1].button(
        "Publish to the class gallery",
        key=key,
        icon=":material/public:",
        help="a copy everyone on this server can see; it cannot be undone from the app",
    ):
        try:
            gallery_id = workspaces().publish(workspace_id(), run_id, by)
            st.success(f"Published: everyone now finds it as `{gallery_id}`.")
        except UserError as exc:
            st.error(str(exc))
