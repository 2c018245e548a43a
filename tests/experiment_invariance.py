"""Check issue 5's claims with real numbers: train the matched pair on the bundled 5,000 digits,
test on the real MNIST test set (10,000), and print PASS/FAIL per claim.

    python tests/experiment_invariance.py [--test ../shared/data/mnist-t10k] [--epochs 10]

Not collected by pytest (it trains for real: about a minute). Exit status 1 if a claim fails.
The thresholds are the issue's; they are not tuned to what this script measures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnncore.data import load_data, read_idx_folder  # noqa: E402
from cnncore.experiments import CompareConfig, run_comparison  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", default=str(ROOT.parent / "shared" / "data" / "mnist-t10k"))
    parser.add_argument("--epochs", type=int, default=CompareConfig.epochs)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    data = load_data("bundled")
    test = read_idx_folder(args.test, "test")
    config = CompareConfig(epochs=args.epochs, seeds=args.seeds, max_shift=4, grid=False,
                           permutation=True)  # fmt: skip
    print(f"train: {len(data.train):,} bundled digits, {args.epochs} epochs, {args.seeds} seed(s); "
          f"test: {len(test):,} digits from {args.test}")  # fmt: skip
    result = run_comparison(data, config, test=test)
    curves = result.curves[result.curves["direction"] == "mean"]
    acc = curves.pivot(index="shift", columns="model", values="accuracy_mean")
    print("\naccuracy by shift (%, mean of right/left/down/up):")
    print((100 * acc).round(1).to_string())
    perm = result.permutation.set_index("model")
    print("\nscrambled pixels (%):")
    print((100 * perm[["original_mean", "scrambled_mean"]]).round(2).to_string())

    claims = []
    for k in range(1, 5):
        cnn, fc = 100 * acc.loc[k, "convnet"], 100 * acc.loc[k, "fcnet"]
        need = 15 if k in (2, 3) else 0
        claims.append((f"ConvNet above FCNet at {k} px" + (f" by >= {need} points" if need else ""),
                       cnn - fc > need if not need else cnn - fc >= need,
                       f"{cnn:.1f}% vs {fc:.1f}% ({cnn - fc:+.1f} points)"))  # fmt: skip
    fc_change = perm.loc["fcnet", "change_points_mean"]
    cnn_change = perm.loc["convnet", "change_points_mean"]
    claims.append(("scrambled FCNet within 1 point of unscrambled", abs(fc_change) <= 1,
                   f"{fc_change:+.2f} points"))  # fmt: skip
    claims.append(("scrambled ConvNet at least 3 points lower", cnn_change <= -3,
                   f"{cnn_change:+.2f} points"))  # fmt: skip
    print()
    for claim, ok, detail in claims:
        print(f"{'PASS' if ok else 'FAIL'}  {claim}: {detail}")
    print(f"\ntime: {time.perf_counter() - started:.1f} s")
    return 0 if all(ok for _, ok, _ in claims) else 1


if __name__ == "__main__":
    sys.exit(main())
