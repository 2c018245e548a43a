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
from cnncore.train import TrainConfig, Trainer, evaluate, init_weights, prepare_model


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


class SameOrder(torch.utils.data.Sampler):
    """The Trainer's batch order for a DataLoader: ``torch.randperm`` from the run's generator,
    one permutation per epoch. (``shuffle=True`` with ``generator=`` is not the same order:
    the DataLoader draws a base seed from that generator before its ``randperm``, so the two
    orders would drift by one draw per epoch.)"""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def notebook_pipeline(data: Dataset, epochs: int, batch_size: int, seed: int) -> dict:
    """The lesson's loop with its bugs fixed: ``datasets.MNIST`` + ``ToTensor`` + ``DataLoader``,
    the ConvNet returning logits, Adam(lr=1e-3), fp32, per-sample PIL conversion. Same initial
    weights and batch order as the Trainer with this seed (one generator of the run, drawn in
    the same order), so the two differ only in the pipeline around the model."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        _as_torchvision_mnist(data, Path(tmp))
        train_data = datasets.MNIST(
            tmp, train=True, transform=transforms.ToTensor(), download=False
        )
        gen = torch.Generator().manual_seed(seed)
        # The Trainer's model preparation too (channels-last memory on CPU): the two sides
        # then differ in the data pipeline only, not in how the model's layers compute.
        model = prepare_model(init_weights(build_model("convnet"), gen), torch.device("cpu"))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        criterion = torch.nn.CrossEntropyLoss()
        # The loader draws its own base seed per epoch: give it a generator of its own.
        loader = DataLoader(
            train_data,
            batch_size=batch_size,
            sampler=SameOrder(len(train_data), gen),
            generator=torch.Generator().manual_seed(seed),
        )
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
    return {
        "pipeline": "lesson notebook (Dataset + ToTensor + DataLoader)",
        "precision": "fp32",
        "images_per_s": images / seconds,
        "seconds": seconds,
        "batches": len(losses),
        "losses": losses,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
    }


class _Clock:
    """Trainer events -> seconds spent training (evaluation after each epoch left out)."""

    def __init__(self):
        self.last_train = self.eval_seconds = 0.0

    def __call__(self, event) -> None:
        now = time.perf_counter()
        if event.kind == "train":
            self.last_train = now
        elif event.kind in ("val", "test"):
            self.eval_seconds += now - self.last_train
            self.last_train = now


def trainer_pipeline(
    data: Dataset,
    epochs: int,
    batch_size: int,
    seed: int,
    precision: str = "fp32",
    max_batches: int = 0,
) -> dict:
    """cnncore's Trainer on the same data: preloaded tensors, at ``precision``. Its rate counts
    the training loop (the Trainer's set-up and per-batch work included, the evaluation after
    each epoch not, as the notebook side has none)."""
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        precision=precision,
        max_batches=max_batches,
    )
    clock = _Clock()
    started = time.perf_counter()
    trainer = Trainer(config, data, on_event=clock)  # converting the data to floats counts
    result = trainer.run()
    seconds = time.perf_counter() - started - clock.eval_seconds
    train = result.metrics.query("kind == 'train'")
    losses = train["loss"].tolist()
    per_epoch = trainer.batches_per_epoch
    images = sum(
        min(batch_size, len(data.train) - (b % per_epoch) * batch_size) for b in range(len(losses))
    )
    val_loss, val_acc = evaluate(result.model, data.val)
    return {
        "pipeline": "cnncore Trainer (preloaded tensors)",
        "precision": trainer.precision,
        "images_per_s": images / seconds,
        "seconds": seconds,
        "batches": len(losses),
        "losses": losses,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
    }


def compare_pipelines(
    batches: int = 64,
    batch_size: int = 256,
    seed: int = 0,
    repeats: int = 3,
    bf16_batches: int | None = None,
) -> pd.DataFrame:
    """Same ConvNet, batch size, bundled data, initial weights and batch order, trained for the
    same whole number of epochs (about ``batches`` batches): the notebook's pipeline and the
    Trainer both in fp32 (the pipeline's effect), then the Trainer in bf16 (precision's effect;
    ``bf16_batches`` batches only, when bf16 is too slow here to train as long). Repeated
    ``repeats`` times with seeds seed, seed+1, ..., the contenders alternating. Throughput: each
    one's fastest repeat, since other work on a shared machine only ever slows a run down.
    ``final_loss``: the mean training loss over the last epoch, averaged over the seeds
    (min and max shown); ``val_loss``/``val_accuracy``: the final models, in fp32, averaged."""
    data = load_data("bundled")
    per_epoch = math.ceil(len(data.train) / batch_size)
    epochs = max(1, round(batches / per_epoch))
    contenders = [
        lambda s: notebook_pipeline(data, epochs, batch_size, s),
        lambda s: trainer_pipeline(data, epochs, batch_size, s, "fp32"),
    ]
    if bf16_batches is None or bf16_batches >= epochs * per_epoch:
        contenders.append(lambda s: trainer_pipeline(data, epochs, batch_size, s, "bf16"))
    elif bf16_batches > 0:
        contenders.append(
            lambda s: trainer_pipeline(data, 1, batch_size, s, "bf16", max_batches=bf16_batches)
        )
    rows = []
    for r in range(repeats):
        for run in contenders:
            row = run(seed + r)
            losses = row.pop("losses")
            last = losses[-min(per_epoch, len(losses)) :]
            row["final_loss"] = sum(last) / len(last)
            rows.append(row)
    runs = pd.DataFrame(rows)
    summary = runs.groupby(["pipeline", "precision"], sort=False).agg(
        images_per_s=("images_per_s", "max"),
        batches=("batches", "first"),
        final_loss=("final_loss", "mean"),
        final_loss_min=("final_loss", "min"),
        final_loss_max=("final_loss", "max"),
        val_loss=("val_loss", "mean"),
        val_accuracy=("val_accuracy", "mean"),
    )
    return summary.reset_index().round(4)


def step_overhead(batches: int = 24, batch_size: int = 256, repeats: int = 3) -> dict:
    """The data pipeline's own cost in a Trainer step: the Trainer's loop (gathering the batch,
    recording, events, control checks) against the bare forward/backward/step on batches
    prepared beforehand, same model and optimizer, alternating, best of ``repeats``. Returns
    seconds per batch of each and the overhead as a fraction of the whole loop's step."""
    data = load_data("bundled")
    config = TrainConfig(epochs=1, batch_size=batch_size, max_batches=batches, precision="fp32")
    loop_best = bare_best = math.inf
    for _ in range(repeats):
        times: list[float] = []

        def on_event(event, times=times):
            if event.kind == "train":
                times.append(time.perf_counter())

        trainer = Trainer(config, data, on_event=on_event)
        trainer.run()
        loop_best = min(loop_best, (times[-1] - times[0]) / (len(times) - 1))
        model, optimizer = trainer.model, trainer.optimizer
        order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(1))
        prepared = [
            (trainer._train_x[idx], trainer._train_y[idx])
            for idx in order[: batches * batch_size].split(batch_size)
        ]
        t = time.perf_counter()
        for x, y in prepared[1:]:
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()
        bare_best = min(bare_best, (time.perf_counter() - t) / (len(prepared) - 1))
    return {
        "loop_s": loop_best,
        "bare_s": bare_best,
        "overhead": max(0.0, 1 - bare_best / loop_best),
    }


