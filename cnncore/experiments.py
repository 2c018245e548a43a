"""The translation experiments end to end: train a matched set of models (same data, epochs and
seeds), measure them on shifted test digits, and run the scrambled-pixel experiment.

``run_comparison`` trains; ``analyse`` measures models you already have (e.g. saved runs). Both
return a ``Comparison`` of pandas DataFrames, with several seeds reduced to mean, min and max.
``report(fraction, message)`` and ``control.stop_requested`` let a background job show progress
and stop it between steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from cnncore import invariance as inv
from cnncore.data import Dataset, Split
from cnncore.errors import UserError
from cnncore.models import MODEL_NAMES, build_model, count_parameters
from cnncore.train import TrainConfig, Trainer, autocast, resolve_precision

# a model's training cost per image relative to the FCNet's (multiply-adds, roughly): only for
# an evenly moving progress bar; time estimates are measured (estimate_comparison_seconds)
RELATIVE_COST = {
    "fcnet": 1,
    "convnet": 20,
    "convnet-pool": 4,
    "convnet-blurpool": 5,
    "convnet-gap": 20,
    "convnet-circular": 40,
}
MAX_SEEDS = 5
MAX_EPOCHS = 30
MATCHED_PAIR = ("convnet", "fcnet")
# the "make it invariant" variants: max pooling, its anti-aliased form (Zhang 2019), a global
# average head, and circular padding + global average (exactly invariant to circular shifts)
VARIANTS = ("convnet-pool", "convnet-blurpool", "convnet-gap", "convnet-circular")


@dataclass
class CompareConfig:
    """What a comparison trains and measures. Defaults: the matched pair, one seed, 4 px."""

    models: tuple[str, ...] = MATCHED_PAIR  # keys of cnncore.models.MODEL_NAMES
    epochs: int = 5  # the same for every model (5: the default comparison stays within a minute)
    seeds: int = 1  # seeds first_seed..first_seed+n-1; several give mean with min-max bands
    first_seed: int = 0
    max_shift: int = 4  # K: curves for k = 0..K, grid over [-K, K]^2, consistency C(K)
    augment_shift: int = 0  # >0: train every model with random shifts of up to this many px
    grid: bool = True  # also measure the 2-D grid (else only the eight 1-D directions)
    permutation: bool = False  # also train every model on scrambled pixels (doubles training)
    max_batches: int = 0  # >0: tiny-budget mode for tests (batches per epoch)
    test_limit: int = 0  # >0: measure on only the first n test digits
    shift_mode: str = "zero"  # how test digits are shifted: "zero" fill or "circular" wrap

    def validate(self) -> CompareConfig:
        models = tuple(self.models)
        if not models:
            raise UserError("choose at least one model to compare")
        bad = [m for m in models if m not in MODEL_NAMES]
        if bad:
            raise UserError(f"unknown model {bad[0]!r}; choose from {', '.join(MODEL_NAMES)}")
        if len(set(models)) != len(models):
            raise UserError("each model can be chosen only once")
        inv.check_max_shift(self.max_shift, low=1)
        inv.check_mode(self.shift_mode)
        if not _is_int(self.first_seed) or self.first_seed < 0:
            raise UserError("the first seed must be a whole number >= 0")
        if not _is_int(self.seeds) or not 1 <= self.seeds <= MAX_SEEDS:
            raise UserError(
                f"the number of seeds must be a whole number from 1 to {MAX_SEEDS} "
                f"(got {self.seeds!r}); more costs minutes and narrows the bands "
                "very little"
            )
        if not _is_int(self.epochs) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise UserError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}")
        if not _is_int(self.augment_shift) or not 0 <= self.augment_shift <= inv.MAX_SHIFT:
            raise UserError(f"training shifts must be 0 (off) to {inv.MAX_SHIFT} px")
        self.models = models
        return self


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class Comparison:
    """Every table of a comparison (long format, one row per model and measurement)."""

    summary: pd.DataFrame  # model, parameters, clean accuracy mean/min/max, consistency, seconds
    curves: pd.DataFrame  # model, direction, shift, accuracy/agreement mean/min/max
    grid: pd.DataFrame  # model, dx, dy, accuracy, agreement (means over seeds)
    per_class: pd.DataFrame  # model, digit, shift, accuracy (mean over seeds)
    ink: pd.DataFrame  # shift, ink_lost, digits_losing_ink
    permutation: pd.DataFrame | None = None  # model, original, scrambled, change (points)
    models: dict[str, nn.Module] = field(default_factory=dict)  # label -> the seed-0 model
    seconds: float = 0.0
    shift_mode: str = "zero"  # how the test digits were shifted
    all_models: dict[tuple[str, int], nn.Module] = field(default_factory=dict)  # every seed
    train_seconds: dict[tuple[str, int], float] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {
            "summary": self.summary,
            "accuracy_by_shift": self.curves,
            "grid": self.grid,
            "per_class": self.per_class,
            "ink_lost": self.ink,
        }
        if self.permutation is not None:
            out["permutation"] = self.permutation
        return out


Report = Callable[[float, str], None]


def _noop(fraction: float, message: str) -> None:
    pass


def _reduce(df: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, min and max over seeds of each metric, grouped by ``keys``."""
    g = df.groupby(keys, sort=False)[metrics]
    out = (
        g.mean()
        .add_suffix("_mean")
        .join(g.min().add_suffix("_min"))
        .join(g.max().add_suffix("_max"))
    )
    return out.reset_index()


