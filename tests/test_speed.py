"""cnncore.speed: counted FLOPs, decimation, calibration cache, auto precision, estimates; and
per-run generators (two runs with one seed at once give the weights of that run alone)."""

import json
import math
import time

import pytest
import torch

from cnncore import speed
from cnncore.analysis import ema_debiased
from cnncore.jobs import JobManager, TrainingJob
from cnncore.train import TrainConfig, Trainer


# ------------------------------------------------------------------------------ FLOPs
def test_flops_per_image_match_the_hand_count():
    # forward: conv1 2*24*24*16*(1*25), conv2 2*20*20*32*(16*25), linear 2*12800*10
    forward = 2 * 24 * 24 * 16 * 25 + 2 * 20 * 20 * 32 * 16 * 25 + 2 * 12800 * 10
    # backward: conv2 grad input + grad weight, conv1 grad weight only (its input needs no
    # grad), linear grad input + grad weight
    backward = 2 * (2 * 20 * 20 * 32 * 16 * 25) + 2 * 24 * 24 * 16 * 25 + 2 * (2 * 12800 * 10)
    assert speed.flops_per_image("convnet") == forward + backward == 32_409_600


def test_flops_do_not_depend_on_the_batch_and_fcnet_is_tiny():
    assert speed.flops_per_image("convnet", batch=4) == speed.flops_per_image("convnet", 16)
    fc = speed.flops_per_image("fcnet")
    assert fc == 2 * (784 * 176 + 176 * 10) + 2 * (176 * 10) + 2 * (784 * 176 + 176 * 10)


def test_matmul_rate_is_a_positive_number():
    assert speed.matmul_gflops(torch.float32, 64, repeats=1) > 0


# ------------------------------------------------------------------------------ decimation
def test_decimation_is_exact_when_short():
    x, y = list(range(10)), [float(v) for v in range(10)]
    assert speed.decimate_minmax(x, y, 10) == (x, y)


def test_decimation_keeps_min_and_max_of_each_bucket_and_is_bounded():
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(10_000, generator=gen).tolist()
    x = list(range(len(y)))
    dx, dy = speed.decimate_minmax(x, y, 200)
    assert len(dx) <= 200 and dx == sorted(dx)
    size = math.ceil(len(y) / 100)
    for start in range(0, len(y), size):
        bucket = y[start : start + size]
        assert min(bucket) in dy and max(bucket) in dy
    assert all(y[i] == v for i, v in zip(dx, dy, strict=True))  # real points only


def test_decimation_keeps_a_diverged_point():
    y = [1.0] * 5000
    y[2345] = math.nan
    dx, dy = speed.decimate_minmax(list(range(5000)), y, 100)
    assert 2345 in dx and math.isnan(dy[dx.index(2345)])


def test_incremental_series_is_exact_when_short_and_bounded_when_long():
    series = speed.MinMaxSeries(max_points=100)
    ys = [float((i * 37) % 101) for i in range(50)]
    for i, v in enumerate(ys):
        series.append(i, v)
    assert series.points() == (list(range(50)), ys)
    _, means, counts = series.means()
    assert means == ys and counts == [1] * 50
    assert speed.ema_of_buckets(means, counts, 0.6) == pytest.approx(ema_debiased(ys, 0.6))

    gen = torch.Generator().manual_seed(1)
    long = torch.randn(100_000, generator=gen).tolist()
    series = speed.MinMaxSeries(max_points=100)
    for i, v in enumerate(long):
        series.append(i, v)
    px, py = series.points()
    assert len(px) <= 100 and len(series) == 100_000 and px == sorted(px)
    assert min(long) in py and max(long) in py
    assert all(long[i] == v for i, v in zip(px, py, strict=True))
    mx, means, counts = series.means()
    assert sum(counts) == 100_000
    assert sum(m * k for m, k in zip(means, counts, strict=True)) == pytest.approx(sum(long))


# ------------------------------------------------------------------------------ calibration
class FakeTimer:
    """Training steps that 'take' a + b * batch seconds (bf16: times ``bf16_factor``)."""

    def __init__(self, a=0.002, b=0.0004, bf16_factor=1.0):
        self.a, self.b, self.bf16_factor, self.calls = a, b, bf16_factor, 0

    def __call__(self, model_name, precision, batch, device):
        def step():
            self.calls += 1
            t = self.a + self.b * batch
            return t * self.bf16_factor if precision == "bf16" else t

        return step


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path))
    speed.clear_memo()
    yield tmp_path / "speed.json"
    speed.clear_memo()


