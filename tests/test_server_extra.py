"""`streamlit run` here serves with streamlit[performance] (requirements.txt): uvicorn parses
HTTP with httptools and the server's event loop is uvloop's, both in C. A first visit fetches
about 85 files one after another from that loop; `python tests/bench_ui.py --only visit` prints
what the extra saves per visit on the machine it runs on."""

import sys
from pathlib import Path

import pytest

from tests.serving import running_server


def loaded(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
@pytest.mark.parametrize("plain", [False, True], ids=["run", "plain"])
def test_the_server_runs_on_the_c_http_parser_and_event_loop(tmp_path, plain):
    app = tmp_path / "title.py"
    app.write_text('import streamlit as st\n\nst.title("CNN Explorer")\n')
    with running_server({}, script=app, plain=plain) as (_url, proc):
        maps = loaded(proc.pid)
    # the benchmark's comparison server ("plain") must really run without them
    assert ("httptools" in maps) is not plain
    assert ("uvloop" in maps) is not plain
