"""Command line: ``python -m cnncore train | runs | bench | convolve | compare | export``.

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
    from cnncore.data import DEFAULT_ROOT, SOURCES
    from cnncore.models import MODEL_NAMES
    from cnncore.train import OPTIMIZERS, PRECISIONS

    p = sub.add_parser("train", help="train a model and save it as a run (or resume one)")
    # Training settings default to None: TrainConfig's defaults (the lesson's) fill them in, and
    # --resume can tell a setting given on the command line from one left out.
    p.add_argument("--data", default=None, help=f"data source: {', '.join(SOURCES)} (default auto)")
    p.add_argument("--data-root", default=DEFAULT_ROOT, help="folder for torchvision datasets")
    p.add_argument("--no-download", action="store_true", help="never try to download")
    p.add_argument("--model", default=None, choices=list(MODEL_NAMES), help="default convnet")
    p.add_argument("--epochs", type=_int_at_least(1), default=None, help="default 3")
    p.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=None, help="default 256")
    p.add_argument("--optimizer", default=None, choices=OPTIMIZERS, help="default adam")
    p.add_argument("--seed", type=_int_at_least(0), default=None, help="default 0")
    p.add_argument("--precision", default=None, choices=PRECISIONS, help="default auto")
    p.add_argument(
        "--max-batches",
        type=_int_at_least(0),
        default=None,
        help="stop each epoch after N batches (a tiny-budget dry run)",
    )
    p.add_argument("--runs", default="runs", help="runs root folder")
    p.add_argument("--workspace", default="local", help=WORKSPACE_HELP)
    p.add_argument("--name", default=None, help="a name for the run")
    p.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted run (see `runs`) from its last epoch end, in place, with "
        "its own settings and data",
    )
    p.set_defaults(func=_cmd_train)


def _why(config) -> str:
    """Why ``auto`` precision chose what it chose (the measured bf16 ÷ fp32 speed)."""
    if config.precision != "auto":
        return ""
    from cnncore.speed import auto_precision
    from cnncore.train import resolve_device

    precision, ratio = auto_precision(resolve_device(config.device))
    return f" (auto: bf16 measured {ratio:.2f}x the speed of fp32 on this machine)"


TRAIN_SETTINGS = (
    "model",
    "epochs",
    "lr",
    "batch_size",
    "optimizer",
    "seed",
    "precision",
    "max_batches",
)


def _start_run(args, store):
    """(config, data, writer, resume state or None) of ``train``: a new run, or with
    ``--resume`` the interrupted run reopened in place (checked before any data is loaded)."""
    from cnncore.data import load_data
    from cnncore.train import TrainConfig

    if not args.resume:
        given = {n: getattr(args, n) for n in TRAIN_SETTINGS if getattr(args, n) is not None}
        config = TrainConfig(**given).validate()
        store.check_writable()  # refuse an unwritable store before loading data or training
        args.data = args.data or "auto"
        data = load_data_from_args(args)
        return config, data, store.begin(config, data.source, name=args.name or ""), None
    given = [n for n in (*TRAIN_SETTINGS, "name") if getattr(args, n) is not None]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise UserError(
            f"--resume continues run {args.resume} with its own settings; leave out {flags}"
        )
    store.check_writable()
    info, _config, _state = store.load_resume(args.resume)  # refused here, before loading data
    source = (info.summary or {}).get("data") or ""
    if args.data is not None and args.data != source:
        raise UserError(
            f"run {args.resume} trained on {source}; leave out --data to resume it on that data"
        )
    data = load_data(source, args.data_root, allow_download=not args.no_download)
    if data.source != source:
        raise UserError(f"run {args.resume} trained on {source}, which could not be loaded")
    print(f"data: {data.summary()} (the run's own)")
    writer, config, state = store.resume(args.resume)
    return config, data, writer, state


def _cmd_train(args) -> int:
    """Train and write the run as it goes: metrics rows as they come, a checkpoint (weights and
    resume state) at each epoch end. Ctrl-C asks the Trainer to stop after the current batch
    and saves the run as stopped (a second Ctrl-C quits at once; the run then lists as
    interrupted). A kill leaves an interrupted run with its curves and last checkpoint, which
    ``--resume RUN_ID`` continues from its last epoch end."""
    import signal

    from tqdm import tqdm

    from cnncore.runs import event_row, training_state
    from cnncore.train import TrainControl, Trainer

    store = workspace_store(args)
    config, data, writer, state = _start_run(args, store)
    control, ctrl_c = TrainControl(), []
    bar = trainer = None

    def on_event(event):
        nonlocal bar
        v = event.values
        if event.kind == "start":
            where = f"on {v['device']} with {v['precision']}{_why(config)}"
            run = f"run {writer.id}"
            if v.get("resumed_after"):
                run += f", resumed after epoch {v['resumed_after']} of {config.epochs}"
            print(f"training {config.model} {where} ({run}; Ctrl-C stops and saves it)")
            bar = tqdm(
                total=v["total_batches"], initial=event.step, unit="batch", dynamic_ncols=True
            )
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
        writer.append([event_row(event)])
        if event.kind == "val":
            writer.checkpoint(trainer.model, event.epoch, training_state(trainer, event.epoch))

    def on_ctrl_c(signum, frame):
        if ctrl_c:  # a second Ctrl-C: quit now
            raise KeyboardInterrupt
        ctrl_c.append(signum)
        control.stop()

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        trainer = Trainer(config, data, on_event=on_event, control=control, resume=state)
        result = trainer.run()
        signal.signal(signal.SIGINT, previous)
        run_id = writer.finish(result)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"quit: run {writer.id} is kept as interrupted, with its curves and last checkpoint")
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        writer.close()
    if ctrl_c:
        where = f"{store.root}/ as {result.status}"
        print(f"stopped by Ctrl-C after {trainer.step} batches: saved run {run_id} in {where}")
        return 130
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
    from pathlib import Path

    from cnncore.workspaces import Workspaces, folder_for, normalize_code

    root = Path(args.runs)
    if root.parent.name == "ws" or root.name == "gallery":  # would migrate runs into itself
        top = root.parent.parent if root.parent.name == "ws" else root.parent
        raise UserError(
            f"{root} is a folder inside a runs folder; give the runs folder itself "
            f"(--runs {top}) and pick the workspace with --workspace or --gallery"
        )
    spaces = Workspaces(root)
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


def _printable(value):
    """A cell of the runs table: blank when missing, whole numbers without ".0", and text from a
    run folder without control characters (a name could hold terminal escapes)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if not isinstance(value, str):
        return value
    return "".join(ch if ch.isprintable() else "?" for ch in value)