def roofline(batches: int = 64, batch_size: int = 256, repeats: int = 3) -> dict:
    """Everything ``bench pipeline`` prints: the machine, counted FLOPs per image, measured
    matmul peaks, each pipeline's rate and fraction of its precision's roofline, the effects of
    the pipeline and of precision kept apart, and the Trainer's own per-step overhead."""
    from cnncore.speed import cpu_model, flops_per_image, matmul_peak

    flops = flops_per_image("convnet")
    fp32_peak, fp32_n = matmul_peak(torch.float32)
    bf16_peak, bf16_n = matmul_peak(torch.bfloat16)
    # bf16 as slow as on CPUs without bf16 units: a few batches tell its rate.
    slow_bf16 = bf16_peak < 0.25 * fp32_peak
    table = compare_pipelines(
        batches, batch_size, repeats=repeats, bf16_batches=2 if slow_bf16 else None
    )
    # Measure the fp32 peak again after the pipelines and keep the best: a burst of load on a
    # shared machine during one measurement would otherwise flatter every fraction.
    fp32_peak = max(fp32_peak, matmul_peak(torch.float32)[0])
    peaks = {"fp32": fp32_peak, "bf16": bf16_peak}
    table["roofline_images_per_s"] = [peaks[p] * 1e9 / flops for p in table["precision"]]
    table["fraction_of_roofline"] = table["images_per_s"] / table["roofline_images_per_s"]
    overhead = step_overhead(max(3, min(24, batches)), batch_size, repeats)
    return {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "flops_per_image": flops,
        "fp32_peak": fp32_peak,
        "fp32_n": fp32_n,
        "bf16_peak": bf16_peak,
        "bf16_n": bf16_n,
        "slow_bf16": slow_bf16,
        "table": table,
        "overhead": overhead,
        "batch_size": batch_size,
    }


