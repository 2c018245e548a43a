"""Every page keeps working when the run store holds damaged, odd and interrupted folders (the
issue: one config.json with "created": 5 made all four pages show only an error)."""

import pytest

from cnncore.models import build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig
from tests.app.conftest import open_page
from tests.test_run_store import make_odd_folders

PAGES = [None, "views/convolution.py", "views/training.py", "views/invariance.py"]


@pytest.fixture
def troubled_store():
    from app.ui.runs import run_store

    store = RunStore(run_store().root)
    odd = make_odd_folders(store.root)
    config = TrainConfig(epochs=2, batch_size=16, max_batches=2, precision="fp32")
    with store.begin(config, "bundled", name="killed early") as writer:  # no checkpoint
        writer.append([{"step": 1, "epoch": 1, "kind": "train", "loss": 2.3, "lr": 1e-3}])
    with store.begin(config, "bundled", name="killed later") as writer:  # with a checkpoint
        writer.append([{"step": 1, "epoch": 1, "kind": "train", "loss": 2.3, "lr": 1e-3}])
        writer.checkpoint(build_model("convnet"), 1)
    return store, odd


@pytest.mark.parametrize("page", PAGES)
def test_pages_survive_damaged_and_interrupted_runs(troubled_store, page):
    store, odd = troubled_store
    assert len(store.list()) == len(odd) + 2
    at = open_page(page, timeout=120)
    assert not at.exception, at.exception
    if page == "views/training.py":
        shown = " ".join(str(df.value.to_dict()) for df in at.dataframe)
        assert "interrupted" in shown and "created is not a date" in shown
