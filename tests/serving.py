"""A real `streamlit run` of the app on a free port, and headless Chromium from the system browser
(no browser download). Shared by the browser tests (tests/e2e) and the browser commands
(tests/bench_ui.py, tests/load_class.py); no pytest here, so the commands can import it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `streamlit run` as if streamlit[performance] were not installed: uvicorn then parses HTTP in
# Python (h11) on asyncio's own loop (a None in sys.modules makes an import fail as missing).
PLAIN_SERVER = (
    "import sys; sys.modules.update(uvloop=None, httptools=None); "
    "from streamlit.web.cli import main; main()"
)


def start_server(
    env_overrides: dict[str, str],
    log: Path | None = None,
    timeout: float = 90,
    script: Path | str = "app/streamlit_app.py",
    plain: bool = False,
) -> tuple[str, subprocess.Popen]:
    """Start the app on 127.0.0.1 and a free port with bundled data and ``env_overrides`` (give it
    CNN_EXPLORER_RUNS: a run store of its own); return (base URL, process) once /_stcore/health
    answers. The server's output goes to ``log`` (discarded without one). RuntimeError, with the
    log, when it exits or does not answer within ``timeout`` seconds. ``script``: another
    Streamlit script to serve the same way (from the repo, so with its .streamlit/config.toml).
    ``plain``: without streamlit[performance]'s C HTTP parser and event loop (for comparison)."""
    port = free_port()
    env = {**os.environ, "CNN_EXPLORER_SOURCE": "bundled", "PYTHONUNBUFFERED": "1", **env_overrides}
    cmd = [
        sys.executable,
        *(("-c", PLAIN_SERVER) if plain else ("-m", "streamlit")),
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    with open(log, "w") if log else contextlib.nullcontext(subprocess.DEVNULL) as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return url, proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            said = log.read_text() if log else "(no log kept)"
            raise RuntimeError(f"streamlit did not start:\n{said}")
        time.sleep(0.5)


def stop_server(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate the server; kill it if it has not ended within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running_server(
    env_overrides: dict[str, str],
    log: Path | None = None,
    timeout: float = 90,
    script: Path | str = "app/streamlit_app.py",
    plain: bool = False,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``start_server`` as a context manager: the server is stopped on the way out."""
    url, proc = start_server(env_overrides, log, timeout, script, plain)
    try:
        yield url, proc
    finally:
        stop_server(proc)


def launch_chromium(playwright, extra_args: Sequence[str] = ()):
    """Headless Chromium from /usr/bin/chromium (or $CHROMIUM) with CHROMIUM_ARGS (+ extra)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True
    )
