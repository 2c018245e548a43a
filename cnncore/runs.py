"""The run store: ``runs/<id>/{config.json, metrics.csv, model.pt}`` on disk.

Every file is written atomically (a temp file in the same folder, then ``os.replace``), so a crash
mid-write never leaves a half file. Weights are a ``state_dict`` loaded with
``torch.load(..., weights_only=True)`` and ``load_state_dict(strict=True)``. A damaged run folder is
listed as damaged; it never breaks a listing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from cnncore.errors import UserError
from cnncore.models import build_model
from cnncore.train import TrainConfig, TrainResult

DEFAULT_ROOT = "runs"
MAX_UPLOAD_BYTES = (
    50 * 1024 * 1024
)  # a ConvNet state_dict is ~0.6 MB; nothing legitimate is near this
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


@dataclass
class RunInfo:
    """One row of the run list. ``damaged`` says what is wrong with a broken folder."""

    id: str
    path: Path
    name: str = ""
    created: str = ""
    status: str = ""
    config: dict | None = None
    summary: dict | None = None
    damaged: str = ""

    def as_row(self) -> dict:
        cfg, s = self.config or {}, self.summary or {}
        return {
            "id": self.id, "name": self.name, "created": self.created,
            "status": self.damaged and "damaged" or self.status, "model": cfg.get("model"),
            "data": s.get("data"), "epochs": cfg.get("epochs"), "lr": cfg.get("lr"),
            "batch": cfg.get("batch_size"), "optimizer": cfg.get("optimizer"),
            "seed": cfg.get("seed"), "precision": s.get("precision"),
            "val_acc": s.get("val_accuracy"), "test_acc": s.get("test_accuracy"),
            "seconds": s.get("seconds"), "problem": self.damaged,
        }  # fmt: skip


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def state_dict_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def load_state_dict_bytes(data: bytes, model_name: str, source: str = "the file") -> nn.Module:
    """A fresh ``model_name`` with weights from ``data`` (a saved state_dict). Anything else —
    too large, not a state dict, pickled code, the wrong model's shapes — raises UserError and
    builds nothing."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UserError(f"{source} is {len(data) / 1e6:.1f} MB; the limit is "
                        f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB for a weights file")  # fmt: skip
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses code; torch raises several types here
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{source} is not a PyTorch weights file that can be loaded safely "
                        f"({first})") from None  # fmt: skip
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{source} does not hold a state_dict (a dict of tensors)")
    model = build_model(model_name)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise UserError(f"{source} does not fit the {model_name} model: {detail}") from None
    return model


def write_tensorboard(folder: Path, metrics: pd.DataFrame) -> None:
    """Write a run's metrics as TensorBoard event files into ``folder`` (the lesson's
    ``writer.add_scalar('Loss/Train', ...)``), so ``tensorboard --logdir runs`` shows every run."""
    from torch.utils.tensorboard import SummaryWriter

    tags = {"train": [("Loss/Train", "loss")], "val": [("Loss/Validation", "loss"),
            ("Accuracy/Validation", "accuracy")], "test": [("Loss/Test", "loss"),
            ("Accuracy/Test", "accuracy")]}  # fmt: skip
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