def label_for(name: str, augment_shift: int = 0) -> str:
    return f"{name} +shift≤{augment_shift}" if augment_shift else name


def _precision(model: nn.Module) -> str:
    """Measure in the precision training used ("auto": bf16 on CPUs with fast bf16, ~4x faster
    for the ConvNet here; it changes a prediction only where two classes nearly tie)."""
    return resolve_precision("auto", next(model.parameters()).device)


def _stopped(control) -> bool:
    return control is not None and getattr(control, "stop_requested", False)


def train_models(
    data: Dataset,
    config: CompareConfig,
    report: Report = _noop,
    control=None,
    train_split: Split | None = None,
    span: tuple[float, float] = (0.0, 1.0),
    store=None,
) -> dict[tuple[str, int], tuple[nn.Module, float]]:
    """Train every (model, seed) of ``config`` on the same data: {(name, seed): (model, s)}.
    With a ``store`` (a RunStore) each trained model is also saved as a run, so it outlives the
    comparison and can be picked again, or on the other pages."""
    if train_split is not None:
        data = Dataset(data.source, data.reason, data.classes, train_split, data.val, data.test)
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    jobs = [(m, s) for s in seeds for m in config.models]
    # weight progress by each model's rough cost per batch so the bar moves evenly
    cost = {m: RELATIVE_COST.get(m, 20) for m in config.models}
    total = sum(cost[m] for m, _ in jobs)
    done, out = 0, {}
    lo, hi = span
    for name, seed in jobs:
        if _stopped(control):
            break
        tc = TrainConfig(
            model=name,
            epochs=config.epochs,
            seed=seed,
            augment_shift=config.augment_shift,
            max_batches=config.max_batches,
        )

        def on_event(event, name=name, seed=seed, base=done):
            if event.kind == "train":
                v = event.values
                frac = (
                    base
                    + cost[name] * v["batch"] / v["batches_per_epoch"] / config.epochs * event.epoch
                ) / total
                report(
                    lo + (hi - lo) * frac,
                    f"training {name} (seed {seed}), epoch {event.epoch}/{config.epochs}",
                )

        result = Trainer(tc, data, on_event=on_event, control=control).run()
        if result.status == "diverged":
            raise UserError(f"{name} (seed {seed}) diverged: {result.message}")
        if store is not None and result.status == "finished":
            store.save(
                result,
                tc,
                data.source,
                name=f"invariance: {label_for(name, config.augment_shift)}, seed {seed}",
            )
        out[(name, seed)] = (result.model.eval(), result.seconds)
        done += cost[name]
    return out


