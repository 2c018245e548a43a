"""The run store: ``runs/<id>/{config.json, metrics.csv, model.pt}`` on disk, written as a run goes.

Nothing is lost:

- ``store.begin(config, data_source, name)`` builds a run's folder under a temporary name and
  renames it into place, so a folder appears whole or not at all; two runs started in the same
  second get different ids (a rename onto an existing run fails, and the next id is tried).
- The ``RunWriter`` it returns appends metrics rows to metrics.csv as they come (each append is
  flushed to the operating system, so a killed process keeps every row), writes an atomic
  model.pt checkpoint at each epoch end, and writes the end status into config.json last.
- While it writes, the writer holds an ``fcntl.flock`` on ``<run>/.lock``. The kernel drops the
  lock when the process dies (kill -9 too), so a folder still marked ``running`` whose lock can
  be taken was interrupted: it is listed with status ``interrupted``, its curves and its last
  checkpoint.

Nothing breaks: any folder content (invalid JSON, wrong types, a folder where a file belongs,
unreadable files) is listed as damaged with a plain reason; ``list()``, ``table()`` and
``info()`` never raise for what is on disk. Files are written 0644 and folders 0755 (less if the
umask says so) so other local users, e.g. a server running as another account, can read them.
Weights are checked before loading (see ``cnncore.weights``).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from cnncore.errors import UserError
from cnncore.train import TrainConfig, TrainResult
from cnncore.weights import (  # noqa: F401  (re-exported: pages and tests import them from here)
    MAX_UPLOAD_BYTES,
    check_weights_file,
    load_state_dict_bytes,
    state_dict_bytes,
)

DEFAULT_ROOT = "runs"
METRIC_COLUMNS = ("step", "epoch", "kind", "loss", "accuracy", "lr", "seconds")
STATUSES = ("running", "finished", "stopped", "failed", "diverged", "imported")
ENDED = STATUSES[1:]
MAX_CONFIG_BYTES = 1 << 20  # config.json is ~1 KB; a bigger one is not ours
MAX_METRICS_BYTES = 256 << 20  # ~2 million rows; far beyond any run here
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
_CREATED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_NUMBERS = ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "images_per_s", "seconds")
_TEXTS = ("message", "data", "precision", "device")
RESUME_FILE = "resume.pt"  # what a faithful resume needs, written at each epoch end
RESUME_FORMAT = 1


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


FILE_MODE = 0o644 & ~_umask()
DIR_MODE = 0o755 & ~_umask()


@dataclass
class RunInfo:
    """One row of the run list. ``damaged`` says what is wrong with a broken folder; ``status``
    is ``interrupted`` for a run whose writer died; ``note`` explains an interrupted run."""

    id: str
    path: Path
    name: str = ""
    created: str = ""
    status: str = ""
    config: dict | None = None
    summary: dict | None = None
    damaged: str = ""
    checkpoint_epoch: int | None = None  # the epoch model.pt is from (None: no checkpoint)
    note: str = ""
    resumable: bool = False  # interrupted, with a resume state (``RunStore.resume``)

    def as_row(self) -> dict:
        cfg, s = self.config or {}, self.summary or {}
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "status": "damaged" if self.damaged else self.status,
            "model": cfg.get("model"),
            "data": s.get("data"),
            "epochs": cfg.get("epochs"),
            "lr": cfg.get("lr"),
            "batch": cfg.get("batch_size"),
            "optimizer": cfg.get("optimizer"),
            "seed": cfg.get("seed"),
            "precision": s.get("precision"),
            "val_acc": s.get("val_accuracy"),
            "test_acc": s.get("test_accuracy"),
            "seconds": s.get("seconds"),
            "problem": self.damaged or self.note,
        }


def event_row(event) -> dict:
    """The metrics.csv row of a Trainer ``Event`` (``METRIC_COLUMNS``; missing cells None)."""
    v = event.values
    row = {"step": event.step, "epoch": event.epoch, "kind": event.kind}
    row.update((k, v.get(k)) for k in ("loss", "accuracy", "lr", "seconds"))
    return row


def training_state(trainer, epoch: int) -> dict:
    """What resuming a run after ``epoch`` needs from its Trainer (called at that epoch's end,
    after its validation row): weights, optimizer state, the run's generator state, the step,
    the learning rate, the precision used, the seconds so far and the last validation figures.
    Only tensors, numbers and text: ``torch.load(..., weights_only=True)`` reads it back."""
    last_val = next((r for r in reversed(trainer.metrics) if r["kind"] == "val"), {})
    return {
        "format": RESUME_FORMAT,
        "epoch": int(epoch),
        "step": int(trainer.step),
        "lr": float(trainer.lr),
        "precision": str(trainer.precision),
        "seconds": float(last_val.get("seconds") or 0.0),
        "val_loss": last_val.get("loss"),
        "val_accuracy": last_val.get("accuracy"),
        "model": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "generator": trainer.generator.get_state(),
    }


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600 files: other local users could not read
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tensorboard(folder: Path, metrics: pd.DataFrame) -> None:
    """Write a run's metrics as TensorBoard event files into ``folder`` (the lesson's
    ``writer.add_scalar('Loss/Train', ...)``), so ``tensorboard --logdir runs`` shows every run."""
    from torch.utils.tensorboard import SummaryWriter

    tags = {
        "train": [("Loss/Train", "loss")],
        "val": [("Loss/Validation", "loss"), ("Accuracy/Validation", "accuracy")],
        "test": [("Loss/Test", "loss"), ("Accuracy/Test", "accuracy")],
    }
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for row in metrics.to_dict("records"):
            for tag, column in tags.get(row.get("kind"), []):
                value = row.get(column)
                if value is not None and value == value:  # skip missing (NaN) cells
                    writer.add_scalar(tag, float(value), int(row["step"]))
            if row.get("kind") in ("train", "lr") and row.get("lr") == row.get("lr"):
                writer.add_scalar("LearningRate", float(row["lr"]), int(row["step"]))
    finally:
        writer.close()


def _reason(exc: OSError) -> str:
    """An OSError as a few plain words ("permission denied", "read-only file system")."""
    return (exc.strerror or type(exc).__name__).lower()


def _unwritable(root: Path, why: str) -> UserError:
    return UserError(
        f"the run store {root}/ cannot be written ({why}); training was not started: use a "
        "folder you can write to (--runs, or $CNN_EXPLORER_RUNS for the app)"
    )


def _summary(result: TrainResult, data_source: str) -> dict:
    return {
        "status": result.status,
        "message": result.message,
        "data": data_source,
        "val_loss": result.val_loss,
        "val_accuracy": result.val_accuracy,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "images_per_s": round(result.images_per_s, 1),
        "seconds": round(result.seconds, 2),
        "precision": result.precision,
        "device": result.device,
    }


def _json_bytes(meta: dict) -> bytes:
    # NaN/inf (a diverged run's loss) are not JSON: write them as null so every reader copes.
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in meta["summary"].items()
    }
    return json.dumps({**meta, "summary": clean}, indent=2).encode()


class RunWriter:
    """Writes one run while it trains (made by ``RunStore.begin``; used from one thread).

    ``append(rows)`` adds metrics rows (dicts with ``METRIC_COLUMNS``) and flushes them;
    ``checkpoint(model, epoch)`` writes model.pt atomically; ``finish(result)`` writes the final
    metrics, weights, TensorBoard events and, last, the end status. ``close()`` without
    ``finish`` leaves the run ``running`` with its lock released: it lists as interrupted."""

    def __init__(self, folder: Path, meta: dict, lock_fd: int, metrics_file):
        self.folder, self.meta = folder, meta
        self._lock_fd: int | None = lock_fd
        self._metrics = metrics_file
        self._csv = csv.writer(metrics_file)

    @property
    def id(self) -> str:
        return self.meta["id"]

    def _write_meta(self) -> None:
        try:  # keep a rename made while the run was training
            on_disk = json.loads((self.folder / "config.json").read_bytes()[:MAX_CONFIG_BYTES])
            if isinstance(on_disk.get("name"), str):
                self.meta["name"] = on_disk["name"]
        except (OSError, ValueError, AttributeError):
            pass
        atomic_write_bytes(self.folder / "config.json", _json_bytes(self.meta))

    def append(self, rows: list[dict]) -> None:
        """Add metrics rows and flush them to the OS (they survive a kill of this process)."""
        if self._metrics is None or not rows:
            return
        for row in rows:
            self._csv.writerow(["" if row.get(c) is None else row.get(c) for c in METRIC_COLUMNS])
        self._metrics.flush()

    def checkpoint(self, model: nn.Module, epoch: int, state: dict | None = None) -> None:
        """Weights of the end of ``epoch`` as model.pt (atomic), and the rows so far on disk.
        ``state`` (``training_state(trainer, epoch)``): also resume.pt (atomic, written first),
        with how many bytes of metrics.csv belong to the epochs it resumes after."""
        metrics_bytes = None
        if self._metrics is not None:
            self._metrics.flush()
            os.fsync(self._metrics.fileno())
            metrics_bytes = os.fstat(self._metrics.fileno()).st_size
        if state is not None and metrics_bytes is not None:
            buf = io.BytesIO()
            torch.save({**state, "metrics_bytes": int(metrics_bytes)}, buf)
            atomic_write_bytes(self.folder / RESUME_FILE, buf.getvalue())
        atomic_write_bytes(self.folder / "model.pt", state_dict_bytes(model))
        self.meta["summary"]["checkpoint_epoch"] = int(epoch)
        self._write_meta()

    def finish(
        self, result: TrainResult, extra: dict | None = None, tensorboard: bool = False
    ) -> str:
        """Write the whole run and its end status (last); release the lock. Returns the id."""
        try:
            if self._metrics is not None:
                self._metrics.close()
                self._metrics = None
            if result.metrics is not None and len(result.metrics):
                table = result.metrics.reindex(columns=list(METRIC_COLUMNS))
                atomic_write_bytes(self.folder / "metrics.csv", table.to_csv(index=False).encode())
            if result.model is not None:
                atomic_write_bytes(self.folder / "model.pt", state_dict_bytes(result.model))
            if tensorboard and result.metrics is not None and len(result.metrics):
                write_tensorboard(self.folder, result.metrics)
            summary = _summary(result, self.meta["summary"].get("data", ""))
            summary.update(extra or {})
            self.meta["summary"] = summary
            self._write_meta()
            # an ended run is never resumed: its resume state (~3x the weights) goes
            (self.folder / RESUME_FILE).unlink(missing_ok=True)
        finally:
            self.close()
        return self.id

    def close(self) -> None:
        if self._metrics is not None:
            with contextlib.suppress(OSError):
                self._metrics.close()
            self._metrics = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Damaged(Exception):
    """A run folder is not what it should be; the message is the reason shown to users."""


def _open_file(path: Path, required: bool = True):
    """``path`` opened for reading, if it is a regular file (a FIFO or device would block or
    never end); None if absent and not ``required``. Problems raise _Damaged."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if required:
            raise _Damaged(f"{path.name} is missing") from None
        return None
    except OSError as exc:
        raise _Damaged(f"{path.name} cannot be read ({_reason(exc)})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "a special file"
        raise _Damaged(f"{path.name} is {what}, not a regular file")
    return os.fdopen(fd, "rb")


def _read_config(path: Path) -> dict:
    try:
        with _open_file(path) as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise _Damaged(f"config.json cannot be read ({_reason(exc)})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise _Damaged("config.json is over 1 MB, so it is not one this app wrote")
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _Damaged("config.json is unreadable (not valid JSON)") from None
    if not isinstance(meta, dict):
        raise _Damaged("config.json is unreadable (not a JSON object)")
    return meta


def _check_meta(meta: dict) -> tuple[str, str, dict, dict]:
    name, created = meta.get("name"), meta.get("created", "")
    config, summary = meta.get("config"), meta.get("summary", {})
    if not isinstance(name, str):
        raise _Damaged("config.json is unreadable (the name is not text)")
    if not isinstance(created, str) or not _CREATED.match(created):
        raise _Damaged("config.json is unreadable (created is not a date)")
    if not isinstance(config, dict):
        raise _Damaged("config.json is unreadable (no training settings)")
    if not isinstance(summary, dict):
        raise _Damaged("config.json is unreadable (the summary is not an object)")
    try:
        cfg = TrainConfig.from_dict(config)
        # a run trained on a GPU is fine to list on a machine without one
        replace(cfg, device="cpu" if cfg.device == "cuda" else cfg.device).validate()
    except UserError as exc:
        raise _Damaged(f"config.json has invalid training settings ({exc})") from None
    except (TypeError, ValueError, OverflowError):
        raise _Damaged("config.json has invalid training settings") from None
    status = summary.get("status", "")
    if status not in STATUSES:
        raise _Damaged("config.json is unreadable (unknown status)")
    for key in _NUMBERS:
        v = summary.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise _Damaged(f"config.json is unreadable ({key} is not a number)")
    for key in _TEXTS:
        if summary.get(key) is not None and not isinstance(summary.get(key), str):
            raise _Damaged(f"config.json is unreadable ({key} is not text)")
    epoch = summary.get("checkpoint_epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise _Damaged("config.json is unreadable (checkpoint_epoch is not a whole number)")
    return name, created, config, summary


def _check_file(path: Path, required: bool) -> bool:
    """True if ``path`` is a readable file; False if absent and not ``required``."""
    f = _open_file(path, required)
    if f is None:
        return False
    f.close()
    return True


def _check_metrics_header(path: Path) -> None:
    """metrics.csv must exist, be readable and start with its header line (a cheap check of the
    first bytes; ``RunStore.metrics`` checks the rest when the rows are read)."""
    with _open_file(path) as f:
        first = f.read(200).split(b"\n", 1)[0].strip().decode("utf-8", "replace").split(",")
    if not {"step", "kind", "loss"} <= set(first):
        raise _Damaged("metrics.csv is unreadable (no header of metrics columns)")


def _writer_alive(folder: Path) -> bool:
    """True while some process holds the run's lock (it is writing the run right now)."""
    try:
        fd = os.open(folder / ".lock", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell; do not call a run interrupted on a guess
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock taken above


def _no_run(run_id: str, root: Path) -> UserError:
    return UserError(
        f"there is no run {run_id} in this workspace ({root.name}); only a run of this "
        "workspace can be resumed"
    )


def _rows(data: bytes, run_id: str) -> list[dict]:
    """metrics.csv bytes as row dicts (``METRIC_COLUMNS``; empty cells None)."""
    try:
        table = pd.read_csv(io.BytesIO(data))
        table = table.reindex(columns=list(METRIC_COLUMNS))
        return [
            {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in table.astype(object).to_dict("records")
        ]
    except Exception:
        raise UserError(
            f"run {run_id}'s metrics.csv cannot be read (the file is damaged)"
        ) from None


def _read_resume_state(path: Path, run_id: str, config: TrainConfig) -> dict:
    """resume.pt, checked like an upload before ``torch.load(..., weights_only=True)`` reads it,
    then checked field by field against the run's model and optimizer."""
    source = f"run {run_id}'s {RESUME_FILE}"
    damaged = UserError(f"{source} is damaged, so the run cannot be resumed")
    try:
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise UserError(f"{source} is over the {MAX_UPLOAD_BYTES >> 20} MB limit")
        with _open_file(path) as f:
            data = f.read(MAX_UPLOAD_BYTES + 1)
    except (OSError, _Damaged) as exc:
        raise UserError(f"{source} cannot be read ({exc})") from None
    check_weights_file(data, source)  # size, stored entries, what it expands to, no objects
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        raise damaged from None
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise damaged
    ints = ("epoch", "step", "metrics_bytes")
    if not all(isinstance(state.get(k), int) and state[k] >= 0 for k in ints):
        raise damaged
    if not 1 <= state["epoch"] <= config.epochs or state["precision"] not in ("fp32", "bf16"):
        raise damaged
    if not isinstance(state.get("generator"), torch.Tensor) or not isinstance(
        state.get("optimizer"), dict
    ):
        raise damaged
    from cnncore.models import build_model  # the checks below load each part somewhere

    try:
        model = build_model(config.model)
        model.load_state_dict(state["model"])
        torch.Generator().set_state(state["generator"])
        if config.optimizer == "adam":
            torch.optim.Adam(model.parameters(), lr=config.lr).load_state_dict(state["optimizer"])
        else:
            torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9).load_state_dict(
                state["optimizer"]
            )
    except Exception:
        raise damaged from None
    return state


class RunStore:
    """Runs on disk under ``root`` (default ``./runs``)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def _dir(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _ID.match(run_id):
            raise UserError(f"{run_id!r} is not a run id")
        return self.root / run_id

    def new_id(self, model: str) -> str:
        """A fresh id like ``20261129-072632-convnet`` (``-2``, ``-3`` ... when taken)."""
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{model}"
        run_id, n = base, 1
        while os.path.lexists(self.root / run_id):
            n += 1
            run_id = f"{base}-{n}"
        return run_id

    # -- writing ---------------------------------------------------------------------------
    def _unwritable(self, why: str) -> UserError:
        return _unwritable(self.root, why)

    def check_writable(self) -> None:
        """Refuse (UserError) a store this process cannot write: makes and removes a folder in
        it. Folders the probe had to create are removed again (a refused command leaves none)."""
        if self.root.exists() and not self.root.is_dir():
            raise self._unwritable("it is a file, not a folder")
        missing, path = [], self.root.absolute()
        while not path.exists() and path != path.parent:
            missing.append(path)
            path = path.parent
        created = []
        try:
            for folder in reversed(missing):
                os.mkdir(folder)
                created.append(folder)
            os.rmdir(tempfile.mkdtemp(dir=self.root, prefix=".probe-"))
        except OSError as exc:
            raise self._unwritable(_reason(exc)) from None
        finally:
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)

    def begin(
        self,
        config: TrainConfig,
        data_source: str,
        name: str = "",
        extra: dict | None = None,
        run_id: str | None = None,
    ) -> RunWriter:
        """Create a run folder (status ``running``, empty metrics, locked) and return its writer.

        The folder is built as ``.new-*`` and renamed into place. Raises UserError when the store
        cannot be written; nothing is left behind then."""
        self.check_writable()
        created = time.strftime("%Y-%m-%d %H:%M:%S")
        summary = {"status": "running", "message": "training", "data": data_source}
        summary.update(extra or {})
        meta = {"id": "", "name": name, "created": created}
        meta.update(config=config.to_dict(), summary=summary)
        lock_fd, metrics_file, tmp = None, None, None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".new-"))
            os.chmod(tmp, DIR_MODE)
            lock_fd = os.open(tmp / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            metrics_file = open(tmp / "metrics.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
            os.chmod(tmp / "metrics.csv", FILE_MODE)
            csv.writer(metrics_file).writerow(METRIC_COLUMNS)
            metrics_file.flush()
            base = (
                run_id
                if run_id and _ID.match(run_id)
                else f"{time.strftime('%Y%m%d-%H%M%S')}-{config.model}"
            )
            for n in range(1, 10_000):
                candidate = base if n == 1 else f"{base}-{n}"
                if os.path.lexists(self.root / candidate):
                    continue
                meta["id"], meta["name"] = candidate, name or candidate
                atomic_write_bytes(tmp / "config.json", _json_bytes(meta))
                try:
                    os.rename(tmp, self.root / candidate)  # fails if another run took the id
                except OSError as exc:
                    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                        continue
                    raise
                return RunWriter(self.root / candidate, meta, lock_fd, metrics_file)
            raise OSError(errno.EEXIST, "no free run id")
        except OSError as exc:
            if metrics_file is not None:
                metrics_file.close()
            if lock_fd is not None:
                os.close(lock_fd)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise self._unwritable(_reason(exc)) from None

    def save(
        self,
        result: TrainResult,
        config: TrainConfig,
        data_source: str,
        run_id: str | None = None,
        name: str = "",
        extra: dict | None = None,
        tensorboard: bool = False,
    ) -> str:
        """Save a whole run at once (finished/stopped/diverged/imported); returns its id."""
        writer = self.begin(config, data_source, name, run_id=run_id)
        return writer.finish(result, extra, tensorboard)

    # -- reading ---------------------------------------------------------------------------
    def info(self, run_id: str) -> RunInfo:
        """What is known about a run; a damaged folder comes back with ``damaged`` set."""
        folder = self._dir(run_id)
        info = RunInfo(run_id, folder)
        try:
            meta = _read_config(folder / "config.json")
            meta_keys = set(meta)
            name, created, config, summary = _check_meta(meta)
            info.name, info.created, info.config, info.summary = (
                name or run_id,
                created,
                config,
                summary,
            )
            info.status = summary.get("status", "")
            has_model = _check_file(
                folder / "model.pt", required=info.status not in ("running", "failed")
            )
            _check_metrics_header(folder / "metrics.csv")
            if info.status == "running" and not _writer_alive(folder):
                info.status = "interrupted"
            if has_model:
                info.checkpoint_epoch = summary.get("checkpoint_epoch")
            if info.status == "interrupted":
                info.resumable = (
                    has_model
                    and "published" not in meta_keys
                    and _check_file(folder / RESUME_FILE, required=False)
                )
                info.note = "the process training it ended without saving (killed or crashed); " + (
                    f"curves and the weights of epoch {info.checkpoint_epoch} are kept"
                    if has_model
                    else "its curves are kept, no epoch had ended so there are no weights"
                )
                if info.resumable:
                    info.note += "; it can be resumed from there"
                elif has_model:
                    info.note += "; it has no resume state (an older version saved it)"
                info.summary = {**summary, "message": info.note}  # not "training" any more
        except _Damaged as exc:
            info.damaged = str(exc)
        except Exception as exc:  # never let one folder break a listing
            info.damaged = f"the run folder cannot be read ({type(exc).__name__})"
        return info

    def list(self) -> list[RunInfo]:
        """All runs, newest first; damaged folders included and marked. Never raises."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        runs = []
        for entry in entries:
            try:
                is_run = _ID.match(entry.name) is not None and entry.is_dir()
            except OSError:
                is_run = False
            if is_run:
                runs.append(self.info(entry.name))
        return sorted(runs, key=lambda r: (r.created, r.id), reverse=True)

    def table(self, runs: list[RunInfo] | None = None) -> pd.DataFrame:
        """One row per run (``runs``: an already-read ``list()``, to avoid reading it again)."""
        return pd.DataFrame([r.as_row() for r in (self.list() if runs is None else runs)])

    def _healthy(self, run_id: str) -> RunInfo:
        info = self.info(run_id)
        if info.damaged:
            raise UserError(f"run {run_id} is damaged: {info.damaged}")
        return info

    def metrics(self, run_id: str) -> pd.DataFrame:
        """The run's metrics.csv (for an interrupted run: the rows written before it ended)."""
        self._healthy(run_id)
        path = self._dir(run_id) / "metrics.csv"
        unreadable = UserError(
            f"run {run_id}: its metrics.csv cannot be read (the file is damaged)"
        )
        try:
            if path.stat().st_size > MAX_METRICS_BYTES:
                raise unreadable
            table = pd.read_csv(path)
        except UserError:
            raise
        except Exception:  # OSError, parser errors, bad encodings: all mean a damaged file
            raise unreadable from None
        if not {"step", "kind", "loss"} <= set(table.columns):
            raise unreadable
        table = table.dropna(subset=["step"])  # a line cut short when the process was killed
        try:
            for column in ("step", "epoch", "loss", "accuracy", "lr", "seconds"):
                if column in table.columns:
                    table[column] = pd.to_numeric(table[column])
        except (ValueError, TypeError):
            raise unreadable from None
        return table.reset_index(drop=True)

    def load_model(self, run_id: str) -> tuple[nn.Module, TrainConfig]:
        """The run's model (eval mode) with its saved weights (an interrupted run: its last
        checkpoint), and its TrainConfig."""
        info = self._healthy(run_id)
        config = TrainConfig.from_dict(info.config)
        path = self._dir(run_id) / "model.pt"
        try:
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise UserError(
                    f"run {run_id}'s model.pt is over the {MAX_UPLOAD_BYTES >> 20} MB limit"
                )
            data = path.read_bytes()
        except FileNotFoundError:
            why = "was interrupted before its first epoch ended"
            if info.status == "running":
                why = "is still in its first epoch"
            raise UserError(f"run {run_id} has no weights yet: it {why}") from None
        except OSError as exc:
            raise UserError(f"run {run_id}'s model.pt cannot be read ({_reason(exc)})") from None
        model = load_state_dict_bytes(data, config.model, f"run {run_id}'s model.pt")
        model.eval()
        return model, config

    # -- resuming --------------------------------------------------------------------------
    def load_resume(self, run_id: str, locked: bool = False) -> tuple[RunInfo, TrainConfig, dict]:
        """(info, config, state) of an interrupted run that can be resumed, read and checked
        without changing anything; UserError with one plain sentence otherwise. ``locked``: the
        caller holds the run's lock (then a run marked running is the interrupted one)."""
        folder = self._dir(run_id)
        if not folder.is_dir() or folder.is_symlink():
            raise _no_run(run_id, self.root)
        info = RunStore.info(self, run_id)  # this folder's, never a gallery run of that id
        if locked and info.status == "running":
            info = replace(info, status="interrupted")
            info.resumable = _check_file(folder / RESUME_FILE, required=False)
        if info.damaged:
            raise UserError(f"run {run_id} is damaged ({info.damaged}), so it cannot be resumed")
        if info.status == "running":
            raise UserError(f"run {run_id} is still training, so it cannot be resumed")
        if info.status != "interrupted":
            raise UserError(
                f"run {run_id} is {info.status}, not interrupted: only a run whose training was "
                "cut off (killed or crashed) can be resumed; start a new run instead"
            )
        if info.checkpoint_epoch is None and not info.resumable:
            raise UserError(
                f"run {run_id} cannot be resumed: it was interrupted before its first epoch "
                "ended, so nothing was saved to resume from; start it again instead"
            )
        if not info.resumable:
            raise UserError(
                f"run {run_id} cannot be resumed: it has no resume state (an older version of "
                "CNN Explorer saved it, or it is a gallery copy); its curves and weights are kept"
            )
        config = TrainConfig.from_dict(info.config)
        state = _read_resume_state(folder / RESUME_FILE, run_id, config)
        return info, replace(config, precision=state["precision"]), state

    def resume(self, run_id: str) -> tuple[RunWriter, TrainConfig, dict]:
        """Reopen an interrupted run in place for a ``Trainer(config, data, resume=state)``.

        Takes the run's lock (refused if a writer holds it: it is still training), checks it
        (``load_resume``), drops the metrics rows recorded after the checkpoint (the partly
        trained epoch that will be trained again: one atomic rewrite of metrics.csv), marks it
        running again and returns (writer, the run's config, state). ``state["metrics"]`` holds
        the rows that are kept, for the Trainer to continue."""
        folder = self._dir(run_id)
        if not folder.is_dir() or folder.is_symlink():
            raise _no_run(run_id, self.root)
        lock_fd = metrics_file = None
        try:
            try:
                lock_fd = os.open(
                    folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE
                )
            except FileNotFoundError:
                raise _no_run(run_id, self.root) from None
            except OSError as exc:
                raise self._unwritable(_reason(exc)) from None
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise UserError(
                    f"run {run_id} is still training (another process is writing it), so it "
                    "cannot be resumed now"
                ) from None
            info, config, state = self.load_resume(run_id, locked=True)
            try:
                meta = _read_config(folder / "config.json")
            except _Damaged as exc:
                raise UserError(
                    f"run {run_id} is damaged ({exc}), so it cannot be resumed"
                ) from None
            path = folder / "metrics.csv"
            try:
                with _open_file(path) as f:
                    kept = f.read(state["metrics_bytes"])
            except (OSError, _Damaged) as exc:
                raise UserError(f"run {run_id}'s metrics.csv cannot be read ({exc})") from None
            if len(kept) != state["metrics_bytes"] or not kept.endswith(b"\n"):
                raise UserError(
                    f"run {run_id}'s metrics.csv is shorter than at its last checkpoint, so it "
                    "cannot be resumed"
                )
            state["metrics"] = _rows(kept, run_id)
            atomic_write_bytes(path, kept)  # the partly trained epoch's rows go, all at once
            metrics_file = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
            summary = {
                **{
                    k: v
                    for k, v in meta.get("summary", {}).items()
                    if k in ("data", "checkpoint_epoch")
                },
                "status": "running",
                "message": f"training (resumed after epoch {state['epoch']})",
            }
            resumed = meta.get("resumed") if isinstance(meta.get("resumed"), list) else []
            meta.update(
                id=run_id,
                summary=summary,
                resumed=[
                    *resumed,
                    {"after_epoch": state["epoch"], "at": time.strftime("%Y-%m-%d %H:%M:%S")},
                ],
            )
            writer = RunWriter(folder, meta, lock_fd, metrics_file)
            writer._write_meta()
            return writer, config, state
        except OSError as exc:
            if metrics_file is not None:
                metrics_file.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise self._unwritable(_reason(exc)) from None
        except BaseException:
            if metrics_file is not None:
                metrics_file.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise

    # -- changing --------------------------------------------------------------------------
    def rename(self, run_id: str, name: str) -> None:
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > 80:
            raise UserError("a run name must have 1 to 80 characters")
        self._healthy(run_id)
        path = self._dir(run_id) / "config.json"
        try:
            meta = json.loads(path.read_bytes())
            meta["name"] = name
            atomic_write_bytes(path, json.dumps(meta, indent=2).encode())
        except OSError as exc:
            raise UserError(f"run {run_id} could not be renamed ({_reason(exc)})") from None

    def delete(self, run_id: str) -> None:
        """Delete a run (damaged ones too). A run still being written is refused. The folder is
        first renamed away, so no listing ever sees half of it."""
        folder = self._dir(run_id)
        if not folder.is_dir() or folder.is_symlink():
            raise UserError(f"no run {run_id}")
        if _writer_alive(folder) and self.info(run_id).status == "running":
            raise UserError(f"run {run_id} is still training; stop it first, then delete it")
        try:
            doomed = Path(tempfile.mkdtemp(dir=self.root, prefix=".deleted-"))
            os.rename(folder, doomed / run_id)
        except OSError as exc:
            raise UserError(f"run {run_id} could not be deleted ({_reason(exc)})") from None
        shutil.rmtree(doomed, ignore_errors=True)

    def export_zip(self, run_id: str, report_html: str | None = None) -> bytes:
        """One zip of a run: config.json, metrics.csv, model.pt, TensorBoard event files, and
        ``report.html`` when given (its figures)."""
        self._healthy(run_id)
        folder = self._dir(run_id)
        buf = io.BytesIO()
        try:
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(folder.iterdir()):
                    if path.is_file() and not path.name.startswith("."):
                        zf.write(path, f"{run_id}/{path.name}")
                if report_html is not None:
                    zf.writestr(f"{run_id}/report.html", report_html)
        except OSError as exc:
            raise UserError(f"run {run_id} could not be zipped ({_reason(exc)})") from None
        return buf.getvalue()

    def import_weights(
        self, data: bytes, model_name: str, name: str, data_source: str = "uploaded"
    ) -> str:
        """Save an uploaded state_dict as a new run (after the same checks as loading)."""
        model = load_state_dict_bytes(data, model_name, "the uploaded file")
        config = TrainConfig(model=model_name)
        empty = pd.DataFrame(columns=list(METRIC_COLUMNS))
        nothing = (None, None, None, None, 0.0, 0.0)
        result = TrainResult("imported", f"weights uploaded as {name}", model, empty, *nothing)
        return self.save(result, config, data_source, name=name)