def print_roofline(report: dict, out=print) -> float:
    """Print ``roofline()``'s report; returns the Trainer's fraction of the fp32 roofline."""
    t = report["table"]
    out(f"CPU: {report['cpu']}, {report['threads']} threads, torch {report['torch']}")
    out(
        f"FLOPs of one training step per image (forward + backward, counted with "
        f"FlopCounterMode): {report['flops_per_image'] / 1e6:.2f} MFLOP"
    )
    for p in ("fp32", "bf16"):
        peak, n = report[f"{p}_peak"], report[f"{p}_n"]
        note = (
            " (depends on the CPU: no native bf16 here)"
            if p == "bf16" and report["slow_bf16"]
            else ""
        )
        out(
            f"measured matmul peak {p}: {peak:.1f} GFLOP/s (torch.mm {n}x{n}) -> roofline "
            f"{peak * 1e9 / report['flops_per_image']:,.0f} images/s{note}"
        )
    shown = t[
        [
            "pipeline",
            "precision",
            "images_per_s",
            "roofline_images_per_s",
            "fraction_of_roofline",
            "batches",
            "final_loss",
            "val_accuracy",
        ]
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        out(
            shown.round(
                {"images_per_s": 0, "roofline_images_per_s": 0, "fraction_of_roofline": 3}
            ).to_string(index=False)
        )
    rate = {(p, q): r for p, q, r in t[["pipeline", "precision", "images_per_s"]].itertuples(False)}
    notebook = rate[("lesson notebook (Dataset + ToTensor + DataLoader)", "fp32")]
    trainer = rate[("cnncore Trainer (preloaded tensors)", "fp32")]
    out(f"effect of the data pipeline (both fp32): Trainer / notebook = {trainer / notebook:.2f}x")
    bf16 = rate.get(("cnncore Trainer (preloaded tensors)", "bf16"))
    if bf16:
        out(f"effect of precision (Trainer bf16 / fp32, this CPU): {bf16 / trainer:.2f}x")
    o = report["overhead"]
    out(
        f"data pipeline's own cost in a Trainer step: {o['overhead']:.1%} (whole loop "
        f"{o['loop_s'] * 1e3:.1f} ms per batch, forward/backward/step on a prepared batch "
        f"{o['bare_s'] * 1e3:.1f} ms)"
    )
    fraction = trainer / (report["fp32_peak"] * 1e9 / report["flops_per_image"])
    out(f"trainer fraction of fp32 roofline: {fraction:.2f}")
    return fraction


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
        rows.append(
            {
                "model": config.model,
                "parameters": count_parameters(result.model),
                "train_images": len(data.train),
                "epochs": epochs,
                "val_accuracy": result.val_accuracy,
                "test_images": len(test),
                "test_accuracy": test_acc,
                "test_loss": test_loss,
                "seconds": round(result.seconds, 1),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ refresh
def _fill_history(job, batches: int) -> None:
    """Record ``batches`` synthetic batches in a TrainingJob's history, as its worker would."""
    from cnncore.train import Event

    per_epoch = 200
    base = {
        "lr": 1e-3,
        "batches_per_epoch": per_epoch,
        "total_batches": batches,
        "images_per_s": 1000.0,
        "seconds_left": 1.0,
    }
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(batches, generator=gen).tolist()
    for step in range(1, batches + 1):
        epoch, batch = divmod(step - 1, per_epoch)
        loss = 2.3 / math.sqrt(step) + 0.1 * noise[step - 1]
        job._on_event(Event("train", step, epoch + 1, {**base, "loss": loss, "batch": batch + 1}))
        if batch + 1 == per_epoch and epoch < 20:
            job._on_event(
                Event("val", step, epoch + 1, {"lr": 1e-3, "loss": loss, "accuracy": 0.9})
            )


def refresh_cost(sizes=(1_000, 100_000, 1_000_000), repeats: int = 5, before: int = 100_000):
    """Seconds of one live-panel refresh (the job's snapshot, the loss and validation figures
    built and serialised as Streamlit sends them) for a job that has recorded each of ``sizes``
    batches; best of ``repeats``. For runs up to ``before`` batches also the cost of what a
    refresh did before (a copy of the whole history, every point plotted)."""
    from cnncore.jobs import TrainingJob
    from cnncore.plots import training as plots

    data = load_data("bundled")
    rows = []
    for n in sizes:
        job = TrainingJob(TrainConfig(), data, store=None)
        _fill_history(job, n)
        best = unchanged = old = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            snap = job.snapshot()
            h = snap["history"]
            plots.loss_figure(h, 0.6).to_json()
            plots.val_figure(h).to_json()
            best = min(best, time.perf_counter() - t)
            t = time.perf_counter()
            job.snapshot(since=snap["version"])
            unchanged = min(unchanged, time.perf_counter() - t)
            if n <= before:  # the same figures with every point, from a whole copy
                t = time.perf_counter()
                full = plots.bounded_loss(job.history(), max_points=2 * n + 2)
                plots.loss_figure(full, 0.6).to_json()
                plots.val_figure(full).to_json()
                old = min(old, time.perf_counter() - t)
        rows.append(
            {
                "batches": n,
                "points_sent": len(h["steps"]),
                "refresh_ms": best * 1e3,
                "unchanged_poll_ms": unchanged * 1e3,
                "before_ms": old * 1e3 if old < math.inf else math.nan,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ bigger data
def bigger_data(folder: str, epochs: int = 3, seed: int = 0) -> dict:
    """Train the ConvNet on an IDX folder in a fresh process (so its peak memory is its own):
    seconds per epoch, peak resident memory (getrusage maxrss), test accuracy."""
    import json
    import subprocess
    import sys

    code = (
        "import json, resource, sys; from cnncore.bench import _bigger_data_child; "
        "print(json.dumps(_bigger_data_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, folder, str(epochs), str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bigger-data run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _bigger_data_child(folder: str, epochs: int, seed: int) -> dict:
    import resource

    data = load_data(f"idx:{folder}")
    clock = _Clock()
    result = Trainer(TrainConfig(epochs=epochs, seed=seed), data, on_event=clock).run()
    return {
        "source": data.source,
        "train_images": len(data.train),
        "seconds_per_epoch": (result.seconds - clock.eval_seconds) / epochs,
        "seconds": result.seconds,
        "precision": result.precision,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
    }


# ------------------------------------------------------------------------------ README
def readme_table(report: dict, refresh: pd.DataFrame, bigger: dict | None = None) -> str:
    """The README's benchmark table as Markdown, every row naming the CPU it was measured on."""
    cpu = f"{report['cpu']}, {report['threads']} threads"
    t = report["table"]
    rows = [
        (
            "FLOPs of one training step per image (counted)",
            f"{report['flops_per_image'] / 1e6:.2f} MFLOP",
            "any CPU (counted, not timed)",
        )
    ]
    for p in ("fp32", "bf16"):
        peak = report[f"{p}_peak"]
        roof = peak * 1e9 / report["flops_per_image"]
        where = cpu + (
            " (bf16 depends on the CPU: native bf16 units or not)" if p == "bf16" else ""
        )
        rows.append(
            (
                f"matmul peak {p} (torch.mm) → roofline",
                f"{peak:.1f} GFLOP/s → {roof:,.0f} images/s",
                where,
            )
        )
    for r in t.itertuples():
        where = cpu + (" (depends on the CPU)" if r.precision == "bf16" else "")
        if r.fraction_of_roofline > 1:  # the matmul is slower than this CPU's convolutions
            where += "; above 100%: here the matmul peak is no bound for the convolutions"
        rows.append(
            (
                f"{r.pipeline}, {r.precision}",
                f"{r.images_per_s:,.0f} images/s = {r.fraction_of_roofline:.0%} of the "
                f"{r.precision} roofline ({r.batches} batches, final loss {r.final_loss:.3f})",
                where,
            )
        )
    rate = {(p, q): v for p, q, v in t[["pipeline", "precision", "images_per_s"]].itertuples(False)}
    nb = rate[("lesson notebook (Dataset + ToTensor + DataLoader)", "fp32")]
    tr = rate[("cnncore Trainer (preloaded tensors)", "fp32")]
    rows.append(
        ("effect of the data pipeline (Trainer ÷ notebook, both fp32)", f"{tr / nb:.2f}x", cpu)
    )
    if ("cnncore Trainer (preloaded tensors)", "bf16") in rate:
        bf = rate[("cnncore Trainer (preloaded tensors)", "bf16")]
        rows.append(
            (
                "effect of precision (Trainer bf16 ÷ fp32)",
                f"{bf / tr:.2f}x",
                cpu + " (depends on the CPU)",
            )
        )
    o = report["overhead"]
    rows.append(("data pipeline's own cost in a Trainer step", f"{o['overhead']:.1%}", cpu))
    for r in refresh.itertuples():
        before = "" if math.isnan(r.before_ms) else f" (before: {r.before_ms:.0f} ms)"
        rows.append(
            (
                f"live panel refresh at {r.batches:,} recorded batches",
                f"{r.refresh_ms:.1f} ms, {r.points_sent:,} points sent{before}",
                cpu,
            )
        )
    if bigger:
        rows.append(
            (
                f"ConvNet on {bigger['source']} ({bigger['train_images']:,} training images), "
                f"{bigger['precision']}",
                f"{bigger['seconds_per_epoch']:.0f} s per epoch, peak memory "
                f"{bigger['peak_rss_mib']:,.0f} MiB, test accuracy after 3 epochs "
                f"{bigger['test_accuracy']:.2%}",
                cpu,
            )
        )
    rows.append(
        (
            "same seed, same weights, bit for bit",
            "CPU fp32 and bf16, same number of "
            "threads, also with two jobs training at once (tests/test_train.py, "
            "tests/test_speed.py); on CUDA not checked",
            "checked by tests",
        )
    )
    lines = ["| figure | value | measured on |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
