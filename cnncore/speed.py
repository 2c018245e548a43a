"""How fast this machine trains, measured: FLOPs of a training step, the matmul peak, ``auto``
precision, time estimates, and min/max decimation of long curves.

- ``flops_per_image(model)``  FLOPs of one training step (forward + backward) per image, counted
  with ``torch.utils.flop_counter.FlopCounterMode`` (not typed in).
- ``matmul_peak(dtype)``      the machine's measured GEMM rate in GFLOP/s (best of a few).
- ``calibrate(...)``          a sub-second measurement of the actual model's training step in fp32
  and bf16, cached per machine in ``~/.cache/cnn-explorer/speed.json`` (key: CPU model, torch
  version, threads). ``$CNN_EXPLORER_CACHE`` moves the folder.
- ``auto_precision(device)``  ("bf16" or "fp32", bf16 ÷ fp32 speed ratio): bf16 only where it
  measured faster, never where it is slower.
- ``estimate_seconds(config, data, threads)`` the wall time of a run from the calibration.
- ``decimate_minmax`` / ``MinMaxSeries`` a bounded view of a long curve that keeps each
  bucket's lowest and highest point, so spikes stay visible.
"""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

BF16_MARGIN = 1.10  # bf16 is chosen only if measured at least 10% faster than fp32
CHART_POINTS = 2000  # a live loss chart gets at most this many points (min/max decimated)
CALIBRATION_VERSION = 2  # 2: measured again after the first convolution got faster
MIN_RECORDED_RUN_S = 3.0  # shorter runs do not teach estimates anything
QUIET_SHARE = 0.8  # a run teaches estimates only if its threads had a core each this much of it
_lock = threading.Lock()
_memo: dict[str, dict] = {}


# ------------------------------------------------------------------------------ machine
def cpu_model() -> str:
    """The CPU's model name (as ``lscpu`` shows it), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_key(device: torch.device | str = "cpu", threads: int | None = None) -> str:
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    threads = threads or torch.get_num_threads()
    return f"{device.type}|{name}|torch {torch.__version__}|{threads} threads"


def cache_path() -> Path:
    root = os.environ.get("CNN_EXPLORER_CACHE") or Path.home() / ".cache" / "cnn-explorer"
    return Path(root) / "speed.json"


def _read_cache() -> dict:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, entry: dict) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache()
        data[key] = entry
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: the calibration is then kept in memory only


# ------------------------------------------------------------------------------ FLOPs
def flops_per_image(model_name: str = "convnet", batch: int = 32) -> float:
    """FLOPs of one training step per image: forward, cross-entropy and backward, counted by
    ``FlopCounterMode`` on a batch of ``batch`` images (it counts matmuls and convolutions; the
    elementwise ops and the optimizer step are not FLOPs it counts, and are cheap here)."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnncore.models import build_model

    model = build_model(model_name)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.arange(batch) % 10
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch


def matmul_gflops(dtype: torch.dtype, n: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` GFLOP/s of ``torch.mm`` on two n x n matrices of ``dtype``."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def matmul_peak(dtype: torch.dtype = torch.float32, largest: int = 2048, budget_s: float = 1.0):
    """The machine's measured matmul peak in GFLOP/s: square sizes 256, 512, ... up to
    ``largest`` (peak needs ~1024+ here), stopping early when one size would take longer than
    ``budget_s`` (bf16 without native support runs ~100x slower). Returns (GFLOP/s, n)."""
    best, best_n, n = 0.0, 0, 256
    while n <= largest:
        rate = matmul_gflops(dtype, n)
        if rate > best:
            best, best_n = rate, n
        if 4 * 2 * (2 * n) ** 3 / (rate * 1e9) > budget_s:  # the next size's 4 multiplies
            break
        n *= 2
    return best, best_n


# ------------------------------------------------------------------------------ calibration
def _step_timer(model_name: str, precision: str, batch: int, device: torch.device):
    """A function that runs one training step (Adam, as the Trainer) and returns its seconds."""
    from cnncore.models import build_model
    from cnncore.train import autocast, prepare_model

    gen = torch.Generator().manual_seed(0)
    model = prepare_model(build_model(model_name), device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, generator=gen).to(device)
    y = (torch.arange(batch) % 10).to(device)

    def step() -> float:
        t = time.perf_counter()
        with autocast(device, precision):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        return time.perf_counter() - t

    return step


def measure(
    model_name: str = "convnet", device: torch.device | str = "cpu", timer: Callable = _step_timer
) -> dict:
    """The calibration itself (about half a second here): seconds per training step of the
    actual model, fp32 at 8 and 64 images (for estimates: a + b * images) and bf16 at 8 images,
    alternating, best of three. A bf16 whose first step is already 3x slower than fp32's first
    step is not timed further (on a CPU without bf16 units one step takes ~0.3 s)."""
    device = torch.device(device)
    small, large = 8, 64
    fp32_small = timer(model_name, "fp32", small, device)
    fp32_large = timer(model_name, "fp32", large, device)
    bf16_small = timer(model_name, "bf16", small, device)
    first_fp32 = fp32_small()
    fp32_large()
    first_bf16 = bf16_small()
    s, lg, bf = [], [], []
    bf16_slow = first_bf16 > 3 * first_fp32
    for _ in range(3):
        s.append(fp32_small())
        lg.append(fp32_large())
        if not bf16_slow:
            bf.append(bf16_small())
    fp32_s, fp32_l = min(s), min(lg)
    bf16_s = min(bf) if bf else first_bf16
    per_image = max((fp32_l - fp32_s) / (large - small), 1e-9)
    return {
        "version": CALIBRATION_VERSION,
        "model": model_name,
        "fp32_step_overhead_s": max(fp32_s - small * per_image, 0.0),
        "fp32_s_per_image": per_image,
        "fp32_small_step_s": fp32_s,
        "bf16_small_step_s": bf16_s,
        "bf16_over_fp32": fp32_s / bf16_s,
        "bf16_timed": not bf16_slow,
        "small_batch": small,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _in_thread_with(threads: int | None, fn: Callable[[], dict]) -> dict:
    """Run ``fn`` in a fresh thread that has ``threads`` intra-op threads (as a job's worker
    has), so the caller's own thread count is left alone."""
    if not threads:
        return fn()
    out: dict = {}

    def work():
        from cnncore.jobs import set_intraop_threads

        set_intraop_threads(threads)
        out["result"] = fn()

    mine = torch.get_num_threads()
    worker = threading.Thread(target=work, name="speed-calibration")
    worker.start()
    worker.join()
    # set_num_threads also set the process-wide default new threads adopt: put back the
    # caller's, so the calibration leaves no trace on the thread counts of others.
    torch.set_num_threads(mine)
    if "result" not in out:
        raise RuntimeError("the speed calibration failed")
    return out["result"]


def calibrate(
    model_name: str = "convnet",
    device: torch.device | str = "cpu",
    threads: int | None = None,
    refresh: bool = False,
    timer: Callable = _step_timer,
) -> dict:
    """This machine's calibration for ``model_name`` on ``threads`` intra-op threads (default:
    the caller's): from memory, else the cache file, else measured now and cached."""
    device = torch.device(device)
    threads = threads or torch.get_num_threads()
    key = f"{machine_key(device, threads)}|{model_name}"
    with _lock:
        if not refresh:
            if key in _memo:
                return _memo[key]
            cached = _read_cache().get(key)
            if isinstance(cached, dict) and cached.get("version") == CALIBRATION_VERSION:
                _memo[key] = cached
                return cached
        entry = _in_thread_with(threads, lambda: measure(model_name, device, timer))
        entry["key"] = key
        _memo[key] = entry
        _write_cache(key, entry)
        return entry


def clear_memo() -> None:
    with _lock:
        _memo.clear()


def auto_precision(
    device: torch.device | str = "cpu", threads: int | None = None, timer: Callable = _step_timer
) -> tuple[str, float]:
    """("bf16" or "fp32", measured bf16 ÷ fp32 speed of a training step). bf16 is chosen only
    when it measured at least ``BF16_MARGIN`` times as fast as fp32; on CUDA without bf16
    support, and wherever bf16 is slower, the answer is fp32."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp32", 0.0
    ratio = calibrate("convnet", device, threads, timer=timer)["bf16_over_fp32"]
    return ("bf16" if ratio >= BF16_MARGIN else "fp32"), ratio


def step_seconds(entry: dict, batch: int, precision: str = "fp32") -> float:
    """Seconds of one training step of ``batch`` images from a calibration entry."""
    t = entry["fp32_step_overhead_s"] + batch * entry["fp32_s_per_image"]
    if precision == "bf16":
        t /= max(entry["bf16_over_fp32"], 1e-6)
    return t


def _steps_estimate(entry: dict, config, data, precision: str) -> float:
    n = len(data.train)
    full, rest = divmod(n, config.batch_size)
    batches = [config.batch_size] * full + ([rest] if rest else [])
    if config.max_batches:
        batches = batches[: config.max_batches]
    per_epoch = sum(step_seconds(entry, b, precision) for b in batches)
    eval_images = config.epochs * len(data.val) + len(data.test)
    per_image = step_seconds(entry, 1024, precision) / 1024
    return config.epochs * per_epoch + eval_images * per_image / 3


def _cached_entry(key: str) -> dict | None:
    with _lock:
        entry = _memo.get(key) or _read_cache().get(key)
    return (
        entry if isinstance(entry, dict) and entry.get("version") == CALIBRATION_VERSION else None
    )


def estimate_seconds(config, data, threads: int | None = None, timer: Callable = _step_timer):
    """Seconds the run ``config`` (a TrainConfig) on ``data`` should take on this machine with
    ``threads`` intra-op threads: its training steps from the calibration (a + b * batch per
    step, bf16 scaled by the measured ratio), plus evaluating the validation split after each
    epoch and the test split once (a forward pass costs about a third of a training step);
    then scaled by the median of (actual ÷ estimated) over this machine's last finished runs
    that had the CPU to themselves (``record_run``), so the estimate follows what runs here
    really take on a quiet machine."""
    from cnncore.train import resolve_device, resolve_precision

    config.validate()
    device = resolve_device(config.device)
    entry = calibrate(config.model, device, threads, timer=timer)
    precision = config.precision
    if precision == "auto":
        precision = resolve_precision("auto", device, threads)
    ratios = sorted(entry.get("quiet_run_ratios") or [1.0])
    return _steps_estimate(entry, config, data, precision) * ratios[len(ratios) // 2]


def record_run(
    config,
    data,
    seconds: float,
    precision: str,
    threads: int | None = None,
    cpu_share: float = 1.0,
) -> None:
    """After a finished run of ``seconds`` (training and evaluation): keep actual ÷ estimated
    (the last 5) with this machine's calibration, if there is one (nothing is measured here).
    Only a run whose threads had a core each for at least ``QUIET_SHARE`` of its time counts
    (``cpu_share``, from the trainer's CPU time): a run that shared the cores with other jobs, a
    class's pages or a test suite took longer for reasons the next run may not meet, and five of
    them made a quiet run's estimate 5x too long. (Until this rule, ratios were kept as
    ``run_ratios``, which are no longer read.)"""
    from cnncore.train import resolve_device

    device = resolve_device(config.device)
    key = f"{machine_key(device, threads)}|{config.model}"
    entry = _cached_entry(key)
    if entry is None or seconds < MIN_RECORDED_RUN_S or cpu_share < QUIET_SHARE:
        return
    raw = _steps_estimate(entry, config, data, precision)
    if raw <= 0:
        return
    kept = (entry.get("quiet_run_ratios") or [])[-4:]
    entry = {**entry, "quiet_run_ratios": [*kept, seconds / raw]}
    with _lock:
        _memo[key] = entry
        _write_cache(key, entry)


# ------------------------------------------------------------------------------ decimation
def decimate_minmax(x, y, max_points: int = 2000) -> tuple[list, list]:
    """At most ``max_points`` points of the curve (x, y) that keep its shape: unchanged when
    short; else the points split into ``max_points // 2`` equal buckets and each gives its
    lowest and its highest point, in x order. NaN/inf (a diverged loss) are kept as they are."""
    n = len(x)
    if n != len(y):
        raise ValueError("x and y must have the same length")
    if n <= max_points:
        return list(x), list(y)
    buckets = max(1, max_points // 2)
    size = math.ceil(n / buckets)
    out_x, out_y = [], []
    for start in range(0, n, size):
        xs, ys = x[start : start + size], y[start : start + size]
        _emit_bucket(xs, ys, out_x, out_y)
    return out_x, out_y


def _emit_bucket(xs, ys, out_x, out_y) -> None:
    bad = [i for i, v in enumerate(ys) if v is None or not math.isfinite(v)]
    if bad:  # keep the first non-finite point: a diverged run must show it
        i = bad[0]
        out_x.append(xs[i])
        out_y.append(ys[i])
        return
    lo = min(range(len(ys)), key=ys.__getitem__)
    hi = max(range(len(ys)), key=ys.__getitem__)
    for i in sorted({lo, hi}):
        out_x.append(xs[i])
        out_y.append(ys[i])


class MinMaxSeries:
    """A growing curve kept as at most ``max_points`` min/max points, updated in O(1) per
    appended point (amortised): buckets hold ``size`` points; when there are too many, pairs of
    neighbours merge and ``size`` doubles. Each bucket also keeps its mean (for smoothing).
    While there are at most ``max_points // 2`` points each point is its own bucket (exact)."""

    # bucket fields
    FIRST, LAST, LO_X, LO_Y, HI_X, HI_Y, SUM, FINITE, TOTAL, BAD_X, BAD_Y = range(11)

    def __init__(self, max_points: int = 2000):
        self.max_buckets = max(2, max_points // 2)
        self.size = 1
        self.count = 0
        self._buckets: list[list] = []

    def __len__(self) -> int:
        return self.count

    def append(self, x, y) -> None:
        b = self._buckets[-1] if self._buckets else None
        if b is None or b[8] >= self.size:
            b = [x, x, None, math.inf, None, -math.inf, 0.0, 0, 0, None, None]
            self._buckets.append(b)
        b[1] = x
        b[8] += 1
        if y is not None and math.isfinite(y):
            if y < b[3]:
                b[2], b[3] = x, y
            if y > b[5]:
                b[4], b[5] = x, y
            b[6] += y
            b[7] += 1
        elif b[9] is None:
            b[9], b[10] = x, y
        self.count += 1
        if len(self._buckets) > self.max_buckets:
            self._merge()

    def _merge(self) -> None:
        merged = []
        for i in range(0, len(self._buckets), 2):
            a = self._buckets[i]
            if i + 1 == len(self._buckets):
                merged.append(a)
                continue
            b = self._buckets[i + 1]
            lo = a[2:4] if a[3] <= b[3] else b[2:4]
            hi = a[4:6] if a[5] >= b[5] else b[4:6]
            bad = a[9:11] if a[9] is not None else b[9:11]
            merged.append([a[0], b[1], *lo, *hi, a[6] + b[6], a[7] + b[7], a[8] + b[8], *bad])
        self._buckets = merged
        self.size *= 2

    def points(self) -> tuple[list, list]:
        """(x, y): each bucket's lowest and highest point in x order (one point if they
        coincide), and its first non-finite point if it had one."""
        xs, ys = [], []
        for b in self._buckets:
            pts = []
            if b[2] is not None:
                pts.append((b[2], b[3]))
                if b[4] != b[2]:
                    pts.append((b[4], b[5]))
            if b[9] is not None:
                pts.append((b[9], b[10]))
            for px, py in sorted(pts, key=lambda p: p[0]):
                xs.append(px)
                ys.append(py)
        return xs, ys

    def means(self) -> tuple[list, list, list]:
        """(last x of each bucket, mean of its finite points (NaN if none), finite points)."""
        return (
            [b[1] for b in self._buckets],
            [b[6] / b[7] if b[7] else math.nan for b in self._buckets],
            [b[7] for b in self._buckets],
        )


def ema_of_buckets(means: list[float], counts: list[int], weight: float) -> list[float]:
    """The debiased EMA of ``cnncore.analysis.ema_debiased`` over buckets of ``counts`` points
    with the given ``means``: a bucket of k points moves the average as k points equal to its
    mean would (``s = w^k s + (1 - w^k) mean``), so it is exact while every bucket is one point
    and follows the curve closely after. A bucket with no finite point gives NaN."""
    if not 0 <= weight < 1:
        raise ValueError("smoothing weight must be in [0, 1)")
    out, s, n = [], 0.0, 0
    for m, k in zip(means, counts, strict=True):
        if not k or not math.isfinite(m):
            out.append(math.nan)
            continue
        wk = weight**k
        s = wk * s + (1 - wk) * m
        n += k
        out.append(s / (1 - weight**n) if weight**n < 1 else m)
    return out


def estimate_line(config, data, threads: int | None = None) -> str:
    """One sentence for the training page before Start: the estimated wall time of ``config``
    on ``data`` in a job of the app (``threads``: the job worker's count by default)."""
    from cnncore.jobs import WORKER_THREADS

    threads = threads or WORKER_THREADS
    seconds = estimate_seconds(config, data, threads)
    when = f"about {seconds:.0f} s" if seconds < 120 else f"about {seconds / 60:.0f} min"
    return (
        f"Estimated time on this machine: {when} ({threads} thread"
        f"{'s' if threads != 1 else ''}, from a short measurement of its training speed)."
    )