class RunStore:
    """Runs on disk under ``root`` (default ``./runs``)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def _dir(self, run_id: str) -> Path:
        if not _ID.match(run_id or ""):
            raise UserError(f"{run_id!r} is not a run id")
        return self.root / run_id

    def new_id(self, model: str) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{model}"
        run_id, n = base, 1
        while (self.root / run_id).exists():
            n += 1
            run_id = f"{base}-{n}"
        return run_id

    def save(
        self, result: TrainResult, config: TrainConfig, data_source: str, run_id: str | None = None,
        name: str = "", extra: dict | None = None, tensorboard: bool = False,
    ) -> str:  # fmt: skip
        """Save a finished/stopped/diverged run; returns its id. Weights go last, so a folder
        with config.json but no model.pt is a run whose save was interrupted (listed damaged)."""
        run_id = run_id or self.new_id(config.model)
        folder = self._dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        summary = {
            "status": result.status, "message": result.message, "data": data_source,
            "val_loss": result.val_loss, "val_accuracy": result.val_accuracy,
            "test_loss": result.test_loss, "test_accuracy": result.test_accuracy,
            "images_per_s": round(result.images_per_s, 1), "seconds": round(result.seconds, 2),
            "precision": result.precision, "device": result.device,
        }  # fmt: skip
        summary.update(extra or {})
        meta = {
            "id": run_id, "name": name or run_id, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "config": config.to_dict(), "summary": summary,
        }  # fmt: skip
        atomic_write_bytes(folder / "metrics.csv", result.metrics.to_csv(index=False).encode())
        atomic_write_bytes(folder / "config.json", json.dumps(meta, indent=2).encode())
        atomic_write_bytes(folder / "model.pt", state_dict_bytes(result.model))
        if tensorboard:
            write_tensorboard(folder, result.metrics)
        return run_id

    def info(self, run_id: str) -> RunInfo:
        folder = self._dir(run_id)
        info = RunInfo(run_id, folder)
        try:
            meta = json.loads((folder / "config.json").read_text())
            info.name, info.created = meta.get("name", run_id), meta.get("created", "")
            info.config, info.summary = meta["config"], meta.get("summary", {})
            info.status = info.summary.get("status", "")
            TrainConfig.from_dict(info.config)
        except FileNotFoundError:
            info.damaged = "config.json is missing"
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            info.damaged = f"config.json is unreadable ({type(exc).__name__})"
        else:
            for required in ("metrics.csv", "model.pt"):
                if not (folder / required).is_file():
                    info.damaged = f"{required} is missing"
        return info

    def list(self) -> list[RunInfo]:
        """All runs, newest first; damaged folders included and marked."""
        if not self.root.is_dir():
            return []
        runs = [self.info(p.name) for p in self.root.iterdir() if p.is_dir() and _ID.match(p.name)]
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
        self._healthy(run_id)
        try:
            return pd.read_csv(self._dir(run_id) / "metrics.csv")
        except (ValueError, pd.errors.ParserError) as exc:
            raise UserError(f"run {run_id}: metrics.csv is unreadable ({exc})") from None

    def load_model(self, run_id: str) -> tuple[nn.Module, TrainConfig]:
        info = self._healthy(run_id)
        config = TrainConfig.from_dict(info.config)
        data = (self._dir(run_id) / "model.pt").read_bytes()
        model = load_state_dict_bytes(data, config.model, f"run {run_id}'s model.pt")
        model.eval()
        return model, config

    def rename(self, run_id: str, name: str) -> None:
        name = name.strip()
        if not name or len(name) > 80:
            raise UserError("a run name must have 1 to 80 characters")
        self._healthy(run_id)
        path = self._dir(run_id) / "config.json"
        meta = json.loads(path.read_text())
        meta["name"] = name
        atomic_write_bytes(path, json.dumps(meta, indent=2).encode())

    def delete(self, run_id: str) -> None:
        folder = self._dir(run_id)
        if not folder.is_dir():
            raise UserError(f"no run {run_id}")
        shutil.rmtree(folder)

    def export_zip(self, run_id: str, report_html: str | None = None) -> bytes:
        """One zip of a run: config.json, metrics.csv, model.pt, TensorBoard event files, and
        ``report.html`` when given (its figures)."""
        import zipfile

        self._healthy(run_id)
        folder = self._dir(run_id)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    zf.write(path, f"{run_id}/{path.name}")
            if report_html is not None:
                zf.writestr(f"{run_id}/report.html", report_html)
        return buf.getvalue()

    def import_weights(
        self, data: bytes, model_name: str, name: str, data_source: str = "uploaded"
    ) -> str:
        """Save an uploaded state_dict as a new run (after the same checks as loading)."""
        model = load_state_dict_bytes(data, model_name, "the uploaded file")
        config = TrainConfig(model=model_name)
        result = TrainResult("imported", f"weights uploaded as {name}", model,
                             pd.DataFrame(columns=["step", "epoch", "kind", "loss", "accuracy", "lr", "seconds"]),
                             None, None, None, None, 0.0, 0.0)  # fmt: skip
        return self.save(result, config, data_source, name=name)
