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
    p.add_argument("--runs", default="runs", help="runs root folder")
    p.add_argument("--workspace", default="local", help=WORKSPACE_HELP)
    p.add_argument("--name", default="", help="a name for the run")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from tqdm import tqdm

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
    store = workspace_store(args)
    run_id = store.save(result, config, data.source, name=args.name)
    print(result.message)
    if result.val_accuracy is not None:
        print(f"validation accuracy: {result.val_accuracy:.2%}")
    if result.test_accuracy is not None:
        print(f"test accuracy: {result.test_accuracy:.2%}")
    print(f"throughput: {result.images_per_s:.0f} images/s")
    print(f"saved run {run_id} in {store.root}/")
    return 0 if result.status == "finished" else 1


# -------------------------------------------------------------------------------- workspaces
WORKSPACE_HELP = "workspace: local (the default, the app's on a laptop) or a workspace code"


def workspace_store(args):
    """The RunStore of ``--workspace`` under ``--runs`` (legacy flat runs move to local first);
    ``--gallery``: the class gallery (read-only)."""
    from cnncore.workspaces import Workspaces, folder_for, normalize_code

    spaces = Workspaces(args.runs)
    spaces.migrate()
    if getattr(args, "gallery", False):
        return spaces.gallery()
    return spaces.store(folder_for(normalize_code(args.workspace, allow_local=True)))


def _add_publish(sub) -> None:
    p = sub.add_parser("publish", help="copy a run of a workspace into the class gallery")
    p.add_argument("run_id", help="the run's id (see `runs`)")
    p.add_argument("--by", default="", help="who published it (shown in the gallery)")
    p.add_argument("--runs", default="runs", help="runs root folder")
    p.add_argument("--workspace", default="local", help=WORKSPACE_HELP)
    p.set_defaults(func=_cmd_publish)


def _cmd_publish(args) -> int:
    from cnncore.workspaces import Workspaces, folder_for, normalize_code

    spaces = Workspaces(args.runs)
    spaces.migrate()
    ws = folder_for(normalize_code(args.workspace, allow_local=True))
    print(f"published as {spaces.publish(ws, args.run_id, args.by)} in {spaces.root}/gallery/")
    return 0


# -------------------------------------------------------------------------------------- runs


def _add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list saved runs (damaged ones are marked)")
    p.add_argument("--runs", default="runs", help="runs root folder")
    p.add_argument("--workspace", default="local", help=WORKSPACE_HELP)
    p.add_argument("--gallery", action="store_true", help="list the class gallery instead")
    p.add_argument("--delete", metavar="ID", help="delete a run")
    p.set_defaults(func=_cmd_runs)


def _cmd_runs(args) -> int:
    import pandas as pd

    store = workspace_store(args)
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
    pipe.add_argument("--batches", type=_int_at_least(1), default=64, help="batches per pipeline")
    pipe.add_argument("--repeats", type=_int_at_least(1), default=3,
                      help="alternating repeats, seeds 0..n-1")  # fmt: skip
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
    bconv = bench.add_parser("conv", help="time cnncore.conv for the whole 5x5 animation")
    bconv.add_argument("--repeats", type=_int_at_least(1), default=200)
    bconv.set_defaults(func=_cmd_bench_conv)
    # --- end bench conv ---
    # --- bench jobs (issue 4) ---
    jobs = bench.add_parser("jobs", help="training in a polled job vs the headless Trainer; queue")
    add_data_args(jobs)
    jobs.set_defaults(data="bundled")
    jobs.add_argument("--epochs", type=_int_at_least(1), default=15)
    jobs.add_argument("--batch-size", type=_int_at_least(1), default=256)
    jobs.add_argument("--max-batches", type=_int_at_least(0), default=0, help="per epoch (0 = all)")
    jobs.add_argument("--poll", type=_positive_float, default=0.5, help="seconds between polls")
    jobs.add_argument("--repeats", type=_int_at_least(1), default=3)
    jobs.set_defaults(func=_cmd_bench_jobs)
    # --- end bench jobs ---


def _cmd_bench_pipeline(args) -> int:
    from cnncore.bench import compare_pipelines

    report = compare_pipelines(args.batches, args.batch_size, repeats=args.repeats)
    print(report.to_string(index=False))
    ratio = report["images_per_s"].iloc[1] / report["images_per_s"].iloc[0]
    l0, l1 = report["final_loss"].iloc[0], report["final_loss"].iloc[1]
    print(f"speed-up (cnncore Trainer / notebook pipeline): {ratio:.2f}x")
    print(f"final losses (mean over {args.repeats} seeds) differ by {abs(l1 - l0) / l0:.1%}")
    return 0


