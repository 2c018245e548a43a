"""cnncore.data: IDX parsing (good and bad files), sources, splits, and the bounded download."""

import gzip
import http.server
import socket
import threading
import time
from functools import partial

import pytest
import torch

from cnncore.bench import write_idx
from cnncore.data import (
    download,
    load_bundled,
    load_data,
    read_idx,
    read_idx_folder,
    stratified_split,
    to_float,
)
from cnncore.errors import UserError


def fake_digits(n: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    return images, labels


def write_idx_folder(folder, n_train=60, n_test=20, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = fake_digits(n, seed=n)
        for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
            path = folder / f"{prefix}-{kind}-idx{dims}-ubyte"
            write_idx(path, array)
            if gz:
                path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
                path.unlink()
    return folder


# ------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    folder = write_idx_folder(tmp_path / "idx", gz=gz)
    split = read_idx_folder(folder, "train")
    images, labels = fake_digits(60, seed=60)
    assert split.images.shape == (60, 1, 28, 28) and split.images.dtype == torch.uint8
    assert torch.equal(split.images[:, 0], images) and torch.equal(split.labels, labels)


def test_idx_source_uses_official_test_files(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", n_train=120, n_test=30)
    data = load_data(f"idx:{folder}")
    assert (len(data.train), len(data.val), len(data.test)) == (100, 20, 30)
    assert data.source == f"idx:{folder}"


def test_real_mnist_test_file_parses():
    # The real t10k files are used by benchmarks; when present, check the parser on them.
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"
    if not folder.is_dir():
        pytest.skip("the shared MNIST test set is not on this machine")
    test = read_idx_folder(folder, "test")
    assert len(test) == 10_000
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(test.labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_missing_file_is_named(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    (folder / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="train-labels-idx1-ubyte.*missing"):
        load_data(f"idx:{folder}")


def test_truncated_file_is_named(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="train-images-idx3-ubyte: truncated"):
        load_data(f"idx:{folder}")


def test_truncated_gzip_is_named(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        load_data(f"idx:{folder}")


def test_wrong_magic_is_named(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    path = folder / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[2] = 0x0D  # float32 data type instead of uint8
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="train-images-idx3-ubyte: wrong magic number"):
        read_idx(path)


def test_mismatched_counts_are_refused(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    write_idx(folder / "train-labels-idx1-ubyte", torch.zeros(59, dtype=torch.uint8))
    with pytest.raises(UserError, match="60 images but .* 59 labels"):
        load_data(f"idx:{folder}")


def test_missing_folder_and_unknown_source():
    with pytest.raises(UserError, match="no such folder"):
        load_data("idx:/nonexistent/folder")
    with pytest.raises(UserError, match="valid sources: auto, bundled, mnist, fashion-mnist"):
        load_data("cifar")


# ---------------------------------------------------------------------------- bundled, splits


def test_bundled_is_real_mnist_sample():
    whole = load_bundled()
    assert whole.images.shape == (5000, 1, 28, 28) and whole.images.dtype == torch.uint8
    assert torch.bincount(whole.labels).tolist() == [500] * 10
    # Real digits: background zeros, ink up to 255, about 19% of pixels inked.
    ink = (whole.images > 0).float().mean().item()
    assert 0.12 < ink < 0.26 and int(whole.images.max()) == 255


def test_bundled_split_is_stratified_deterministic_and_disjoint(bundled):
    assert (len(bundled.train), len(bundled.val), len(bundled.test)) == (4000, 500, 500)
    for split, per_class in ((bundled.train, 400), (bundled.val, 50), (bundled.test, 50)):
        assert torch.bincount(split.labels).tolist() == [per_class] * 10
    again = load_data("bundled")
    assert torch.equal(again.val.images, bundled.val.images)
    flat = lambda s: {bytes(img.numpy()) for img in s.images}  # noqa: E731
    assert not (flat(bundled.train) & flat(bundled.test))
    assert not (flat(bundled.val) & flat(bundled.test))


def test_stratified_split_other_seed_differs_and_sizes_checked():
    labels = torch.arange(1000) % 10
    a = stratified_split(labels, (800, 200), seed=1)
    b = stratified_split(labels, (800, 200), seed=2)
    assert sorted(torch.cat(a).tolist()) == list(range(1000))
    assert not torch.equal(a[1].sort().values, b[1].sort().values)
    assert torch.bincount(labels[a[1]]).tolist() == [20] * 10
    with pytest.raises(ValueError):
        stratified_split(labels, (10, 10))


def test_to_float_matches_totensor_scale():
    from torchvision.transforms.functional import to_tensor

    img = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    assert torch.allclose(to_float(img[None, None])[0], to_tensor(img.numpy()))


# ------------------------------------------------------------------------------- downloads


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server serving MNIST-format .gz files, as torchvision's mirrors do."""
    served = write_idx_folder(tmp_path / "served", n_train=60, n_test=20, gz=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join()


def test_download_from_mirror_then_load_from_disk(tmp_path, mirror, monkeypatch):
    root = tmp_path / "MNIST-data"
    monkeypatch.setenv("CNN_EXPLORER_MIRROR", mirror)
    data = load_data("mnist", root, timeout=60)
    assert "downloaded" in data.reason
    assert (len(data.train), len(data.val), len(data.test)) == (50, 10, 20)
    images, _ = fake_digits(20, seed=20)
    assert torch.equal(data.test.images[:, 0], images)
    # Second time: found on disk, no download.
    monkeypatch.setenv("CNN_EXPLORER_MIRROR", "http://127.0.0.1:9/")
    again = load_data("auto", root)
    assert again.source == "mnist" and "found" in again.reason


def test_unreachable_mirror_fails_fast_with_reason(tmp_path):
    # A server that accepts connections and never answers: the mirror check gives up.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        started = time.monotonic()
        with pytest.raises(UserError, match="no mirror reachable"):
            download(
                "mnist",
                tmp_path,
                mirror=f"http://127.0.0.1:{listener.getsockname()[1]}/",
                connect_timeout=2,
            )
        assert time.monotonic() - started < 30  # bounded, not a hang
    finally:
        listener.close()


class _Stalls(_Quiet):
    """Answers the reachability check, then never finishes sending a file."""

    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        time.sleep(60)


def test_stalled_download_is_killed_at_the_deadline(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stalls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(UserError, match="timed out after 4 s|timed out"):
            download(
                "mnist",
                tmp_path,
                timeout=4,
                connect_timeout=30,
                mirror=f"http://127.0.0.1:{server.server_port}/",
            )
    finally:
        server.shutdown()


def test_auto_falls_back_to_bundled_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_MIRROR", "http://127.0.0.1:9/")  # nothing listens there
    data = load_data("auto", tmp_path / "MNIST-data")
    assert data.source == "bundled"
    assert "no mirror reachable" in data.reason and "bundled" in data.reason
    offline = load_data("auto", tmp_path / "MNIST-data", allow_download=False)
    assert offline.source == "bundled" and "downloads off" in offline.reason


def test_idx_folder_named_fashion_gets_fashion_class_names(tmp_path):
    folder = write_idx_folder(tmp_path / "fashion-mnist", n_train=120, n_test=30)
    assert load_data(f"idx:{folder}").classes[0] == "T-shirt/top"
    assert load_data(f"idx:{write_idx_folder(tmp_path / 'digits')}").classes[0] == "0"
