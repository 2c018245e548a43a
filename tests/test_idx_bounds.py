"""IDX files are bounded by their header before the payload is read: a gzip bomb, absurd
counts and sizes are refused with a message naming the file, and memory grows < 100 MB."""

import gzip
import struct
import zlib

import pytest

from cnncore.data import MAX_IDX_ITEMS, read_idx
from cnncore.errors import UserError
from tests.peak_memory import peak_growth_mb

MAX_GROWTH_MB = 100


def header(n: int, *dims: int) -> bytes:
    magic = 2051 if dims else 2049
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in (n, *dims))


def refused(path) -> str:
    growth, outcome = peak_growth_mb(lambda: read_idx(path))
    assert isinstance(outcome, UserError), f"not refused: {outcome!r}"
    assert growth < MAX_GROWTH_MB, f"memory grew {growth:.0f} MB: {outcome}"
    message = str(outcome)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def gzip_member(data: bytes, level: int = 1) -> bytes:
    return gzip.compress(data, compresslevel=level)


def test_gzip_bomb_of_3_gb_behind_a_10_image_header(tmp_path):
    # Concatenated gzip members form one valid gzip stream: 10 images, then 3 GB of zeros.
    zeros = gzip_member(bytes(64 << 20), level=9)  # 64 MB of zeros in ~64 KB
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with open(path, "wb") as f:
        f.write(gzip_member(header(10, 28, 28) + bytes(10 * 784)))
        for _ in range(3 * 16):
            f.write(zeros)
    assert path.stat().st_size < 8 << 20
    assert "padded: more data than the header's [10, 28, 28]" in refused(path)


def test_single_stream_gzip_bomb(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)  # one gzip member, written in pieces
    with open(path, "wb") as f:
        f.write(squeeze.compress(header(10, 28, 28) + bytes(10 * 784)))
        block = bytes(16 << 20)
        for _ in range(16):  # 256 MB of zeros
            f.write(squeeze.compress(block))
        f.write(squeeze.flush())
    assert "padded" in refused(path)


@pytest.mark.parametrize("gz", [False, True])
def test_counts_beyond_the_bound_are_refused_from_the_header(tmp_path, gz):
    path = tmp_path / ("x-idx3-ubyte" + (".gz" if gz else ""))
    data = header(MAX_IDX_ITEMS + 1, 28, 28) + bytes(784)
    path.write_bytes(gzip_member(data) if gz else data)
    assert "the header says 1,000,001 items; at most 1,000,000 are allowed" in refused(path)


@pytest.mark.parametrize("gz", [False, True])
def test_image_size_other_than_28_by_28_is_refused(tmp_path, gz):
    path = tmp_path / ("x-idx3-ubyte" + (".gz" if gz else ""))
    data = header(5, 30000, 30000) + bytes(100)
    path.write_bytes(gzip_member(data) if gz else data)
    assert "expected N x 28 x 28 images, the header says [5, 30000, 30000]" in refused(path)


def test_header_promising_more_than_the_file_holds(tmp_path):
    plain = tmp_path / "train-images-idx3-ubyte"
    plain.write_bytes(header(MAX_IDX_ITEMS, 28, 28) + bytes(784))
    assert "truncated or padded: header says [1000000, 28, 28]" in refused(plain)
    packed = tmp_path / "train-labels-idx1-ubyte.gz"
    packed.write_bytes(gzip_member(header(MAX_IDX_ITEMS) + bytes(10)))
    assert "truncated data" in refused(packed) and "found 10;" in refused(packed)


def test_not_gzip_and_empty_files(tmp_path):
    fake = tmp_path / "train-images-idx3-ubyte.gz"
    fake.write_bytes(b"this is not gzip at all")
    assert "cannot read it" in refused(fake)
    empty = tmp_path / "train-labels-idx1-ubyte"
    empty.write_bytes(b"")
    assert "too short to be an IDX file (0 bytes)" in refused(empty)


def test_labels_read_back_exactly(tmp_path):
    path = tmp_path / "l-idx1-ubyte.gz"
    path.write_bytes(gzip_member(header(4) + bytes([3, 1, 4, 1])))
    assert read_idx(path).tolist() == [3, 1, 4, 1]