def _cmd_bench_accuracy(args) -> int:
    from cnncore.bench import accuracy_on_test_set

    data = load_data_from_args(args)
    table = accuracy_on_test_set(data, args.test, args.models.split(","), args.epochs, args.seed)
    print(table.to_string(index=False))
    return 0


# --- bench jobs (issue 4) ---
def _cmd_bench_jobs(args) -> int:
    from cnncore.bench_jobs import queue_check, throughput
    from cnncore.train import TrainConfig

    data = load_data_from_args(args)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                         max_batches=args.max_batches).validate()  # fmt: skip
    table = throughput(args.data, config, args.poll, args.repeats)
    print(table.round(1).to_string(index=False))
    best = table.groupby("mode", sort=False)["images_per_s"].max()
    for mode, rate in best.items():
        print(f"{mode}: {rate:.0f} images/s (best of {args.repeats})")
    ratio = best.iloc[1] / best.iloc[0]
    verdict = "met" if ratio >= 0.9 else "NOT met"
    print(f"ratio job / headless on the same threads: {ratio:.3f} (target >= 0.90: {verdict})")
    if len(best) > 2:
        print(f"ratio job / headless on every core: {best.iloc[1] / best.iloc[2]:.3f} (the job "
              "leaves a core to the server and browser; see cnncore.jobs.WORKER_THREADS)")  # fmt: skip
    tiny = TrainConfig(epochs=1, batch_size=64, max_batches=10)
    print("queue check (2 slots, 3 jobs):")
    for line in queue_check(data, tiny):
        print(f"  {line}")
    return 0 if ratio >= 0.9 else 1


# --- end bench jobs ---

# --- convolve subcommand (issue 3) ---


def _add_convolve(sub) -> None:
    from cnncore import conv

    p = sub.add_parser("convolve", help="step a filter over a 5x5 input and print every step")
    p.add_argument(
        "--input",
        default="X (lesson)",
        help=f"a sample ({', '.join(conv.SAMPLES)}) or rows like '0 1 0; 1 1 1; ...'",
    )
    p.add_argument("--preset", default="X detector (lesson)", help=", ".join(conv.PRESETS))
    p.add_argument(
        "--kernel", help="kernel rows instead of a preset, e.g. '1 0 -1; 2 0 -2; 1 0 -1'"
    )
    p.add_argument("--size", type=int, choices=(3, 5), default=3, help="preset kernel size")
    p.add_argument("--bias", type=float, default=0.0)
    p.add_argument("--stride", type=_int_at_least(1), default=1)
    p.add_argument("--padding", type=_int_at_least(0), default=0)
    p.add_argument("--activation", choices=conv.ACTIVATIONS, default="none")
    p.add_argument("--flip", action="store_true", help="true convolution (flip the kernel)")
    p.add_argument("--pool", choices=conv.POOL_MODES, help="then 2x2 pooling of the output map")
    p.set_defaults(func=_cmd_convolve)


def _cmd_convolve(args) -> int:
    from cnncore import conv

    if args.input in conv.SAMPLES:
        image = conv.sample(args.input)
    else:
        rows = [r for r in args.input.replace(";", "\n").splitlines() if r.strip()]
        image = conv.parse_grid_text(args.input, (len(rows), len(rows[0].split())), 0, 1)
    if args.kernel:
        n = len([r for r in args.kernel.replace(";", "\n").splitlines() if r.strip()])
        kernel = conv.parse_grid_text(args.kernel, (n, n), *conv.KERNEL_RANGE)
    else:
        kernel = conv.preset(args.preset, args.size)
    steps = conv.conv_steps(image, kernel, args.bias, args.stride, args.padding,
                            args.activation, args.flip)  # fmt: skip
    k, (ho, wo) = kernel.shape[-1], steps.output.shape
    print(f"input {tuple(image.shape)}, kernel {k}x{k}, stride {args.stride}, padding "
          f"{args.padding}: output {ho}x{wo} = floor(({image.shape[-1]} + 2*{args.padding} - {k})"
          f" / {args.stride}) + 1")  # fmt: skip
    for note in conv.fit_notes(image.shape[-1], k, args.stride, args.padding):
        print(f"note: {note}")
    for i in range(len(steps)):
        st = steps.step(i)
        print(f"step {i + 1} (window at row {st.top}, col {st.left}): {st.equation()}")
    print("output map:")
    for row in steps.output.tolist():
        print("  " + "  ".join(f"{conv.fmt(v, paren=False):>6}" for v in row))
    _, _, diff = conv.verify_with_torch(steps)
    print(f"F.conv2d agrees: max |difference| {diff:.1e}")
    if args.pool:
        pooled = conv.pool_steps(steps.output, args.pool)
        for i in range(len(pooled)):
            print(f"pool step {i + 1}: {pooled.equation(i)}")
    return 0