def _cmd_runs(args) -> int:
    import pandas as pd

    store = workspace_store(args)
    if args.delete:
        store.delete(args.delete)
        print(f"deleted run {args.delete}")
        return 0
    runs = store.list()  # never raises: damaged folders are listed with a problem
    table = store.table(runs)
    if table.empty:
        print(f"no runs in {store.root}/")
        return 0
    cols = ["id", "name", "status", "model", "data", "epochs", "lr", "val_acc", "test_acc"]
    cols.append("problem")
    table = table[cols].astype(object).map(_printable)
    wide = {"display.width": 250, "display.max_columns": 20, "display.max_colwidth": None}
    with pd.option_context(*[x for kv in wide.items() for x in kv]):
        print(table.to_string(index=False))
    where = "" if args.runs == "runs" else f" --runs {args.runs}"
    where += "" if args.workspace == "local" else f" --workspace {args.workspace}"
    for info in runs:
        if info.resumable:
            print(f"resume {info.id}: python -m cnncore train --resume {info.id}{where}")
    return 0


# ------------------------------------------------------------------------------------- bench


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (speed and accuracy)")
    bench = p.add_subparsers(dest="bench", required=True)
    pipe = bench.add_parser("pipeline", help="roofline: FLOPs, matmul peaks, pipelines, precisions")
    pipe.add_argument("--batches", type=_int_at_least(1), default=64, help="batches per pipeline")
    pipe.add_argument(
        "--repeats", type=_int_at_least(1), default=3, help="alternating repeats, seeds 0..n-1"
    )
    pipe.add_argument("--batch-size", type=_int_at_least(1), default=256)
    pipe.set_defaults(func=_cmd_bench_pipeline)
    refresh = bench.add_parser("refresh", help="live panel refresh cost at 1k, 100k, 1M batches")
    refresh.add_argument("--repeats", type=_int_at_least(1), default=5)
    refresh.set_defaults(func=_cmd_bench_refresh)
    est = bench.add_parser("estimate", help="the training page's time estimate vs the real run")
    add_data_args(est)
    est.set_defaults(data="bundled")
    est.add_argument("--recalibrate", action="store_true", help="measure this machine again first")
    est.set_defaults(func=_cmd_bench_estimate)
    readme = bench.add_parser("readme", help="regenerate the README's benchmark table (Markdown)")
    readme.add_argument("--batches", type=_int_at_least(1), default=64)
    readme.add_argument("--repeats", type=_int_at_least(1), default=3)
    readme.add_argument(
        "--idx",
        default="/usr/share/datasets/fashion-mnist",
        help="a 60,000-image IDX folder to train 3 epochs on ('' to skip)",
    )
    readme.add_argument("--out", default="", help="write the table to this file too")
    readme.set_defaults(func=_cmd_bench_readme)
    acc = bench.add_parser("accuracy", help="train on a source, test on an IDX test set")
    add_data_args(acc)
    acc.set_defaults(data="bundled")
    acc.add_argument(
        "--test",
        default="../shared/data/mnist-t10k",
        help="folder with t10k-images/labels IDX files (the real MNIST test set)",
    )
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
    jobs.add_argument(
        "--poll",
        type=_positive_float,
        default=2.0,
        help="seconds between polls (the page polls every 2 s)",
    )
    jobs.add_argument("--repeats", type=_int_at_least(1), default=3)
    jobs.set_defaults(func=_cmd_bench_jobs)
    # --- end bench jobs ---