def analyse(
    models: dict[tuple[str, int], nn.Module],
    test: Split,
    max_shift: int,
    grid: bool = True,
    report: Report = _noop,
    control=None,
    span: tuple[float, float] = (0.0, 1.0),
    seconds: dict | None = None,
    mode: str = "zero",
) -> Comparison:
    """Measure trained models {(label, seed): model} on copies of ``test`` shifted with zero fill
    or circularly (``mode``). The summary's ``ink_kept_agreement``: how often a shifted digit
    that kept all its ink in the frame gets its unshifted prediction."""
    inv.check_max_shift(max_shift, low=1)
    inv.check_mode(mode)
    if len(test) == 0:
        raise UserError("the test split is empty; there is nothing to measure")
    shifts = inv.shifts_needed(max_shift, grid)
    kept = inv.ink_kept(test.images, shifts) if mode == "zero" else None
    curves, grids, classes, summary = [], [], [], []
    lo, hi = span
    for i, ((label, seed), model) in enumerate(models.items()):
        if _stopped(control):
            break

        def on_shift(j, n, i=i, label=label):
            frac = (i + j / n) / len(models)
            report(lo + (hi - lo) * frac, f"measuring {label} on shifted digits, {j}/{n}")

        preds = inv.predict_shifted(
            model, test.images, shifts, _precision(model), on_shift, mode=mode
        )
        tags = {"model": label, "seed": seed}
        curves.append(inv.accuracy_by_shift(preds, test.labels, max_shift).assign(**tags))
        classes.append(inv.per_class_accuracy(preds, test.labels, max_shift).assign(**tags))
        if grid:
            grids.append(inv.accuracy_grid(preds, test.labels, max_shift).assign(**tags))
        summary.append(
            {
                **tags,
                "parameters": count_parameters(model),
                "accuracy": (preds[(0, 0)] == test.labels).float().mean().item(),
                "consistency": inv.consistency(
                    model, test.images, max_shift, seed, 2, _precision(model), mode
                ),
                "ink_kept_agreement": inv.agreement_where_ink_kept(preds, kept)
                if kept
                else _agreement(preds),
                "train_seconds": (seconds or {}).get((label, seed), float("nan")),
            }
        )
    if not summary:
        raise UserError("stopped before any model was measured")
    summary = pd.DataFrame(summary)
    table = _reduce(summary, ["model"], ["accuracy", "consistency", "ink_kept_agreement"])
    table.insert(1, "parameters", summary.groupby("model", sort=False)["parameters"].first().values)
    table.insert(2, "seeds", summary.groupby("model", sort=False)["seed"].count().values)
    table["train_seconds"] = summary.groupby("model", sort=False)["train_seconds"].mean().values
    table.insert(table.columns.get_loc("consistency_mean"), "K", max_shift)
    curves = _reduce(pd.concat(curves), ["model", "direction", "shift"], ["accuracy", "agreement"])
    grid_df = (
        pd.concat(grids)
        .groupby(["model", "dx", "dy"], sort=False)[["accuracy", "agreement"]]
        .mean()
        .reset_index()
        if grids
        else pd.DataFrame(columns=["model", "dx", "dy", "accuracy", "agreement"])
    )
    per_class = (
        pd.concat(classes).groupby(["model", "digit", "shift"], sort=False)["accuracy"].mean()
    )
    first = {label: m for (label, seed), m in models.items() if seed == min(s for _, s in models)}
    return Comparison(
        table,
        curves,
        grid_df,
        per_class.reset_index(),
        inv.ink_lost(test.images, max_shift),
        models=first,
        shift_mode=mode,
        all_models=dict(models),
        train_seconds=dict(seconds or {}),
    )


def _agreement(preds: dict[inv.Shift, torch.Tensor]) -> float:
    """How often any shifted copy gets the unshifted prediction (every shift but (0, 0))."""
    base = preds[(0, 0)]
    same = [(p == base).float() for s, p in preds.items() if s != (0, 0)]
    return torch.cat(same).mean().item() if same else float("nan")


def remeasure(
    result: Comparison,
    test: Split,
    mode: str,
    max_shift: int,
    grid: bool = True,
    report: Report = _noop,
    control=None,
) -> Comparison:
    """The same trained models measured again with the other kind of shift (no retraining)."""
    again = analyse(
        result.all_models,
        test,
        max_shift,
        grid,
        report,
        control,
        seconds=result.train_seconds,
        mode=mode,
    )
    again.permutation = result.permutation
    again.seconds = result.seconds
    return again


