"""Command line: ``python -m cnncore train | runs | bench | convolve | compare``.

User mistakes (bad numbers, unknown sources, damaged files) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from cnncore.errors import UserError


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number > 0")
    return value


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} must be >= {low}")
        return value

    return parse


def add_data_args(p: argparse.ArgumentParser) -> None:
    from cnncore.data import DEFAULT_ROOT, SOURCES

    p.add_argument(
        "--data", default="auto", help=f"data source: {', '.join(SOURCES)} (default auto)"
    )
    p.add_argument("--data-root", default=DEFAULT_ROOT, help="folder for torchvision datasets")
    p.add_argument("--no-download", action="store_true", help="never try to download")


def load_data_from_args(args) -> object:
    from cnncore.data import load_data

    data = load_data(args.data, args.data_root, allow_download=not args.no_download)
    print(f"data: {data.summary()} ({data.reason})")
    return data


# ------------------------------------------------------------------------------------- train


def _add_train(sub) -> None:
    from cnncore.models import MODEL_NAMES
    from cnncore.train import OPTIMIZERS, PRECISIONS

    p = sub.add_parser("train", help="train a model and save it as a run")
    add_data_args(p)
    p.add_argument("--model", default="convnet", choices=list(MODEL_NAMES))
    p.add_argument("--epochs", type=_int_at_least(1), default=3)
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate (> 0)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=256)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--max-batches", type=_int_at_least(0), default=0,
                   help="stop each epoch after N batches (a tiny-budget dry run)")  # fmt: skip
    p.add_argument("--runs", default="runs", help="run store folder")
    p.add_argument("--name", default="", help="a name for the run")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from tqdm import tqdm

    from cnncore.runs import RunStore
    from cnncore.train import TrainConfig, Trainer

    config = TrainConfig(
        model=args.model, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        optimizer=args.optimizer, seed=args.seed, precision=args.precision,
        max_batches=args.max_batches,
    ).validate()  # fmt: skip
    data = load_data_from_args(args)
    bar = None

    def on_event(event):
        nonlocal bar
        v = event.values
        if event.kind == "start":
            print(f"training {config.model} on {v['device']} with {v['precision']}")
            bar = tqdm(total=v["total_batches"], unit="batch", dynamic_ncols=True)
        elif event.kind == "train":
            bar.update(1)
            bar.set_postfix(
                epoch=event.epoch, loss=f"{v['loss']:.4f}", img_s=f"{v['images_per_s']:.0f}"
            )
        elif event.kind == "val":
            bar.write(
                f"epoch {event.epoch}: validation loss {v['loss']:.4f}, accuracy {v['accuracy']:.2%}"
            )
        elif event.kind == "end":
            bar.close()

    result = Trainer(config, data, on_event=on_event).run()
    store = RunStore(args.runs)
    run_id = store.save(result, config, data.source, name=args.name)
    print(result.message)
    if result.val_accuracy is not None:
        print(f"validation accuracy: {result.val_accuracy:.2%}")
    if result.test_accuracy is not None:
        print(f"test accuracy: {result.test_accuracy:.2%}")
    print(f"throughput: {result.images_per_s:.0f} images/s")
    print(f"saved run {run_id} in {store.root}/")
    return 0 if result.status == "finished" else 1


# -------------------------------------------------------------------------------------- runs


def _add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list saved runs (damaged ones are marked)")
    p.add_argument("--runs", default="runs", help="run store folder")
    p.add_argument("--delete", metavar="ID", help="delete a run")
    p.set_defaults(func=_cmd_runs)


def _cmd_runs(args) -> int:
    import pandas as pd

    from cnncore.runs import RunStore

    store = RunStore(args.runs)
    if args.delete:
        store.delete(args.delete)
        print(f"deleted run {args.delete}")
        return 0
    table = store.table()
    if table.empty:
        print(f"no runs in {store.root}/")
        return 0
    cols = [
        "id",
        "name",
        "status",
        "model",
        "data",
        "epochs",
        "lr",
        "val_acc",
        "test_acc",
        "problem",
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[cols].to_string(index=False))
    return 0


# ------------------------------------------------------------------------------------- bench


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (speed and accuracy)")
    bench = p.add_subparsers(dest="bench", required=True)
    pipe = bench.add_parser("pipeline", help="lesson notebook's DataLoader pipeline vs the Trainer")
    pipe.add_argument("--batches", type=_int_at_least(5), default=60, help="batches per pipeline")
    pipe.add_argument("--batch-size", type=_int_at_least(1), default=256)
    pipe.set_defaults(func=_cmd_bench_pipeline)
    acc = bench.add_parser("accuracy", help="train on a source, test on an IDX test set")
    add_data_args(acc)
    acc.set_defaults(data="bundled")
    acc.add_argument("--test", default="../shared/data/mnist-t10k",
                     help="folder with t10k-images/labels IDX files (the real MNIST test set)")  # fmt: skip
    acc.add_argument("--epochs", type=_int_at_least(1), default=10)
    acc.add_argument("--models", default="convnet,fcnet")
    acc.add_argument("--seed", type=_int_at_least(0), default=0)
    acc.set_defaults(func=_cmd_bench_accuracy)
    # --- bench conv (issue 3) ---
    # --- end bench conv ---
    # --- bench jobs (issue 4) ---
    # --- end bench jobs ---


def _cmd_bench_pipeline(args) -> int:
    from cnncore.bench import compare_pipelines

    report = compare_pipelines(batches=args.batches, batch_size=args.batch_size)
    print(report.to_string(index=False))
    ratio = report["images_per_s"].iloc[1] / report["images_per_s"].iloc[0]
    l0, l1 = report["final_loss"].iloc[0], report["final_loss"].iloc[1]
    print(f"speed-up (cnncore Trainer / notebook pipeline): {ratio:.2f}x")
    print(f"final losses differ by {abs(l1 - l0) / l0:.1%}")
    return 0


def _cmd_bench_accuracy(args) -> int:
    from cnncore.bench import accuracy_on_test_set

    data = load_data_from_args(args)
    table = accuracy_on_test_set(data, args.test, args.models.split(","), args.epochs, args.seed)
    print(table.to_string(index=False))
    return 0


# --- convolve subcommand (issue 3) ---
# --- end convolve subcommand ---

# --- compare subcommand (issue 5) ---
# --- end compare subcommand ---


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnncore", description="CNN Explorer from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_runs, _add_bench):
        add(sub)
    for name in ("_add_convolve", "_add_compare"):
        if name in globals():
            globals()[name](sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