def _cmd_bench_pipeline(args) -> int:
    from cnncore.bench import print_roofline, roofline

    print_roofline(roofline(args.batches, args.batch_size, args.repeats))
    return 0


def _cmd_bench_refresh(args) -> int:
    import torch

    from cnncore.bench import refresh_cost
    from cnncore.speed import cpu_model

    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads")
    table = refresh_cost(repeats=args.repeats)
    print(table.round(2).to_string(index=False))
    print(
        "refresh: the job's snapshot + loss and validation figures built and serialised; "
        "unchanged poll: snapshot(since=version) when nothing changed; before: a copy of "
        "the whole history with every point plotted"
    )
    return 0


def _cmd_bench_estimate(args) -> int:
    from cnncore.bench_jobs import estimate_check
    from cnncore.speed import cpu_model

    data = load_data_from_args(args)
    r = estimate_check(data, recalibrate=args.recalibrate)
    print(
        f"CPU: {cpu_model()}; the training page's default run ({r['precision']}, "
        f"{r['threads']} thread(s), polled like the page): estimated {r['estimate_s']:.1f} s, "
        f"took {r['actual_s']:.1f} s ({r['ratio']:.2f}x the estimate; target 0.70-1.30)"
    )
    return 0


def _cmd_bench_readme(args) -> int:
    from pathlib import Path

    from cnncore.bench import bigger_data, print_roofline, readme_table, refresh_cost, roofline

    report = roofline(args.batches, 256, args.repeats)
    print_roofline(report, out=lambda line: print(line, file=sys.stderr))
    refresh = refresh_cost()
    bigger = bigger_data(args.idx) if args.idx and Path(args.idx).is_dir() else None
    table = readme_table(report, refresh, bigger)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
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
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, max_batches=args.max_batches
    ).validate()
    table = throughput(args.data, config, args.poll, args.repeats)
    print(table.round(1).to_string(index=False))
    best = table.groupby("mode", sort=False)["images_per_s"].max()
    for mode, rate in best.items():
        print(f"{mode}: {rate:.0f} images/s (best of {args.repeats})")
    ratio = best.iloc[1] / best.iloc[0]
    verdict = "met" if ratio >= 0.9 else "NOT met"
    print(f"ratio job / headless on the same threads: {ratio:.3f} (target >= 0.90: {verdict})")
    if len(best) > 2:
        print(
            f"ratio job / headless on every core: {best.iloc[1] / best.iloc[2]:.3f} (the job "
            "leaves a core to the server and browser; see cnncore.jobs.WORKER_THREADS)"
        )
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
    p.add_argument("--json", action="store_true", help="print the page's stepper data as JSON")
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
    steps = conv.conv_steps(
        image, kernel, args.bias, args.stride, args.padding, args.activation, args.flip
    )
    if args.json:
        import json

        print(json.dumps(steps.to_payload(), ensure_ascii=False))
        return 0
    k, (ho, wo) = kernel.shape[-1], steps.output.shape
    print(
        f"input {tuple(image.shape)}, kernel {k}x{k}, stride {args.stride}, padding "
        f"{args.padding}: output {ho}x{wo} = floor(({image.shape[-1]} + 2*{args.padding} - {k})"
        f" / {args.stride}) + 1"
    )
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
            print(
                f"conv animation {channels}x5x5 input, {k}x{k} kernel, padding 1 "
                f"({len(steps)} steps, equations, pooling): {ms:.3f} ms median"
            )
    print("page rerun after a slider change: python tests/bench_convolution_page.py")
    return 0


# --- end convolve subcommand ---

# --- compare subcommand (issue 5) ---


