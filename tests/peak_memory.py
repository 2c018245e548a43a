"""Peak memory of a call, from /proc/self/status (Linux): how much the process grew at most."""

from pathlib import Path


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_growth_mb(fn) -> tuple[float, object]:
    """(MB the process's peak resident memory rose above its size before ``fn()``, what ``fn``
    returned or raised). The peak (VmHWM) is reset first through /proc/self/clear_refs, so a
    large allocation freed before returning still counts."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_kb("VmRSS")
    try:
        outcome = fn()
    except Exception as exc:  # the caller asserts what it expected
        outcome = exc
    return (_status_kb("VmHWM") - before) / 1024, outcome
