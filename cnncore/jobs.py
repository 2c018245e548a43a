"""Background jobs: work that runs in a daemon thread while a page polls a snapshot of it.

- ``Job``          the life cycle (queued -> running/paused -> finished/stopped/failed/diverged),
                   progress, a ``TrainControl`` (stop, pause/resume, learning-rate change), and a
                   thread-safe ``snapshot()``. The worker thread never calls Streamlit.
- ``FunctionJob``  runs ``fn(report, control) -> result``; ``report(progress, message)``.
- ``TrainingJob``  runs a ``Trainer``; keeps the history a live page draws (per-batch loss,
                   per-epoch validation, lr/pause markers) and the latest weights; when it ends,
                   for any reason, saves a run through ``RunStore`` so nothing is lost.
- ``JobManager``   at most ``max_running`` jobs at once, the rest in a FIFO queue with positions.

A worker exception is never swallowed: the job ends "failed" with ``error`` set (a UserError's
message as is, anything else prefixed by its type), and ``traceback`` kept for the logs.
"""

from __future__ import annotations

import collections
import gc
import math
import os
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch

from cnncore.data import Dataset
from cnncore.errors import UserError
from cnncore.memory import estimate_training_bytes, mb
from cnncore.runs import event_row, training_state
from cnncore.settings import Settings, load_settings
from cnncore.speed import CHART_POINTS, MinMaxSeries
from cnncore.train import Event, TrainConfig, TrainControl, Trainer, TrainResult, warm_up

ENDED = ("finished", "stopped", "failed", "diverged")
# Compute threads per job: the settings' threads_per_job (cnncore/settings.py). On a laptop a job
# leaves one core to the web server and the browser, which redraws the live panel: on this 2-core
# machine, with the page open in a local Chromium, training ran at ~6,800 images/s on one thread
# but ~4,100 on two (OpenMP threads stall whenever the browser takes one of their cores).
# $CNN_EXPLORER_THREADS_PER_JOB (or the older $CNN_EXPLORER_TRAIN_THREADS) overrides.
try:
    WORKER_THREADS = load_settings().threads_per_job
except UserError:  # bad settings are reported where they are used (JobManager, the app, the CLI)
    WORKER_THREADS = max(1, (os.cpu_count() or 1) - 1)


def _libc_trim():
    """glibc's malloc_trim (None elsewhere): hands freed heap pages back to the system, which
    glibc otherwise keeps in each thread's arena (a server's RSS then only grows)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


MALLOC_TRIM = _libc_trim()
M_ARENA_MAX = -8  # glibc's mallopt parameter: the most arenas malloc may create


def limit_malloc_arenas(n: int = 2) -> bool:
    """Let glibc's malloc use at most ``n`` arenas from now on (False where it cannot).

    glibc gives a thread that allocates while others do an arena of its own, up to 8 per core. A
    server runs many threads (a script thread per page run, the HTTP worker threads, the jobs); the
    free pages scattered over many arenas were kept after a class: the class test's server ended
    +97 MB over its start after ten short jobs with the default, -3 MB with at most 2 arenas
    (MALLOC_ARENA_MAX=2, one run each on the 2-core dev machine). Call it before the threads start.
    """
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, int(n)))
    except (OSError, AttributeError):
        return False


# How often a server with no job running collects garbage and trims the heap (JobManager). A full
# collection takes ~0.15 s here; Streamlit's collection after every script run is turned off
# (.streamlit/config.toml), so the cycles of closed sessions would otherwise stay for a long time.
HOUSEKEEPING_S = 60.0
WEIGHTS_EVERY_S = 0.3  # how often a training worker publishes a copy of its weights
# A job's worker (and the OpenMP threads it starts) runs at this nice value: the threads that
# serve pages (and, on a laptop, the browser drawing them) keep their normal priority, so a
# click is answered before the next batch, while training still gets every idle cycle.
JOB_NICE = 10


def lower_priority(nice: int = JOB_NICE) -> bool:
    """Give the calling thread (only it: Linux keeps a nice value per thread) ``nice`` more
    than it has; threads it creates afterwards inherit it (OpenMP's workers, when this thread
    runs its first parallel op). True if it took effect (False where unsupported)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        return False
    return True