def _add_compare(sub) -> None:
    from cnncore.experiments import VARIANTS, CompareConfig
    from cnncore.models import MODEL_NAMES

    p = sub.add_parser("compare", help="FCNet vs ConvNet on shifted (and scrambled) digits")
    add_data_args(p)
    p.set_defaults(data="bundled")
    p.add_argument(
        "--models",
        default="convnet,fcnet",
        help="comma-separated names from: " + ", ".join(MODEL_NAMES),
    )
    p.add_argument(
        "--variants", action="store_true", help="add the variants: " + ", ".join(VARIANTS)
    )
    p.add_argument(
        "--shift-mode",
        choices=["zero", "circular"],
        default="zero",
        help="shift test digits with zero fill (default) or circularly (wrap round)",
    )
    p.add_argument("--epochs", type=_int_at_least(1), default=CompareConfig.epochs)
    p.add_argument("--seeds", type=_int_at_least(1), default=1, help="seeds 0..n-1 (mean, min-max)")
    p.add_argument("--max-shift", type=_int_at_least(1), default=4, help="largest shift K (px)")
    p.add_argument(
        "--augment-shift",
        type=_int_at_least(0),
        default=0,
        help="train with random shifts of up to this many px (0: off)",
    )
    p.add_argument("--no-grid", action="store_true", help="skip the 2-D grid of shifts")
    p.add_argument(
        "--permutation",
        action="store_true",
        help="also train every model on scrambled pixels (doubles the training time)",
    )
    p.add_argument("--test", default="", help="folder of t10k IDX files to test on instead")
    p.add_argument("--max-batches", type=_int_at_least(0), default=0, help="tiny-budget mode")
    p.add_argument("--out", default="compare-out", help="folder for the CSV files and figure")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    import time
    from pathlib import Path

    import pandas as pd

    from cnncore.data import read_idx_folder
    from cnncore.experiments import (
        VARIANTS,
        CompareConfig,
        findings,
        ink_region_start,
        run_comparison,
    )
    from cnncore.plots.invariance import accuracy_vs_shift

    started = time.perf_counter()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    models += [v for v in VARIANTS if args.variants and v not in models]
    config = CompareConfig(
        models=tuple(models),
        epochs=args.epochs,
        seeds=args.seeds,
        max_shift=args.max_shift,
        augment_shift=args.augment_shift,
        grid=not args.no_grid,
        permutation=args.permutation,
        max_batches=args.max_batches,
        shift_mode=args.shift_mode,
    ).validate()
    data = load_data_from_args(args)
    test = read_idx_folder(args.test, "test") if args.test else None
    print(
        f"testing on {len(test) if test else len(data.test):,} digits "
        f"({args.test or 'the data source test split'})"
    )
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
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format
    ):
        print("\nsummary (accuracy on unshifted digits; consistency C(K))")
        print(result.summary.to_string(index=False))
        print("\naccuracy by shift (mean of right/left/down/up)")
        print(wide[list(dict.fromkeys(curves["model"]))].to_string())
        print("\nink pushed out of the frame")
        print(result.ink.to_string(index=False))
        if result.permutation is not None:
            print("\nscrambled pixels (one fixed permutation, train and test)")
            print(result.permutation.to_string(index=False))
        for line in findings(result):
            print(f"\n{line}")
    for name, table in result.tables().items():
        table.to_csv(out / f"{name}.csv", index=False)
    fig = accuracy_vs_shift(result.curves, ink_from=ink_region_start(result.ink))
    fig.write_html(out / "accuracy_by_shift.html", include_plotlyjs=True)
    print(
        f"\nwrote {', '.join(f'{n}.csv' for n in result.tables())} and "
        f"accuracy_by_shift.html to {out}/"
    )
    print(f"time: {time.perf_counter() - started:.1f} s (training included)")
    return 0


# --- end compare subcommand ---


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="a run as a standalone PyTorch script (.py) or notebook (.ipynb)"
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--to", required=True, metavar="FILE", help="FILE.py or FILE.ipynb")
    p.add_argument("--runs", default="runs", help="runs root folder")
    p.add_argument("--workspace", default="local", help=WORKSPACE_HELP)
    p.add_argument("--gallery", action="store_true", help="export a run of the class gallery")
    p.add_argument("--data", default=None, help="train on this source instead of the run's own")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    from cnncore.export import export_run

    path = export_run(workspace_store(args), args.run_id, args.to, args.data)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnncore", description="CNN Explorer from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_runs, _add_bench):
        add(sub)
    for name in ("_add_convolve", "_add_compare", "_add_export", "_add_publish"):
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