def _cmd_bench_conv(args) -> int:
    import time

    import torch

    from cnncore import conv

    for k in (3, 5):
        x, w = conv.colour_sample(), conv.preset("X detector (lesson)", k).expand(3, k, k)
        for channels in (1, 3):
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                steps = conv.conv_steps(x[:channels], w[:channels], 0.5, 1, 1, "relu")
                [steps.step(i).equation() for i in range(len(steps))]
                conv.pool_steps(steps.output, "max")
                runs.append(time.perf_counter() - t0)
            ms = torch.tensor(runs).median().item() * 1000
            print(f"conv animation {channels}x5x5 input, {k}x{k} kernel, padding 1 "
                  f"({len(steps)} steps, equations, pooling): {ms:.3f} ms median")  # fmt: skip
    print("page rerun after a slider change: python tests/bench_convolution_page.py")
    return 0


# --- end convolve subcommand ---

# --- compare subcommand (issue 5) ---


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="FCNet vs ConvNet on shifted (and scrambled) digits")
    add_data_args(p)
    p.set_defaults(data="bundled")
    p.add_argument("--models", default="convnet,fcnet",
                   help="comma-separated: convnet, fcnet, convnet-pool, convnet-gap")  # fmt: skip
    p.add_argument("--variants", action="store_true", help="add convnet-pool and convnet-gap")
    p.add_argument("--epochs", type=_int_at_least(1), default=10)
    p.add_argument("--seeds", type=_int_at_least(1), default=1, help="seeds 0..n-1 (mean, min-max)")
    p.add_argument("--max-shift", type=_int_at_least(1), default=4, help="largest shift K (px)")
    p.add_argument("--augment-shift", type=_int_at_least(0), default=0,
                   help="train with random shifts of up to this many px (0: off)")  # fmt: skip
    p.add_argument("--no-grid", action="store_true", help="skip the 2-D grid of shifts")
    p.add_argument("--permutation", action="store_true",
                   help="also train every model on scrambled pixels (doubles the training time)")  # fmt: skip
    p.add_argument("--test", default="", help="folder of t10k IDX files to test on instead")
    p.add_argument("--max-batches", type=_int_at_least(0), default=0, help="tiny-budget mode")
    p.add_argument("--out", default="compare-out", help="folder for the CSV files and figure")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    import time
    from pathlib import Path

    import pandas as pd

    from cnncore.data import read_idx_folder
    from cnncore.experiments import VARIANTS, CompareConfig, ink_region_start, run_comparison
    from cnncore.plots.invariance import accuracy_vs_shift

    started = time.perf_counter()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    models += [v for v in VARIANTS if args.variants and v not in models]
    config = CompareConfig(
        models=tuple(models), epochs=args.epochs, seeds=args.seeds, max_shift=args.max_shift,
        augment_shift=args.augment_shift, grid=not args.no_grid,
        permutation=args.permutation, max_batches=args.max_batches,
    ).validate()  # fmt: skip
    data = load_data_from_args(args)
    test = read_idx_folder(args.test, "test") if args.test else None
    print(f"testing on {len(test) if test else len(data.test):,} digits "
          f"({args.test or 'the data source test split'})")  # fmt: skip
    last = [""]

    def report(fraction, message):
        if message.split(",")[0] != last[0]:
            last[0] = message.split(",")[0]
            print(f"  [{fraction:4.0%}] {last[0]}", flush=True)

    result = run_comparison(data, config, report, test=test)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = result.curves[result.curves["direction"] == "mean"]
    wide = curves.pivot(index="shift", columns="model", values="accuracy_mean")
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):  # fmt: skip
        print("\nsummary (accuracy on unshifted digits; consistency C(K))")
        print(result.summary.to_string(index=False))
        print("\naccuracy by shift (mean of right/left/down/up)")
        print(wide[list(dict.fromkeys(curves["model"]))].to_string())
        print("\nink pushed out of the frame")
        print(result.ink.to_string(index=False))
        if result.permutation is not None:
            print("\nscrambled pixels (one fixed permutation, train and test)")
            print(result.permutation.to_string(index=False))
    for name, table in result.tables().items():
        table.to_csv(out / f"{name}.csv", index=False)
    fig = accuracy_vs_shift(result.curves, ink_from=ink_region_start(result.ink))
    fig.write_html(out / "accuracy_by_shift.html", include_plotlyjs=True)
    print(f"\nwrote {', '.join(f'{n}.csv' for n in result.tables())} and "
          f"accuracy_by_shift.html to {out}/")  # fmt: skip
    print(f"time: {time.perf_counter() - started:.1f} s (training included)")
    return 0


# --- end compare subcommand ---


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnncore", description="CNN Explorer from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_runs, _add_bench):
        add(sub)
    for name in ("_add_convolve", "_add_compare", "_add_publish"):
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