def set_intraop_threads(n: int) -> None:
    """Give the calling thread ``n`` intra-op (OpenMP) threads, and only this thread.

    Why it matters: every thread that runs a parallel op gets its own OpenMP team, and once the
    process has more OpenMP threads than cores, libgomp stops spin-waiting between ops. Measured
    here, a training worker then ran ~20% slower than the same Trainer on the main thread.
    So a job's worker takes all the cores, and the threads that only poll and draw (Streamlit's
    script threads) take one. ``torch.set_num_threads`` also sets a process-wide default that a
    thread adopts at its first parallel op; running one such op here, between two calls, pins
    this thread's count so later calls from other threads cannot change it."""
    torch.set_num_threads(n)
    torch.zeros(1 << 17).add_(1)  # a parallel_for: this thread's lazy thread-count init runs now
    torch.set_num_threads(n)


class Job:
    """One unit of background work. Subclasses implement ``work()``; it returns
    ``(status, message, result)`` with status one of ``ENDED``."""

    kind = "job"

    def __init__(self, session_id: str = "", name: str = ""):
        self.id = uuid.uuid4().hex[:10]
        self.session_id = session_id
        self.name = name or self.kind
        self.control = TrainControl()
        self.created = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self._lock = threading.RLock()
        self._status = "queued"
        self.error = ""
        self.traceback = ""
        self.progress = 0.0
        self.message = "waiting to start"
        self.result: Any = None
        self.queue_position: int | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._on_end: Callable[[Job], None] | None = None  # set by the JobManager

    # -- state -----------------------------------------------------------------------------
    @property
    def status(self) -> str:
        with self._lock:
            if (
                self._status == "running"
                and self.control.paused
                and not self.control.stop_requested
            ):
                return "paused"
            return self._status

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def report(self, progress: float, message: str = "") -> None:
        """Worker side: progress in [0, 1] and a one-line message."""
        with self._lock:
            self.progress = min(max(float(progress), 0.0), 1.0)
            if message:
                self.message = message

    def snapshot(self) -> dict:
        """A copy of what a page needs to draw, taken under the lock."""
        with self._lock:
            now = self.ended or time.time()
            return {
                "id": self.id,
                "kind": self.kind,
                "name": self.name,
                "session_id": self.session_id,
                "status": self.status,
                "error": self.error,
                "progress": self.progress,
                "message": self.message,
                "queue_position": self.queue_position,
                "created": self.created,
                "elapsed": (now - self.started) if self.started else 0.0,
                "done": self.done,
                # asked to stop, still ending (a training job tests and saves its run first)
                "stopping": self.control.stop_requested and not self.done,
            }

    # -- control ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the worker to stop at its next check; a queued job ends "stopped" at once."""
        self.control.stop()
        with self._lock:
            queued = self._status == "queued" and self._thread is None
        if queued:
            self._finish("stopped", "stopped before it started", None)

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def set_lr(self, lr: float) -> None:
        self.control.set_lr(lr)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job has ended (and its thread exited); True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._done.wait(timeout):
            return False
        thread = self._thread
        if thread is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
            return not thread.is_alive()
        return True

    # -- worker ----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the worker thread (the JobManager calls this when a slot is free); False if the
        job has already started, ended, or was asked to stop while queued."""
        with self._lock:
            if self._thread is not None or self._done.is_set() or self.control.stop_requested:
                return False
            self._status, self.queue_position = "running", None
            self.started = time.time()
            self.message = "starting"
            self._thread = threading.Thread(target=self._run, name=f"job-{self.id}", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        # first: the OpenMP threads set_intraop_threads starts inherit it
        lower_priority(getattr(self, "nice", JOB_NICE))
        set_intraop_threads(getattr(self, "threads", WORKER_THREADS))
        try:
            status, message, result = self.work()
        except UserError as exc:
            if self.control.stop_requested:  # work that ends a requested stop by raising
                status, message, result = "stopped", str(exc), None
            else:
                status, message, result = "failed", str(exc), None
                self.error = str(exc)
        except Exception as exc:  # reported on the job, never swallowed
            self.error = f"{type(exc).__name__}: {exc}"
            self.traceback = traceback.format_exc()
            status, message, result = "failed", f"the job failed: {self.error}", None
        self._finish(status, message, result)

    def _finish(self, status: str, message: str, result: Any) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._status, self.message, self.result = status, message, result
            if status == "finished":
                self.progress = 1.0
            self.ended = time.time()
            self.queue_position = None
        self._done.set()
        if self._on_end is not None:
            self._on_end(self)

    def work(self) -> tuple[str, str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release(self) -> None:
        """Drop what only the worker needed, once the job has ended (the JobManager calls it)."""


class FunctionJob(Job):
    """Runs ``fn(report, control) -> result`` in the background. ``fn`` should call
    ``report(progress, message)`` now and then and may honour ``control.stop_requested``."""

    kind = "function"

    def __init__(
        self,
        fn: Callable[[Callable[[float, str], None], TrainControl], Any],
        session_id: str = "",
        name: str = "",
    ):
        super().__init__(session_id, name or getattr(fn, "__name__", "function"))
        self.fn = fn

    def work(self):
        result = self.fn(self.report, self.control)
        if self.control.stop_requested:
            return "stopped", "stopped by the user", result
        return "finished", "finished", result

    def _release(self) -> None:
        self.fn = None  # its closure may hold data; the result stays


class TrainingJob(Job):
    """Trains ``config`` on ``data`` in the background and saves a run when it ends.

    ``store``: a ``RunStore`` (None: nothing saved, e.g. in the benchmark).
    ``snapshot(since)`` adds ``history`` (a bounded view, see ``chart_history()``; None when
    nothing changed since version ``since``), ``version``, ``epoch``, ``batch``,
    ``images_per_s``, ``seconds_left``, ``run_id`` and ``weights_step``; ``history()`` copies
    every recorded point; ``weights()`` gives the latest published weights as a CPU state_dict.
    A refresh's cost does not grow with the run: the loss curve is kept, as it comes, as at most
    ``CHART_POINTS`` min/max points (O(1) per batch), and a poll copies only that.
    """

    kind = "training"

    def __init__(
        self,
        config: TrainConfig,
        data: Dataset,
        store=None,
        session_id: str = "",
        name: str = "",
        data_source: str | None = None,
        tensorboard: bool = True,
        model: torch.nn.Module | None = None,
    ):
        config.validate()  # refuse bad hyperparameters before anything is queued
        if store is not None:
            store.check_writable()  # and a store that cannot be written, before any training
        super().__init__(session_id, name or f"{config.model} lr={config.lr:g}")
        self.config, self.data, self.store = config, data, store
        self.data_source = data_source or data.source
        self.tensorboard = tensorboard
        self.model = model  # None: a fresh config.model (seeded); else train this module
        self.run_id: str | None = None
        self.trainer: Trainer | None = None
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._val: list[dict] = []
        self._markers: list[dict] = []
        self._test: dict | None = None
        self._series = MinMaxSeries(CHART_POINTS)
        self._version = 0  # +1 whenever the history changes
        self._live = {
            "epoch": 0,
            "batch": 0,
            "batches_per_epoch": 0,
            "total_batches": 0,
            "images_per_s": 0.0,
            "seconds_left": None,
            "lr": config.lr,
            "precision": "",
            "device": "",
        }
        self._weights: dict[str, torch.Tensor] | None = None
        self._weights_step = -1
        self._weights_at = 0.0
        self._writer = None  # the RunWriter while the job trains (None: nothing saved)
        self._write_error = ""  # the first disk error while writing the run as it went
        self.resume_run: str | None = None  # an interrupted run this job resumes in place

    @classmethod
    def resuming(
        cls, store, run_id: str, data: Dataset, session_id: str = "", tensorboard: bool = True
    ) -> TrainingJob:
        """A job that resumes the interrupted run ``run_id`` of ``store`` in place: checked now
        (``RunStore.load_resume``: one plain sentence if it cannot be resumed), reopened when
        the job starts. ``data`` must be the source the run trained on."""
        info, config, _state = store.load_resume(run_id)
        source = (info.summary or {}).get("data")
        if source != data.source:
            raise UserError(
                f"run {run_id} trained on {source}; choose {source} as the data source to resume it"
            )
        job = cls(config, data, store, session_id, info.name, source, tensorboard)
        job.resume_run = run_id
        return job

    def _replay(self, rows: list[dict]) -> None:
        """The rows of the epochs a resumed run keeps, into the history a live page draws."""
        with self._lock:
            for row in rows:
                kind, step, epoch = row.get("kind"), int(row["step"]), int(row.get("epoch") or 0)
                if kind == "train" and row.get("loss") is not None:
                    self._steps.append(step)
                    self._losses.append(float(row["loss"]))
                    self._series.append(step, float(row["loss"]))
                elif kind == "val":
                    self._val.append(
                        {
                            "epoch": epoch,
                            "step": step,
                            "loss": row.get("loss"),
                            "accuracy": row.get("accuracy"),
                        }
                    )
                elif kind in ("lr", "pause", "resume"):
                    marker = {"kind": kind, "step": step, "epoch": epoch, "lr": row.get("lr")}
                    self._markers.append({**marker, "old_lr": None})
            self._version += 1

    # -- worker side -----------------------------------------------------------------------
    def _publish_weights(self, step: int) -> None:
        model = self.trainer.model if self.trainer else None
        if model is None:
            return
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        with self._lock:
            self._weights, self._weights_step = state, step
        self._weights_at = time.monotonic()

    def _on_event(self, event: Event) -> None:
        v = event.values
        with self._lock:
            live = self._live
            live["lr"] = v.get("lr", live["lr"])
            if event.kind == "train":
                self._steps.append(event.step)
                self._losses.append(v["loss"])
                self._series.append(event.step, v["loss"])
                live.update(
                    epoch=event.epoch,
                    batch=v["batch"],
                    batches_per_epoch=v["batches_per_epoch"],
                    total_batches=v["total_batches"],
                    images_per_s=v["images_per_s"],
                    seconds_left=v["seconds_left"],
                )
                total = max(v["total_batches"], 1)
                self.progress = event.step / total
                self.message = (
                    f"epoch {event.epoch}/{self.config.epochs}, batch {v['batch']}/"
                    f"{v['batches_per_epoch']}"
                )
            elif event.kind == "val":
                self._val.append(
                    {
                        "epoch": event.epoch,
                        "step": event.step,
                        "loss": v["loss"],
                        "accuracy": v["accuracy"],
                    }
                )
                self.message = f"epoch {event.epoch}: validation accuracy {v['accuracy']:.1%}"
            elif event.kind == "test":
                self._test = {"loss": v["loss"], "accuracy": v["accuracy"]}
            elif event.kind in ("lr", "pause", "resume"):
                marker = {
                    "kind": event.kind,
                    "step": event.step,
                    "epoch": event.epoch,
                    "lr": v.get("lr"),
                    "old_lr": v.get("old_lr"),
                }
                self._markers.append(marker)
            elif event.kind == "start":
                live.update(
                    total_batches=v["total_batches"], precision=v["precision"], device=v["device"]
                )
            if event.kind in ("train", "val", "test", "lr", "pause", "resume"):
                self._version += 1
        if event.kind == "pause" or (
            event.kind == "train" and time.monotonic() - self._weights_at >= WEIGHTS_EVERY_S
        ):
            self._publish_weights(event.step)

    def work(self):
        """Train, writing the run as it goes (see ``cnncore.runs.RunWriter``): the folder exists
        from the start, every metrics row reaches disk when it is recorded, a checkpoint lands at
        each epoch end, and the end status is written last. A killed process leaves a run that
        lists as interrupted, with its curves and last checkpoint."""
        self._writer, state = None, None
        if self.store is not None and self.resume_run:
            self._writer, _config, state = self.store.resume(self.resume_run)
            self._replay(state["metrics"])
        elif self.store is not None:
            self._writer = self.store.begin(self.config, self.data_source, self.name_for_run())
        if self._writer is not None:
            with self._lock:
                self.run_id = self._writer.id
        trainer = None
        try:
            on_event, control = self._on_event_and_write, self.control
            self.trainer = trainer = Trainer(
                self.config,
                self.data,
                model=self.model,
                on_event=on_event,
                control=control,
                resume=state,
            )
            self._publish_weights(0)
            result = trainer.run()
        except Exception as exc:
            # Keep what was recorded: save a "failed" run with the weights as they are, then
            # report the error on the job.
            plain = isinstance(exc, UserError)  # a UserError's message is for users as it is
            self.error = str(exc) if plain else f"{type(exc).__name__}: {exc}"
            self.traceback = "" if plain else traceback.format_exc()
            message = f"training failed: {self.error}"
            if trainer is None:
                result = TrainResult("failed", message, None, pd.DataFrame(), *[None] * 4, 0.0, 0.0)
            else:
                metrics, seconds = pd.DataFrame(trainer.metrics), trainer._elapsed()
                where = (trainer.precision, str(trainer.device))
                nothing = (None, None, None, None, 0.0, seconds)
                result = TrainResult("failed", message, trainer.model, metrics, *nothing, *where)
        if trainer is not None:
            self._publish_weights(trainer.step)
        self._save(result)
        return result.status, result.message, result

    def _on_event_and_write(self, event: Event) -> None:
        """The Trainer's listener: the live history, then the row on disk (and a checkpoint at
        each epoch end). A disk error never stops training; ``_save`` reports it at the end."""
        self._on_event(event)
        writer = self._writer
        if writer is None or self._write_error:
            return
        try:
            writer.append([event_row(event)])
            if event.kind == "val" and self.trainer is not None:
                state = training_state(self.trainer, event.epoch)
                writer.checkpoint(self.trainer.model, event.epoch, state)
        except OSError as exc:
            self._write_error = exc.strerror or type(exc).__name__

    def _save(self, result: TrainResult) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            run_id = writer.finish(result, tensorboard=self.tensorboard)
        except Exception as exc:  # the training happened; say loudly that saving did not
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.error = (self.error + "; " if self.error else "") + (
                f"saving the end of run {writer.id} failed ({why}); it lists as interrupted "
                "with what reached the disk before"
            )
            return
        finally:
            writer.close()
        with self._lock:
            self.run_id = run_id

    def _release(self) -> None:
        """Keep what a page draws (history, result, weights); drop the trainer (its optimizer
        state and float copy of the images), the data and the model object it trained."""
        self.trainer = self.data = self.model = None

    def name_for_run(self) -> str:
        return self.name if self.name != f"{self.config.model} lr={self.config.lr:g}" else ""

    # -- page side -------------------------------------------------------------------------
    def history(self) -> dict:
        """Copies: ``steps``/``losses`` (per batch), ``val`` (per epoch), ``markers``, ``test``."""
        with self._lock:
            return {
                "steps": list(self._steps),
                "losses": list(self._losses),
                "val": [dict(r) for r in self._val],
                "markers": [dict(m) for m in self._markers],
                "test": dict(self._test) if self._test else None,
            }

    @property
    def version(self) -> int:
        """Goes up by one whenever the history changes (a poll can skip an unchanged one)."""
        with self._lock:
            return self._version

    def chart_history(self) -> dict:
        """What the live charts draw, bounded whatever the run's length: ``steps``/``losses``
        at most ``CHART_POINTS`` min/max points of the per-batch loss (every point while the
        run is short), ``buckets`` (last step, mean loss, batches) for the smoothed curve,
        ``batches`` (how many were recorded), ``val``, ``markers``, ``test``, ``version``."""
        with self._lock:
            steps, losses = self._series.points()
            return {
                "steps": steps,
                "losses": losses,
                "buckets": self._series.means(),
                "batches": len(self._series),
                "val": [dict(r) for r in self._val],
                "markers": [dict(m) for m in self._markers],
                "test": dict(self._test) if self._test else None,
                "version": self._version,
            }

    def weights(self) -> tuple[dict[str, torch.Tensor] | None, int]:
        """(latest published CPU state_dict or None, the step it was taken at). The dict is never
        mutated after publishing, so callers may read it without copying."""
        with self._lock:
            return self._weights, self._weights_step

    def snapshot(self, since: int | None = None) -> dict:
        """The job's state; ``history`` is ``chart_history()``, or None if its version is still
        ``since`` (the caller already has it)."""
        snap = super().snapshot()
        with self._lock:
            snap.update(self._live)
            unchanged = since is not None and since == self._version
            snap.update(
                history=None if unchanged else self.chart_history(),
                version=self._version,
                run_id=self.run_id,
                config=self.config.to_dict(),
                weights_step=self._weights_step,
                data_source=self.data_source,
            )
        return snap


def keep_house(
    manager: Callable[[], JobManager | None],
    closing: threading.Event,
    every_s: float = HOUSEKEEPING_S,
) -> None:
    """While the manager (a weak reference: a manager nobody holds ends this too) runs no job,
    every ``every_s``: a full garbage collection, then malloc_trim, so the memory of ended jobs
    and closed sessions goes back to the system after a class."""
    while not closing.wait(every_s):
        m = manager()
        if m is None:
            return
        with m._lock:
            busy = bool(m._running)
        del m
        if not busy:
            gc.collect()
            if MALLOC_TRIM is not None:
                MALLOC_TRIM(0)


class JobManager:
    """Runs at most ``max_running`` jobs at once; the rest wait in a first-in, first-out queue
    and know their position (1 = next) and an honest wait (``wait_seconds``).

    The limits come from ``settings`` (default: ``cnncore.settings.load_settings()``), and
    ``submit`` refuses, with one plain sentence, a job over any of them: batch size and epochs,
    a visitor's (``session_id``'s) running + queued jobs, the job's estimated memory, the room in
    its workspace. A queued job starts when a slot is free, its visitor has fewer than
    ``running_per_visitor`` jobs running, and its memory fits next to the running jobs'. Every job
    gets ``threads_per_job`` compute threads (fewer if an explicit ``max_running`` would otherwise
    put more threads than cores to work). An ended job drops what only its worker needed
    (``Job._release``): the trainer, its optimizer and any copy of the data."""

    def __init__(
        self, max_running: int | None = None, keep_ended: int = 50, settings: Settings | None = None
    ):
        self.settings = settings or load_settings()
        self.max_running = max(1, int(max_running or self.settings.jobs_at_once))
        self.threads = max(
            1, min(self.settings.threads_per_job, self.settings.cores // self.max_running)
        )
        self.keep_ended = keep_ended
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._running: set[str] = set()
        self._seen: dict[str, float] = {}  # session id -> last time it was seen (heartbeat)
        self._closed = False
        # A process's first optimizer imports torch._dynamo (seconds): done now, in the
        # background, so that a student's first run does not wait for it after pressing Start.
        threading.Thread(target=warm_up, name="cnn-explorer-warm-up", daemon=True).start()
        self._closing = threading.Event()
        threading.Thread(
            target=keep_house,
            args=(weakref.ref(self), self._closing),
            name="cnn-explorer-memory",
            daemon=True,
        ).start()

    def check(self, job: Job) -> int:
        """Raise UserError if ``job`` is over a limit; else its estimated memory in bytes."""
        s = self.settings
        config = getattr(job, "config", None)
        memory = int(getattr(job, "memory_bytes", 0) or 0)
        if isinstance(config, TrainConfig):
            if config.batch_size > s.max_batch_size:
                raise UserError(
                    f"batch size {config.batch_size:,} is over this server's limit "
                    f"of {s.max_batch_size:,}; choose a smaller batch"
                )
            if config.epochs > s.max_epochs:
                raise UserError(
                    f"{config.epochs} epochs is over this server's limit of "
                    f"{s.max_epochs}; choose fewer epochs"
                )
            data = getattr(job, "data", None)
            if data is not None:
                memory = estimate_training_bytes(config, len(data.train))
        if memory > s.memory_per_job_mb * 1e6:
            raise UserError(
                f"this run would need about {mb(memory)} of memory, more than the "
                f"{mb(s.memory_per_job_mb * 1e6)} one job may use on this server; choose a "
                "smaller batch size or a smaller model"
            )
        with self._lock:
            mine = [j for j in self._jobs.values() if j.session_id == job.session_id and not j.done]
        running = sum(1 for j in mine if j.id in self._running)
        if len(mine) >= s.running_per_visitor + s.queued_per_visitor:
            raise UserError(
                f"you already have {running} job(s) running and {len(mine) - running} waiting, "
                "this server's limit; stop one or wait until one ends"
            )
        store = getattr(job, "store", None)
        if store is not None and hasattr(store, "check_room"):
            store.check_room()
        return memory

    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._closed:
                raise UserError("the job manager is shut down; restart the app")
            job.memory_bytes = self.check(job)
            job.threads, job.nice = self.threads, self.settings.job_nice
            job._on_end = self._ended
            self._jobs[job.id] = job
            self._queue.append(job)
            self._seen.setdefault(job.session_id, time.time())
            self._fill()
            self._prune()
        return job

    def get(self, job_id: str, session_id: str | None = None) -> Job | None:
        """The job with this id (and, given ``session_id``, only if it is that session's)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and session_id is not None and job.session_id != session_id:
            return None
        return job

    def jobs(self, session_id: str | None = None) -> list[Job]:
        """Jobs (of one session, or all), oldest first."""
        with self._lock:
            return [
                j for j in self._jobs.values() if session_id is None or j.session_id == session_id
            ]

    def running(self) -> list[Job]:
        with self._lock:
            return [self._jobs[i] for i in self._running]

    def queued(self) -> list[Job]:
        with self._lock:
            return list(self._queue)

    def stop(self, job_id: str, session_id: str | None = None) -> None:
        """Stop a job (given ``session_id``: only that session's own job)."""
        job = self.get(job_id, session_id)
        if job is None:
            raise UserError(f"no job {job_id}")
        job.stop()

    def stop_session(self, session_id: str) -> list[Job]:
        """Stop every unfinished job of a session (queued ones end at once); returns them."""
        jobs = [j for j in self.jobs(session_id) if not j.done]
        for job in jobs:
            job.stop()
        return jobs

    def touch(self, session_id: str) -> None:
        """A session is still there (a page of it ran)."""
        with self._lock:
            self._seen[session_id] = time.time()

    def reap(self, idle_s: float) -> list[Job]:
        """Stop (and so save) the jobs of sessions not seen for ``idle_s`` seconds."""
        now = time.time()
        with self._lock:
            gone = [s for s, t in self._seen.items() if now - t > idle_s]
        stopped = []
        for session in gone:
            stopped += self.stop_session(session)
            with self._lock:
                if not any(not j.done for j in self.jobs(session)):
                    self._seen.pop(session, None)
        return stopped

    def wait_seconds(self, job_id: str) -> float | None:
        """How long a queued job will wait before it starts, from the running jobs' own
        ``seconds_left`` and, for the queued jobs ahead of it, their size at the speed the
        running jobs reach; None if it is not queued or a running job has no estimate yet."""
        with self._lock:
            queue = list(self._queue)
            running = [self._jobs[i] for i in self._running]
        job = self.get(job_id)
        if job is None or job not in queue:
            return None
        free_at, rates = [], []
        for r in running:
            live = getattr(r, "_live", None) or {}
            left = live.get("seconds_left")
            if left is None:
                return None
            free_at.append(float(left))
            if live.get("images_per_s"):
                rates.append(float(live["images_per_s"]))
        free_at += [0.0] * max(0, self.max_running - len(free_at))
        rate = sum(rates) / len(rates) if rates else None
        for ahead in queue[: queue.index(job)]:
            duration = _expected_seconds(ahead, rate)
            if duration is None:
                return None
            free_at.sort()
            free_at[0] += duration
        return min(free_at) if free_at else 0.0

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop every job and join every thread; True if all threads have exited."""
        self._closing.set()
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop()
        deadline = time.monotonic() + timeout
        return all(job.join(max(0.0, deadline - time.monotonic())) for job in jobs)

    # -- internals (called with or without the lock; the lock is re-entrant) ----------------
    def _ended(self, job: Job) -> None:
        job._release()
        if MALLOC_TRIM is not None:
            MALLOC_TRIM(0)
        with self._lock:
            self._running.discard(job.id)
            if job in self._queue:
                self._queue.remove(job)
            self._fill()

    def _fill(self) -> None:
        with self._lock:
            budget = self.settings.memory_budget_mb * 1e6
            for job in list(self._queue):
                if len(self._running) >= self.max_running or self._closed:
                    break
                running = [self._jobs[i] for i in self._running]
                mine = sum(1 for r in running if r.session_id == job.session_id)
                if mine >= self.settings.running_per_visitor:
                    continue  # this visitor's next job waits for their running one
                in_use = sum(getattr(r, "memory_bytes", 0) for r in running)
                if running and in_use + getattr(job, "memory_bytes", 0) > budget:
                    break  # first come, first served: the next job waits until memory frees
                self._queue.remove(job)
                self._running.add(job.id)
                if not job.start():
                    self._running.discard(job.id)
            for position, job in enumerate(self._queue, start=1):
                with job._lock:
                    job.queue_position = position
                    job.message = f"waiting in the queue (position {position})"

    def _prune(self) -> None:
        ended = [j for j in self._jobs.values() if j.done]
        for job in ended[: max(0, len(ended) - self.keep_ended)]:
            del self._jobs[job.id]


def _expected_seconds(job: Job, images_per_s: float | None) -> float | None:
    """A queued training job's run time at ``images_per_s``; None if it cannot be told."""
    config, data = getattr(job, "config", None), getattr(job, "data", None)
    if not isinstance(config, TrainConfig) or data is None or not images_per_s:
        return None
    n = len(data.train)
    per_epoch = math.ceil(n / config.batch_size)
    batches = min(per_epoch, config.max_batches) if config.max_batches else per_epoch
    return batches * config.batch_size * config.epochs / images_per_s
