"""Workspaces: each visitor's own run folders, and a read-only class gallery everybody sees.

On disk, under the runs root (default ``./runs``)::

    runs/ws/local/<run id>/      the CLI's workspace, and a laptop visitor's (personal mode)
    runs/ws/<folder>/<run id>/   a visitor's workspace; <folder> is a hash of their secret code
    runs/gallery/<run id>/       the class gallery: runs get there by ``publish`` (or a teacher
                                 copying run folders in); the app never changes or deletes them

A workspace *code* (``new_code()``, e.g. ``7KQM-2XPA-9FHT-C3DW``, 80 random bits) is the secret
that opens a workspace; the folder name is a hash of it, so a folder listing never reveals a code.
The app keeps the code in a browser cookie, never in a URL.

``WorkspaceStore`` is an ordinary ``RunStore`` on the workspace folder whose reads (``info``,
``metrics``, ``load_model``, ``export_zip``) also find gallery runs by id, so a page can open any
run a picker offered; its writes touch only the workspace and respect its run and disk limits.
``GalleryStore`` refuses every write with a plain sentence.

Runs saved before workspaces existed (``runs/<id>/``) move into ``runs/ws/local/`` once
(``Workspaces.migrate()``: idempotent, and safe when two processes start at the same time).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from cnncore.errors import UserError
from cnncore.runs import DEFAULT_ROOT, RunInfo, RunStore, atomic_write_bytes

LOCAL = "local"  # the CLI's workspace (and a personal-mode visitor's default)
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, no 0/O or 1/I look-alikes
CODE_LENGTH = 16  # 16 x 5 = 80 random bits
GALLERY_PREFIX = "gallery-"
_FOLDER = re.compile(r"^(local|w[0-9a-f]{24})$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
GALLERY_READ_ONLY = (
    "the class gallery is read-only: runs get there only by publishing, and only the teacher "
    "removes them (from the server's runs/gallery folder)"
)
UNPUBLISHABLE = ("running", "interrupted")


def new_code() -> str:
    """A fresh random workspace code, e.g. ``7KQM-2XPA-9FHT-C3DW``."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(chars[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(text: str, allow_local: bool = False) -> str:
    """A code as typed (any case, spaces or dashes) -> its canonical form; UserError if invalid.
    ``local`` is accepted only with ``allow_local`` (a one-person laptop server)."""
    raw = re.sub(r"[\s-]", "", str(text or "")).upper()
    if allow_local and raw == LOCAL.upper():
        return LOCAL
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        raise UserError(
            "that is not a workspace code: a code has 16 letters and digits, like "
            "7KQM-2XPA-9FHT-C3DW (copy it from the sidebar of the browser that has the workspace)"
        )
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def folder_for(code: str) -> str:
    """The workspace folder name for a (canonical) code: ``local``, or ``w`` + 24 hex digits of
    a SHA-256 of the code."""
    if code == LOCAL:
        return LOCAL
    digest = hashlib.sha256(f"cnn-explorer-workspace:{code}".encode()).hexdigest()
    return "w" + digest[:24]


def _check_folder(ws: str) -> str:
    if not _FOLDER.match(ws or ""):
        raise UserError(f"{ws!r} is not a workspace")
    return ws


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if it does not exist; unreadable parts skipped)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path, onerror=lambda e: None):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


class GalleryStore(RunStore):
    """The class gallery: a RunStore every write of which is refused."""

    def _refuse(self, *args, **kwargs):
        raise UserError(GALLERY_READ_ONLY)

    save = rename = delete = import_weights = begin = resume = _refuse


