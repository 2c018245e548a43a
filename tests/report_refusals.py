"""Prints every upload/IDX refusal with the peak memory growth of the call (a command, not a
test): python tests/report_refusals.py"""

import gzip
import io
import os
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnncore.data import read_idx  # noqa: E402
from cnncore.models import build_model  # noqa: E402
from cnncore.weights import load_state_dict_bytes  # noqa: E402
from tests.peak_memory import peak_growth_mb  # noqa: E402


def saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Payload:
    def __reduce__(self):
        return (os.mkdir, ("/tmp/cnn-explorer-pwned",))


def bomb(n_floats: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.pt"
        torch.save({"conv_layers.0.weight": torch.zeros(n_floats)}, path)
        out = io.BytesIO()
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                with src.open(info) as fin, dst.open(info.filename, "w", force_zip64=True) as fout:
                    while chunk := fin.read(1 << 22):
                        fout.write(chunk)
    return out.getvalue()


def main() -> None:
    state = build_model("convnet").state_dict()
    wrong = {**state, "conv_layers.0.weight": torch.zeros(8, 1, 5, 5)}
    zip_buf = io.BytesIO()
    with zipfile.ZipFile(zip_buf, "w") as zf:
        zf.writestr("notes.txt", "hi")
    uploads = {
        "malicious pickle": saved({"w": Payload()}),
        "compressed-tensor bomb (1 GiB)": bomb(2**28),
        "0-byte file": b"",
        "zip, not torch": zip_buf.getvalue(),
        "wrong shapes": saved(wrong),
        "whole pickled model": saved(build_model("convnet")),
        "over the cap (51 MB)": b"0" * (51 << 20),
    }
    for label, data in uploads.items():
        grew, outcome = peak_growth_mb(
            lambda d=data: load_state_dict_bytes(d, "convnet", "the file")
        )
        print(f"{label:32s} {len(data) / 2**20:8.2f} MB file  peak +{grew:6.1f} MB  {outcome}")
    print(f"malicious pickle ran: {os.path.exists('/tmp/cnn-explorer-pwned')}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train-images-idx3-ubyte.gz"
        zeros = gzip.compress(bytes(64 << 20), 9)
        with open(path, "wb") as f:
            head = struct.pack(">IIII", 2051, 10, 28, 28)
            f.write(gzip.compress(head + bytes(7840), 1))
            for _ in range(48):
                f.write(zeros)
        grew, outcome = peak_growth_mb(lambda: read_idx(path))
        size = path.stat().st_size / 2**20
        print(
            f"{'IDX gzip bomb (10 images + 3 GB)':32s} {size:8.2f} MB file  peak +{grew:6.1f} MB  {outcome}"
        )


if __name__ == "__main__":
    main()