def test_calibration_is_measured_once_then_cached_per_machine(cache):
    timer = FakeTimer()
    first = speed.calibrate("convnet", "cpu", threads=1, timer=timer)
    calls = timer.calls
    assert calls > 0 and cache.exists()
    assert speed.calibrate("convnet", "cpu", threads=1, timer=timer) == first
    speed.clear_memo()  # a new process: read from the file, not measured again
    assert speed.calibrate("convnet", "cpu", threads=1, timer=timer)["key"] == first["key"]
    assert timer.calls == calls
    key = json.loads(cache.read_text()).keys()
    assert any(speed.cpu_model() in k and torch.__version__ in k and "1 threads" in k for k in key)
    speed.calibrate("convnet", "cpu", threads=2, timer=timer)  # other threads: measured
    assert timer.calls > calls
    assert len(json.loads(cache.read_text())) == 2


def test_calibration_fits_step_time_per_image(cache):
    entry = speed.calibrate("convnet", "cpu", threads=1, timer=FakeTimer(0.002, 0.0004))
    assert entry["fp32_s_per_image"] == pytest.approx(0.0004)
    assert entry["fp32_step_overhead_s"] == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("factor", "expected"), [(20.0, "fp32"), (1.5, "fp32"), (0.97, "fp32"), (0.5, "bf16")]
)
def test_auto_precision_never_picks_a_slower_bf16(cache, factor, expected):
    precision, ratio = speed.auto_precision("cpu", threads=1, timer=FakeTimer(bf16_factor=factor))
    assert precision == expected
    assert ratio == pytest.approx(1 / factor)


def test_a_very_slow_bf16_is_not_timed_further(cache):
    timer = FakeTimer(bf16_factor=50.0)
    entry = speed.calibrate("convnet", "cpu", threads=1, timer=timer)
    assert entry["bf16_timed"] is False and entry["bf16_over_fp32"] == pytest.approx(1 / 50)


def test_estimate_adds_steps_and_evaluation(cache, bundled):
    timer = FakeTimer(0.002, 0.0004)
    config = TrainConfig(epochs=2, batch_size=256, precision="fp32")
    n = len(bundled.train)  # 4000 = 15 batches of 256 + one of 160
    steps = 15 * (0.002 + 0.0004 * 256) + (0.002 + 0.0004 * 160)
    evaluation = (2 * len(bundled.val) + len(bundled.test)) * (0.002 / 1024 + 0.0004) / 3
    assert n == 4000
    got = speed.estimate_seconds(config, bundled, threads=1, timer=timer)
    assert got == pytest.approx(2 * steps + evaluation)
    fewer = TrainConfig(epochs=2, batch_size=256, precision="fp32", max_batches=3)
    assert speed.estimate_seconds(fewer, bundled, threads=1, timer=timer) == pytest.approx(
        2 * 3 * (0.002 + 0.0004 * 256) + evaluation
    )
    slow = TrainConfig(epochs=2, batch_size=256, precision="bf16")
    assert speed.estimate_seconds(slow, bundled, 1, timer) == pytest.approx(got)  # bf16 as fast
    # bf16 measured 2x slower: its steps take twice as long
    speed.clear_memo()
    cache.unlink()
    t2 = FakeTimer(0.002, 0.0004, bf16_factor=2.0)
    assert speed.estimate_seconds(slow, bundled, 1, t2) == pytest.approx(2 * got)


def test_real_calibration_runs_and_is_cached(cache):
    entry = speed.calibrate("convnet", "cpu", threads=1)
    assert entry["fp32_s_per_image"] > 0 and entry["bf16_over_fp32"] > 0
    assert speed.auto_precision("cpu", threads=1)[1] == entry["bf16_over_fp32"]