class WorkspaceStore(RunStore):
    """One workspace's runs. Reads of an id the workspace does not hold fall through to the
    gallery; writes stay in the workspace, within ``max_runs`` and ``max_bytes``."""

    def __init__(
        self,
        root,
        gallery: GalleryStore | None = None,
        workspace: str = LOCAL,
        max_runs: int | None = None,
        max_bytes: int | None = None,
    ):
        super().__init__(root)
        self.gallery = gallery
        self.workspace = workspace
        self.max_runs, self.max_bytes = max_runs, max_bytes

    def _unwritable(self, why: str) -> UserError:
        """Name the workspace folder and the runs folder the user gave (``--runs``)."""
        return UserError(
            f"the run store {self.root}/ (workspace {self.workspace} of the runs folder "
            f"{self.root.parent.parent}/) cannot be written ({why}); training was not started: "
            "use a folder you can write to (--runs, or $CNN_EXPLORER_RUNS for the app)"
        )

    # -- where an id lives -----------------------------------------------------------------
    def owns(self, run_id: str) -> bool:
        return bool(_RUN_ID.match(run_id or "")) and (self.root / run_id).is_dir()

    def _in_gallery(self, run_id: str) -> bool:
        return (
            self.gallery is not None
            and not self.owns(run_id)
            and bool(_RUN_ID.match(run_id or ""))
            and (self.gallery.root / run_id).is_dir()
        )

    def info(self, run_id: str) -> RunInfo:
        return self.gallery.info(run_id) if self._in_gallery(run_id) else super().info(run_id)

    def metrics(self, run_id: str):
        if self._in_gallery(run_id):
            return self.gallery.metrics(run_id)
        return super().metrics(run_id)

    def load_model(self, run_id: str):
        if self._in_gallery(run_id):
            return self.gallery.load_model(run_id)
        return super().load_model(run_id)

    def export_zip(self, run_id: str, *args, **kwargs) -> bytes:
        if self._in_gallery(run_id):
            return self.gallery.export_zip(run_id, *args, **kwargs)
        return super().export_zip(run_id, *args, **kwargs)

    # -- writes: this workspace only -------------------------------------------------------
    def rename(self, run_id: str, name: str) -> None:
        if self._in_gallery(run_id):
            raise UserError(GALLERY_READ_ONLY)
        super().rename(run_id, name)

    def delete(self, run_id: str) -> None:
        if self._in_gallery(run_id):
            raise UserError(GALLERY_READ_ONLY)
        super().delete(run_id)

    def import_weights(self, *args, **kwargs) -> str:
        self.check_room()
        return super().import_weights(*args, **kwargs)

    # -- limits ----------------------------------------------------------------------------
    def usage(self) -> tuple[int, int]:
        """(run folders, bytes) in this workspace."""
        if not self.root.is_dir():
            return 0, 0
        with contextlib.suppress(OSError):
            runs = sum(1 for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
            return runs, folder_bytes(self.root)
        return 0, 0

    def check_room(self) -> None:
        """Refuse (UserError) when the workspace is at its run count or disk limit."""
        if self.max_runs is None and self.max_bytes is None:
            return
        runs, used = self.usage()
        if self.max_runs is not None and runs >= self.max_runs:
            raise UserError(
                f"your workspace holds {runs} runs, this server's limit; delete one "
                "(Live training page, 'Rename, delete or download a run') before saving another"
            )
        if self.max_bytes is not None and used >= self.max_bytes:
            raise UserError(
                f"your workspace uses {used / 1e6:.0f} MB of disk, this server's limit is "
                f"{self.max_bytes / 1e6:.0f} MB; delete a run before saving another"
            )


class Workspaces:
    """Every workspace and the gallery under one runs root."""

    def __init__(
        self,
        root: str | Path = DEFAULT_ROOT,
        max_runs: int | None = None,
        max_bytes: int | None = None,
    ):
        self.root = Path(root)
        self.max_runs, self.max_bytes = max_runs, max_bytes

    def path(self, ws: str) -> Path:
        return self.root / "ws" / _check_folder(ws)

    def gallery(self) -> GalleryStore:
        return GalleryStore(self.root / "gallery")

    def store(self, ws: str) -> WorkspaceStore:
        """The RunStore of workspace folder ``ws`` (``local`` or ``folder_for(code)``)."""
        return WorkspaceStore(self.path(ws), self.gallery(), ws, self.max_runs, self.max_bytes)

    def store_for_code(self, code: str, allow_local: bool = False) -> WorkspaceStore:
        return self.store(folder_for(normalize_code(code, allow_local)))

    # -- publishing ------------------------------------------------------------------------
    def publish(self, ws: str, run_id: str, by: str = "") -> str:
        """Copy a run of workspace ``ws`` into the gallery (a new id starting ``gallery-``), with
        who published it (``by``: free text, kept as text) and when; returns the gallery id."""
        store = self.store(ws)
        if not store.owns(run_id):
            raise UserError(f"run {run_id} is not in your workspace, so you cannot publish it")
        info = RunStore.info(store, run_id)
        if info.damaged:
            raise UserError(f"run {run_id} is damaged ({info.damaged}) and cannot be published")
        if info.status in UNPUBLISHABLE:
            raise UserError(
                f"run {run_id} is {info.status}; publish it once it has finished or stopped"
            )
        by = " ".join(str(by or "").split())[:60]
        gallery_root = self.root / "gallery"
        gallery_root.mkdir(parents=True, exist_ok=True)
        tmp = gallery_root / f".publish-{secrets.token_hex(6)}"
        try:
            shutil.copytree(info.path, tmp, ignore=shutil.ignore_patterns(".*"))
            meta_path = tmp / "config.json"
            meta = json.loads(meta_path.read_text())
            meta["published"] = {
                "by": by,
                "from_workspace": ws,
                "original_id": run_id,
                "at": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            base = (GALLERY_PREFIX + run_id)[:81]
            for n in range(1, 1000):
                gallery_id = base if n == 1 else f"{base[:76]}-{n}"
                meta["id"] = gallery_id
                atomic_write_bytes(meta_path, json.dumps(meta, indent=2).encode())
                try:
                    os.rename(tmp, gallery_root / gallery_id)  # fails if the id is taken
                    return gallery_id
                except OSError:
                    continue
            raise UserError("the gallery has too many copies of this run already")
        except OSError as exc:
            raise UserError(
                f"the run could not be copied to the gallery ({exc.strerror})"
            ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- migration -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Move legacy run folders ``<root>/<id>/`` into ``<root>/ws/local/``; returns the ids
        moved. A second call (or another process doing the same at once) moves nothing twice:
        the move holds a lock file, and each folder moves with one atomic rename."""
        if not self.root.is_dir():
            return []
        moved: list[str] = []
        try:
            lock_file = open(self.root / ".migrate.lock", "a")  # noqa: SIM115
        except OSError:
            return []  # a read-only runs folder: nothing can move; the store reports it
        with lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            local = self.path(LOCAL)
            try:
                candidates = sorted(self.root.iterdir())
            except OSError:
                return []
            for src in candidates:
                if src.name in ("ws", "gallery") or not _RUN_ID.match(src.name):
                    continue
                if not src.is_dir() or _being_written(src):
                    continue
                local.mkdir(parents=True, exist_ok=True)
                dest, n = local / src.name, 1
                while dest.exists():
                    n += 1
                    dest = local / f"{src.name}-{n}"
                try:
                    os.rename(src, dest)
                    moved.append(dest.name)
                except FileNotFoundError:  # moved meanwhile by a process without the lock
                    continue
                except OSError:
                    continue  # left where it is; listed nowhere, but never lost
        return moved


def _being_written(folder: Path) -> bool:
    """True if a writer holds ``<folder>/.lock`` (a run still training from the CLI)."""
    lock = folder / ".lock"
    if not lock.exists():
        return False
    try:
        with open(lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
