"""Weights uploads: every bad file is refused with one plain sentence, before anything expands,
and loading one grows memory by less than 100 MB. Also the run-id and import paths around it."""

import io
import os
import pickle
import zipfile

import pytest
import torch

from cnncore.errors import UserError
from cnncore.models import build_model
from cnncore.runs import RunStore
from cnncore.weights import MAX_UPLOAD_BYTES, load_state_dict_bytes, max_expanded_bytes
from tests.peak_memory import peak_growth_mb

MAX_GROWTH_MB = 100


def saved(obj, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def convnet_state() -> dict:
    return build_model("convnet").state_dict()


def refused(data: bytes, model: str = "convnet") -> str:
    """The refusal message for ``data``, checking it is one plain sentence and that loading
    grew memory by less than MAX_GROWTH_MB."""
    growth, outcome = peak_growth_mb(lambda: load_state_dict_bytes(data, model, "the file"))
    assert isinstance(outcome, UserError), f"not refused: {outcome!r}"
    message = str(outcome)
    assert growth < MAX_GROWTH_MB, f"memory grew {growth:.0f} MB for: {message}"
    assert "\n" not in message and "\x1b" not in message and len(message) < 250
    assert "weights_only" not in message and "Traceback" not in message
    assert message.startswith("the file ")
    return message


class Payload:
    """Pickles to a call of os.mkdir: loading it must never run it."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    data = saved({"w": Payload(marker)})
    assert "not a state dict" in refused(data)
    assert not marker.exists()
    # The payload is live: plain unpickling of the same archive's data.pkl would run it.
    live = tmp_path / "live"
    with zipfile.ZipFile(io.BytesIO(saved({"w": Payload(live)}))) as zf:
        pickle.loads(zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl"))))
    assert live.is_dir()


@pytest.fixture(scope="module")
def tensor_bomb(tmp_path_factory) -> bytes:
    """A real torch.save archive of a 168 MB zero tensor, its entries re-stored deflated:
    ~170 KB on disk. torch.load would decompress all of it."""
    path = tmp_path_factory.mktemp("bomb") / "big.pt"
    torch.save({"conv_layers.0.weight": torch.zeros(42 * 2**20)}, path)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(path) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        for info in src.infolist():
            with src.open(info) as fin, dst.open(info.filename, "w", force_zip64=True) as fout:
                while chunk := fin.read(1 << 22):
                    fout.write(chunk)
    path.unlink()
    return out.getvalue()


def test_compressed_tensor_bomb_is_refused_before_it_expands(tensor_bomb):
    assert len(tensor_bomb) < 2**20
    with zipfile.ZipFile(io.BytesIO(tensor_bomb)) as zf:
        assert sum(i.file_size for i in zf.infolist()) > 160 * 2**20
    assert "compressed entries, which torch.save never writes" in refused(tensor_bomb)


def test_stored_archive_bigger_than_any_model_is_refused():
    big = {"conv_layers.0.weight": torch.zeros(max_expanded_bytes() // 4 + 1)}
    message = refused(saved(big))
    assert "of data, over the" in message and "limit for weights" in message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: b"", "the file is empty (0 bytes): not a PyTorch weights file"),
        (lambda: b"hello world", "not a PyTorch weights file"),
        (lambda: os.urandom(4096), "not a PyTorch weights file"),
        (lambda: zip_with({"notes.txt": b"hi"}), "not a PyTorch weights file"),
        (
            lambda: zip_with({"a/data.pkl": b"\x80\x02}q\x00.", "b/data/0": b"x"}),
            "not a PyTorch weights file",
        ),
        (lambda: saved(convnet_state())[:-100], "not a PyTorch weights file"),
        (
            lambda: saved(convnet_state(), _use_new_zipfile_serialization=False),
            "not a PyTorch weights file",
        ),
        (lambda: b"0" * (MAX_UPLOAD_BYTES + 1), "over the 50 MB limit"),
        (
            lambda: saved(build_model("convnet")),
            "a whole pickled model, not a state dict: save model.state_dict()",
        ),
        (
            lambda: saved({"model": convnet_state(), "epoch": 3}),
            "not a state dict (a dict of tensors): save model.state_dict()",
        ),
        (lambda: saved([1, 2, 3]), "not a state dict"),
    ],
)
def test_bad_files_are_one_plain_sentence(make, expected):
    assert expected in refused(make())


def zip_with(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_wrong_shapes_name_the_layer_expected_and_found():
    state = convnet_state()
    state["conv_layers.0.weight"] = torch.zeros(8, 1, 5, 5)
    assert refused(saved(state)) == (
        "the file does not fit the convnet model (wrong shapes): layer conv_layers.0.weight "
        "expects [16, 1, 5, 5], the file has [8, 1, 5, 5]"
    )
    missing = convnet_state()
    del missing["fc_layers.1.bias"]
    assert (
        refused(saved(missing))
        == "the file does not fit the convnet model: layer fc_layers.1.bias is missing"
    )
    assert "layer conv_layers.0.weight is missing" in refused(
        saved(build_model("fcnet").state_dict())
    )
    ints = convnet_state()
    ints["conv_layers.0.bias"] = torch.zeros(16, dtype=torch.int64)
    assert "is not float numbers" in refused(saved(ints))


def test_text_from_the_file_is_never_repeated():
    state = convnet_state()
    state["![x](http://example.invalid/p.png)\x1b[31m"] = torch.zeros(1)
    message = refused(saved(state))
    assert (
        message
        == "the file does not fit the convnet model: it has an entry the model does not have"
    )
    state = {**convnet_state(), "extra.weight": torch.zeros(1)}
    assert "it has layer extra.weight the model does not have" in refused(saved(state))


def test_good_weights_load_and_import_as_a_run(tmp_path):
    model = build_model("convnet")
    growth, loaded = peak_growth_mb(
        lambda: load_state_dict_bytes(saved(model.state_dict()), "convnet")
    )
    assert growth < MAX_GROWTH_MB
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    store = RunStore(tmp_path)
    with pytest.raises(UserError, match="whole pickled model"):
        store.import_weights(saved(model), "convnet", "bad")
    assert store.list() == []
    run_id = store.import_weights(saved(model.state_dict()), "convnet", "mine")
    info = store.info(run_id)
    assert (info.status, info.name, info.damaged) == ("imported", "mine", "")
    assert store.metrics(run_id).empty
    again, _ = store.load_model(run_id)
    assert torch.equal(
        again.state_dict()["fc_layers.1.weight"], model.state_dict()["fc_layers.1.weight"]
    )