# ------------------------------------------------------------------------------ generators
def _weights(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def test_two_jobs_with_one_seed_at_once_give_the_weights_of_one_alone(tiny_data):
    """Jobs train on WORKER_THREADS intra-op threads each (bit-for-bit equality holds for the
    same thread count: oneDNN splits its sums by thread)."""
    config = TrainConfig(epochs=1, batch_size=64, seed=5, precision="fp32", max_batches=6)

    def train(n_jobs):
        manager = JobManager(max_running=n_jobs)
        jobs = [manager.submit(TrainingJob(config, tiny_data)) for _ in range(n_jobs)]
        torch.randn(1000)  # other code drawing from the global generator meanwhile
        assert all(j.join(600) for j in jobs)
        manager.shutdown()
        assert [j.status for j in jobs] == ["finished"] * n_jobs
        return [_weights(j.result) for j in jobs]

    (alone,) = train(1)
    together = train(2)
    for result in together:
        for k, v in alone.items():
            assert torch.equal(result[k], v), k


def test_a_run_does_not_use_the_global_generator(tiny_data):
    config = TrainConfig(epochs=1, batch_size=64, seed=5, precision="fp32", max_batches=2)
    torch.manual_seed(123)
    a = _weights(Trainer(config, tiny_data).run())
    torch.manual_seed(999)
    b = _weights(Trainer(config, tiny_data).run())
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_estimates_follow_what_finished_runs_took(cache, bundled):
    timer = FakeTimer(0.02, 0.004)
    config = TrainConfig(epochs=1, batch_size=256, precision="fp32")
    first = speed.estimate_seconds(config, bundled, threads=1, timer=timer)
    speed.record_run(config, bundled, 2 * first, "fp32", threads=1)
    assert speed.estimate_seconds(config, bundled, threads=1, timer=timer) == pytest.approx(
        2 * first
    )
    for _ in range(5):  # only the last five runs count; the median of them
        speed.record_run(config, bundled, 1.5 * first, "fp32", threads=1)
    speed.clear_memo()  # kept in the cache file too
    assert speed.estimate_seconds(config, bundled, threads=1, timer=timer) == pytest.approx(
        1.5 * first
    )
    speed.record_run(config, bundled, 9.0, "fp32", threads=3)  # never calibrated: ignored
    speed.record_run(config, bundled, 1.0, "fp32", threads=1)  # too short to count
    assert speed.estimate_seconds(config, bundled, threads=1, timer=timer) == pytest.approx(
        1.5 * first
    )
    assert len(json.loads(cache.read_text())) == 1


def test_estimates_learn_only_from_runs_that_had_the_cpu_to_themselves(cache, bundled):
    timer = FakeTimer(0.02, 0.004)
    config = TrainConfig(epochs=1, batch_size=256, precision="fp32")
    first = speed.estimate_seconds(config, bundled, threads=1, timer=timer)
    for _ in range(5):  # runs that shared the cores (a class's pages, other jobs, a test suite)
        speed.record_run(config, bundled, 6 * first, "fp32", threads=1, cpu_share=0.4)
    assert speed.estimate_seconds(config, bundled, threads=1, timer=timer) == pytest.approx(first)
    speed.record_run(config, bundled, 1.2 * first, "fp32", threads=1, cpu_share=0.95)
    assert speed.estimate_seconds(config, bundled, threads=1, timer=timer) == pytest.approx(
        1.2 * first
    )
    # ratios kept before this rule (under another name) are not read
    data = json.loads(cache.read_text())
    for entry in data.values():
        entry["run_ratios"], entry["quiet_run_ratios"] = [9.9, 10.3, 5.5], []
    cache.write_text(json.dumps(data))
    speed.clear_memo()
    assert speed.estimate_seconds(config, bundled, threads=1, timer=timer) == pytest.approx(first)


def test_the_trainer_reports_how_much_of_the_cpu_its_run_had(tiny_data, monkeypatch):
    from cnncore import train

    started = train.cpu_seconds()
    time.sleep(0.3)  # a thread that waits has no CPU time
    assert train.cpu_share(started, 0.3) < 0.5
    seen = []
    monkeypatch.setattr(speed, "record_run", lambda *a, **kw: seen.append(kw["cpu_share"]))
    config = TrainConfig(epochs=1, batch_size=64, precision="fp32", max_batches=3)
    Trainer(config, tiny_data).run()
    assert len(seen) == 1 and 0 < seen[0] <= 1.5
