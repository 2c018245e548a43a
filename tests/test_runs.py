"""cnncore.runs: atomic saves, listing with damaged folders, safe loading."""

import io
import os

import pytest
import torch

from cnncore.errors import UserError
from cnncore.models import build_model
from cnncore.runs import RunStore, atomic_write_bytes, load_state_dict_bytes, state_dict_bytes
from cnncore.train import TrainConfig, Trainer


@pytest.fixture
def saved(tiny_data, tmp_path):
    config = TrainConfig(epochs=1, max_batches=2)
    result = Trainer(config, tiny_data).run()
    store = RunStore(tmp_path / "runs")
    return store, store.save(result, config, "bundled", name="first"), result


def test_round_trip(saved):
    store, run_id, result = saved
    model, config = store.load_model(run_id)
    assert config.max_batches == 2
    for a, b in zip(model.state_dict().values(), result.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    metrics = store.metrics(run_id)
    assert list(metrics.query("kind == 'train'")["loss"]) == pytest.approx(
        list(result.metrics.query("kind == 'train'")["loss"])
    )
    [info] = store.list()
    assert info.name == "first" and info.status == "finished" and not info.damaged


def test_damaged_folders_are_listed_not_fatal(saved):
    store, run_id, _ = saved
    (store.root / "broken-json").mkdir()
    (store.root / "broken-json" / "config.json").write_text("{not json")
    (store.root / "no-config").mkdir()
    (store.root / run_id / "model.pt").unlink()
    rows = {r.id: r for r in store.list()}
    assert "unreadable" in rows["broken-json"].damaged
    assert "missing" in rows["no-config"].damaged
    assert "model.pt is missing" in rows[run_id].damaged
    with pytest.raises(UserError, match="damaged"):
        store.load_model(run_id)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    atomic_write_bytes(path, b"old")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def test_loading_refuses_pickled_code_wrong_shapes_and_oversize():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    torch.save({"w": Evil()}, buf)
    with pytest.raises(UserError, match="not a state dict"):
        load_state_dict_bytes(buf.getvalue(), "convnet")
    with pytest.raises(
        UserError, match="does not fit the convnet model: layer conv_layers.0.weight is missing"
    ):
        load_state_dict_bytes(state_dict_bytes(build_model("fcnet")), "convnet")
    with pytest.raises(UserError, match="not a PyTorch weights file"):
        load_state_dict_bytes(b"hello", "convnet")
    with pytest.raises(UserError, match="over the 50 MB limit"):
        load_state_dict_bytes(b"0" * (51 * 1024 * 1024), "convnet")
    model = load_state_dict_bytes(state_dict_bytes(build_model("fcnet")), "fcnet")
    assert model is not None


def test_rename_delete_and_bad_ids(saved):
    store, run_id, _ = saved
    store.rename(run_id, "renamed")
    assert store.info(run_id).name == "renamed"
    with pytest.raises(UserError):
        store.rename(run_id, "   ")
    with pytest.raises(UserError, match="not a run id"):
        store.load_model("../../etc")
    store.delete(run_id)
    assert store.list() == []
