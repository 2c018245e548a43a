"""Benchmarks behind ``python -m cnncore bench``: the lesson notebook's data pipeline against the
Trainer, and accuracy of models trained on one source measured on a separate IDX test set.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from cnncore.data import Dataset, Split, load_data, read_idx_folder
from cnncore.models import build_model, count_parameters
from cnncore.train import TrainConfig, Trainer, evaluate


def write_idx(path: Path, array: torch.Tensor) -> None:
    """Write a uint8 tensor as an (uncompressed) IDX file: the format MNIST ships in."""
    array = array.to(torch.uint8).contiguous()
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.numpy().tobytes())


def _as_torchvision_mnist(data: Dataset, root: Path) -> None:
    """Lay the data out as torchvision's ``MNIST-data/MNIST/raw`` folder."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, split in (("train", data.train), ("t10k", data.test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", split.images[:, 0])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", split.labels)


def notebook_pipeline(data: Dataset, epochs: int, batch_size: int, seed: int) -> dict:
    """The lesson's loop with its bugs fixed: ``datasets.MNIST`` + ``ToTensor`` + ``DataLoader``,
    the ConvNet returning logits, Adam(lr=1e-3), fp32, per-sample PIL conversion."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        _as_torchvision_mnist(data, Path(tmp))
        train_data = datasets.MNIST(
            tmp, train=True, transform=transforms.ToTensor(), download=False
        )
        torch.manual_seed(seed)
        model = build_model("convnet")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        criterion = torch.nn.CrossEntropyLoss()
        # Same batch order as the Trainer (both draw torch.randperm from a generator seeded
        # alike), so the two runs differ only in pipeline and precision.
        order = torch.Generator().manual_seed(seed)
        loader = DataLoader(train_data, shuffle=True, batch_size=batch_size, generator=order)
        losses, images = [], 0
        started = time.perf_counter()
        for _epoch in range(epochs):
            for inputs, labels in loader:
                loss = criterion(model(inputs), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                images += len(labels)
        seconds = time.perf_counter() - started
    val_loss, val_acc = evaluate(model, data.val)
    return {"pipeline": "lesson notebook (Dataset + ToTensor + DataLoader, fp32)",
            "images_per_s": images / seconds, "seconds": seconds, "batches": len(losses),
            "losses": losses, "val_loss": val_loss,
            "val_accuracy": val_acc}  # fmt: skip


def trainer_pipeline(data: Dataset, epochs: int, batch_size: int, seed: int) -> dict:
    """cnncore's Trainer on the same data: preloaded tensors, bf16 autocast where fast."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed)
    started = time.perf_counter()
    trainer = Trainer(config, data)  # converting the data to floats is part of the cost
    result = trainer.run()
    seconds = time.perf_counter() - started
    losses = result.metrics.query("kind == 'train'")["loss"].tolist()
    images = trainer.step * batch_size - (  # the last batch of an epoch may be short
        epochs * (trainer.batches_per_epoch * batch_size - len(data.train))
    )
    val_loss, val_acc = evaluate(result.model, data.val)
    return {"pipeline": f"cnncore Trainer (preloaded tensors, {trainer.precision})",
            "images_per_s": images / seconds, "seconds": seconds, "batches": len(losses),
            "losses": losses, "val_loss": val_loss,
            "val_accuracy": val_acc}  # fmt: skip


def compare_pipelines(
    batches: int = 64, batch_size: int = 256, seed: int = 0, repeats: int = 3
) -> pd.DataFrame:
    """Same ConvNet, batch size, bundled data and batch order, trained for the same whole number
    of epochs (about ``batches`` batches) both ways, ``repeats`` times with seeds seed,
    seed+1, ... (the two pipelines alternate). Throughput: each pipeline's fastest repeat, since
    a burst of load on a shared machine only ever slows a run down. ``final_loss``: the mean
    training loss over the last epoch, averaged over the seeds (one seed's loss moves by several
    percent from run to run: the spread is shown); ``val_loss``: the final models on the same
    validation split, in fp32, averaged likewise."""
    data = load_data("bundled")
    per_epoch = math.ceil(len(data.train) / batch_size)
    epochs = max(1, round(batches / per_epoch))
    rows = []
    for r in range(repeats):
        for run in (notebook_pipeline, trainer_pipeline):
            row = run(data, epochs, batch_size, seed + r)
            row["final_loss"] = sum(row.pop("losses")[-per_epoch:]) / per_epoch
            rows.append(row)
    runs = pd.DataFrame(rows)
    summary = runs.groupby("pipeline", sort=False).agg(
        images_per_s=("images_per_s", "max"), batches=("batches", "first"),
        final_loss=("final_loss", "mean"), final_loss_min=("final_loss", "min"),
        final_loss_max=("final_loss", "max"), val_loss=("val_loss", "mean"),
        val_accuracy=("val_accuracy", "mean"),
    )  # fmt: skip
    return summary.reset_index().round(4)


def accuracy_on_test_set(
    data: Dataset, test_folder: str, models: list[str], epochs: int = 10, seed: int = 0
) -> pd.DataFrame:
    """Train each model on ``data`` (its train split, the lesson's batch of 256) and measure it
    on the ``t10k-*`` IDX files in ``test_folder``."""
    test: Split = read_idx_folder(test_folder, "test")
    rows = []
    for name in models:
        config = TrainConfig(model=name.strip(), epochs=epochs, seed=seed)
        result = Trainer(config, data).run()
        test_loss, test_acc = evaluate(result.model, test)
        rows.append({"model": config.model, "parameters": count_parameters(result.model),
                     "train_images": len(data.train), "epochs": epochs,
                     "val_accuracy": result.val_accuracy, "test_images": len(test),
                     "test_accuracy": test_acc, "test_loss": test_loss,
                     "seconds": round(result.seconds, 1)})  # fmt: skip
    return pd.DataFrame(rows)