def permutation_experiment(
    data: Dataset,
    config: CompareConfig,
    original: dict[str, float],
    report: Report = _noop,
    control=None,
    test: Split | None = None,
    span: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> pd.DataFrame:
    """Train every model of ``config`` on pixels scrambled by one fixed permutation (train and
    test alike) and compare with its accuracy on the original pixels (``original``: model ->
    clean accuracy). Rows: model, original, scrambled, change (percentage points)."""
    perm = inv.pixel_permutation(seed)
    test = test or data.test
    scrambled = Dataset(
        data.source,
        data.reason,
        data.classes,
        inv.permute_split(data.train, perm),
        inv.permute_split(data.val, perm),
        inv.permute_split(data.test, perm),
    )
    cfg = CompareConfig(**{**config.__dict__, "augment_shift": 0}).validate()
    trained = train_models(scrambled, cfg, report, control, span=span)
    test_p = inv.permute_split(test, perm)
    rows = []
    for (name, s), (model, _) in trained.items():
        acc = (
            (inv.predict(model, test_p.images, _precision(model)) == test_p.labels)
            .float()
            .mean()
            .item()
        )
        rows.append(
            {
                "model": name,
                "seed": s,
                "original": original.get((name, s), float("nan")),
                "scrambled": acc,
            }
        )
    df = pd.DataFrame(rows)
    df["change_points"] = 100 * (df["scrambled"] - df["original"])
    return _reduce(df, ["model"], ["original", "scrambled", "change_points"])


def run_comparison(
    data: Dataset,
    config: CompareConfig | None = None,
    report: Report = _noop,
    control=None,
    test: Split | None = None,
    store=None,
) -> Comparison:
    """Train the matched models on ``data`` and measure them on ``test`` (default: the data's
    test split); with ``config.permutation`` also run the scrambled-pixel experiment."""
    config = (config or CompareConfig()).validate()
    started = time.perf_counter()
    test = test or data.test
    if config.test_limit:
        test = Split(test.images[: config.test_limit], test.labels[: config.test_limit])
    # progress spans: training, measuring, then the scrambled-pixel training
    a, b = (0.45, 0.55) if config.permutation else (0.8, 1.0)
    trained = train_models(data, config, report, control, span=(0.0, a), store=store)
    if _stopped(control) or not trained:
        raise UserError("the comparison was stopped before training finished")
    models = {(label_for(n, config.augment_shift), s): m for (n, s), (m, _) in trained.items()}
    seconds = {(label_for(n, config.augment_shift), s): t for (n, s), (_, t) in trained.items()}
    result = analyse(
        models,
        test,
        config.max_shift,
        config.grid,
        report,
        control,
        span=(a, b),
        seconds=seconds,
        mode=config.shift_mode,
    )
    if config.permutation and not _stopped(control):
        original = {}
        plain = {(n, s): m for (n, s), (m, _) in trained.items()}
        if (
            config.augment_shift
        ):  # the scrambled models train without shifts; compare like with like
            plain = {
                k: v[0]
                for k, v in train_models(
                    data, CompareConfig(**{**config.__dict__, "augment_shift": 0}), control=control
                ).items()
            }
        for key, model in plain.items():
            original[key] = (
                (inv.predict(model, test.images, _precision(model)) == test.labels)
                .float()
                .mean()
                .item()
            )
        result.permutation = permutation_experiment(
            data, config, original, report, control, test=test, span=(b, 1.0)
        )
    result.seconds = time.perf_counter() - started
    report(1.0, f"done in {result.seconds:.1f} s")
    return result


def findings(result: Comparison) -> list[str]:
    """What the measurement says about the "make it invariant" variants, as plain sentences with
    their numbers (the page and the CLI show them): the circular model's invariance under the
    shifts measured, and anti-aliased against plain max pooling on consistency."""
    summary = result.summary.set_index("model")
    curves = result.curves[result.curves["direction"] == "mean"]
    k = int(summary["K"].iloc[0]) if len(summary) else 0
    by_kind = {label.split(" ")[0]: label for label in summary.index}
    out = []
    if "convnet-circular" in by_kind:
        label = by_kind["convnet-circular"]
        row = summary.loc[label]
        acc = curves.loc[curves["model"] == label, "accuracy_mean"]
        if result.shift_mode == "circular":
            out.append(
                f"{label}, circular shifts: consistency C({k}) {row['consistency_mean']:.1%}, "
                f"accuracy {acc.min():.1%} to {acc.max():.1%} over shifts 0 to {k} px "
                f"(spread {100 * (acc.max() - acc.min()):.2f} points): invariant by construction."
            )
        else:
            out.append(
                f"{label}, zero-fill shifts: digits that keep all their ink in the frame get their "
                f"unshifted answer {row['ink_kept_agreement_mean']:.1%} of the time; it loses "
                f"only where ink falls off the edge (consistency C({k}) "
                f"{row['consistency_mean']:.1%})."
            )
    if "convnet-blurpool" in by_kind and "convnet-pool" in by_kind:
        blur = summary.loc[by_kind["convnet-blurpool"], "consistency_mean"]
        pool = summary.loc[by_kind["convnet-pool"], "consistency_mean"]
        verdict = "beats" if blur > pool else "does not beat"
        out.append(
            f"Anti-aliased pooling {verdict} plain max pooling on consistency: C({k}) "
            f"{blur:.1%} against {pool:.1%} ({100 * (blur - pool):+.1f} points)."
        )
    return out


# ------------------------------------------------------------------------------------ estimate


_SPEEDS: dict[tuple[str, int, str], tuple[float, float]] = {}
_SPEEDS_LOCK = threading.Lock()  # one measurement at a time: two would slow each other down


def measured_seconds_per_image(name: str, threads: int, device: str = "cpu") -> tuple[float, float]:
    """(training, forward) seconds per image of a fresh ``name`` model on this machine, in the
    precision a comparison uses: a few batches of random digits, timed on a thread set up like a
    job's worker (``threads`` intra-op threads). Measured once per process (about 0.1-1 s)."""
    key = (name, threads, device)
    with _SPEEDS_LOCK:
        if key not in _SPEEDS:
            _SPEEDS[key] = _measure_seconds_per_image(name, threads, device)
        return _SPEEDS[key]


def speeds_measured(threads: int, device: str = "cpu") -> bool:
    """True once every model's speed is measured; otherwise measure them in a background thread
    (started once) so that a page can show its estimate a moment later without waiting."""
    missing = [n for n in MODEL_NAMES if (n, threads, device) not in _SPEEDS]
    if missing and not any(t.name == "measure-speeds" for t in threading.enumerate()):
        threading.Thread(
            target=lambda: [measured_seconds_per_image(n, threads, device) for n in missing],
            name="measure-speeds",
            daemon=True,
        ).start()
    return not missing


def _measure_seconds_per_image(name: str, threads: int, device: str) -> tuple[float, float]:
    out: list[tuple[float, float]] = []

    def measure() -> None:
        from cnncore.jobs import set_intraop_threads

        set_intraop_threads(threads)
        dev = torch.device(device)
        precision = resolve_precision("auto", dev)
        torch.manual_seed(0)
        model = build_model(name).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.rand(TrainConfig.batch_size, 1, 28, 28, device=dev)
        y = torch.randint(0, 10, (len(x),), device=dev)

        def step() -> None:
            with autocast(dev, precision):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step()  # the first step pays one-off costs (allocations, kernel choice)
        started = time.perf_counter()
        for _ in range(ESTIMATE_BATCHES):
            step()
        train = (time.perf_counter() - started) / (ESTIMATE_BATCHES * len(x))
        inv.predict(model, x[:64], precision)
        started = time.perf_counter()
        inv.predict(model, x.repeat(2, 1, 1, 1), precision)
        forward = (time.perf_counter() - started) / (2 * len(x))
        out.append((train, forward))

    worker = threading.Thread(target=measure, name="measure-speed")
    worker.start()
    worker.join()
    return out[0]


ESTIMATE_BATCHES = 2


def estimate_comparison_seconds(
    config: CompareConfig, data: Dataset, threads: int | None = None
) -> float:
    """How long ``run_comparison(data, config)`` should take on this machine: the images it
    trains on and the images it predicts, counted from the config, times each model's measured
    seconds per image (``measured_seconds_per_image``). The page shows this before Start."""
    from cnncore.jobs import WORKER_THREADS

    config = config.validate()
    threads = threads or WORKER_THREADS
    n_train, n_val = len(data.train), len(data.val)
    n_test = min(len(data.test), config.test_limit) if config.test_limit else len(data.test)
    batch = TrainConfig.batch_size
    per_epoch = min(n_train, config.max_batches * batch) if config.max_batches else n_train
    trainings = 1  # the models; with the scrambled-pixel experiment, again on scrambled pixels,
    if config.permutation:  # and once more without shifts when the models trained with them
        trainings += 2 if config.augment_shift else 1
    shifts = len(inv.shifts_needed(config.max_shift, config.grid))
    predicted = n_test * (shifts + 4)  # every shifted copy, and two consistency pairs
    if config.permutation:
        predicted += 2 * n_test  # clean accuracy on original and scrambled pixels
    total = 0.0
    for name in config.models:
        train_s, forward_s = measured_seconds_per_image(name, threads)
        evaluated = config.epochs * n_val + n_test  # the Trainer's validation and test passes
        total += trainings * (config.epochs * per_epoch * train_s + evaluated * forward_s)
        total += predicted * forward_s
    return total * config.seeds


def ink_region_start(ink: pd.DataFrame, threshold: float = 0.01) -> int | None:
    """The first shift at which digits lose more than ``threshold`` of their ink on average."""
    over = ink.loc[ink["ink_lost"] > threshold, "shift"]
    return int(over.iloc[0]) if len(over) else None
