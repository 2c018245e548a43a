"""Take a run home: the exported script and notebook reproduce the run with plain PyTorch."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from cnncore.errors import UserError
from cnncore.export import export_run, export_text, model_code
from cnncore.models import MODEL_NAMES, build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, Trainer
from tests.conftest import ROOT

CONFIG = TrainConfig(epochs=1, batch_size=32, max_batches=6, seed=3, precision="fp32")


@pytest.fixture(scope="module")
def trained(bundled, tmp_path_factory):
    """A tiny fp32 run on the bundled digits, saved in a fresh store: (store, run id, result)."""
    store = RunStore(tmp_path_factory.mktemp("store") / "runs")
    result = Trainer(CONFIG, bundled).run()
    run_id = store.save(result, CONFIG, "bundled", name="take ![x](http://h/p.png) home")
    return store, run_id, result


def run_script(path, *args, cwd):
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": ""},
    )


def test_script_matches_the_trainer_loss_for_loss(trained, tmp_path):
    store, run_id, result = trained
    script = export_run(store, run_id, tmp_path / "home.py")
    assert "import cnncore" not in script.read_text() and "from cnncore" not in script.read_text()
    proc = run_script(script, "--print-every", "1", "--logdir", "tb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    losses = [float(x) for x in re.findall(r"batch \d+/6 loss ([\d.]+)", proc.stdout)]
    expected = result.metrics.query("kind == 'train'")["loss"].tolist()
    assert len(losses) == len(expected) == 6
    assert losses == pytest.approx(expected, abs=1e-5)
    acc = float(re.search(r"test accuracy: ([\d.]+)%", proc.stdout).group(1)) / 100
    assert acc == pytest.approx(result.test_accuracy, abs=0.02)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")), "no SummaryWriter log"


def test_max_batches_flag_is_a_small_budget(trained, tmp_path):
    store, run_id, _ = trained
    script = export_run(store, run_id, tmp_path / "home.py")
    proc = run_script(
        script, "--max-batches", "2", "--print-every", "1", "--logdir", "tb", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.findall(r"batch (\d+)/2 ", proc.stdout) == ["1", "2"]


def test_notebook_is_valid_nbformat_and_runs(trained, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is in requirements.txt")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in requirements.txt")
    store, run_id, result = trained
    path = export_run(store, run_id, tmp_path / "home.ipynb")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert not any("argparse" in "".join(c.source) for c in nb.cells)  # script-only cell
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    first = float(re.search(r"batch 1/6 loss ([\d.]+)", printed).group(1))
    assert first == pytest.approx(result.metrics.query("kind == 'train'")["loss"].iloc[0], abs=1e-5)
    assert "test accuracy:" in printed


def test_run_name_is_never_markdown(trained):
    store, run_id, _ = trained
    nb = json.loads(export_text(store, run_id, ".ipynb"))
    markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "http://h/p.png" not in markdown  # the name only appears as a Python string
    assert "RUN_NAME = 'take ![x](http://h/p.png) home'" in export_text(store, run_id, ".py")


@pytest.mark.parametrize("name", list(MODEL_NAMES))
def test_written_out_model_is_the_same_network(name):
    """The exported class has cnncore's parameter shapes, draws the same initial weights from
    the same seed, and gives the same logits with a run's weights."""
    namespace = {"nn": torch.nn}
    exec(model_code(name), namespace)
    cls = next(v for k, v in namespace.items() if k in ("ConvNet", "FCNet"))
    torch.manual_seed(7)
    ours = build_model(name)
    torch.manual_seed(7)
    theirs = cls()
    for (k1, v1), (k2, v2) in zip(
        ours.state_dict().items(), theirs.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(v1, v2)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(theirs.eval()(x), ours.eval()(x))


def test_refusals_are_one_plain_sentence(trained, tmp_path):
    store, run_id, _ = trained
    with pytest.raises(UserError, match="a .py script or an .ipynb notebook"):
        export_run(store, run_id, tmp_path / "home.txt")
    with pytest.raises(UserError, match="there is no run nope"):
        export_run(store, "nope", tmp_path / "home.py")
    state = (store.root / run_id / "model.pt").read_bytes()
    uploaded = store.import_weights(state, "convnet", "mine")
    with pytest.raises(UserError, match="--data bundled"):
        export_run(store, uploaded, tmp_path / "home.py")
    assert export_run(store, uploaded, tmp_path / "home.py", data="bundled").is_file()


def test_cli_export(trained, tmp_path):
    store, run_id, _ = trained
    cmd = [sys.executable, "-m", "cnncore", "export", run_id, "--runs", str(store.root)]
    ok = subprocess.run(
        [*cmd, "--to", str(tmp_path / "a.ipynb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and (tmp_path / "a.ipynb").is_file(), ok.stderr
    bad = subprocess.run(
        [*cmd, "--to", str(tmp_path / "a.md")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: export to a .py script")


@pytest.mark.parametrize("source", ["idx", "mnist"])
def test_script_loads_idx_folders_and_torchvision_mnist_like_cnncore(bundled, tmp_path, source):
    """The other data branches, offline: the bundled digits written as an IDX folder and as
    torchvision's MNIST-data/MNIST/raw layout; the script splits them as load_data does."""
    from cnncore.bench import _as_torchvision_mnist, write_idx
    from cnncore.data import load_data

    if source == "idx":
        folder = tmp_path / "digits"
        folder.mkdir()
        for prefix, split in (("train", bundled.train), ("t10k", bundled.test)):
            write_idx(folder / f"{prefix}-images-idx3-ubyte", split.images[:, 0])
            write_idx(folder / f"{prefix}-labels-idx1-ubyte", split.labels)
        spec, root = f"idx:{folder}", tmp_path
    else:
        root = tmp_path / "MNIST-data"
        _as_torchvision_mnist(bundled, root)
        spec = "mnist"
    data = load_data(spec, root, allow_download=False)
    config = TrainConfig(epochs=1, batch_size=64, max_batches=3, seed=5, precision="fp32")
    result = Trainer(config, data).run()
    store = RunStore(tmp_path / "runs")
    run_id = store.save(result, config, data.source)
    script = export_run(store, run_id, tmp_path / "home.py")
    proc = run_script(
        script, "--print-every", "1", "--logdir", "tb", "--data-root", str(root), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{len(data.train):,} train / {len(data.val):,} validation" in proc.stdout
    losses = [float(x) for x in re.findall(r"batch \d+/3 loss ([\d.]+)", proc.stdout)]
    expected = result.metrics.query("kind == 'train'")["loss"].tolist()
    assert losses == pytest.approx(expected, abs=1e-5)
