"""The lesson's invariance claims, checked for real (slow: it trains five models for a few
epochs on the bundled digits; about a minute on a quiet 2-core machine).

The claims and their thresholds live in ``tests/experiment_invariance.py``, which prints the
same checks as a report (``python tests/experiment_invariance.py --seed N``); the margins were
checked there on seeds 0, 1 and 2. Deselect with ``-m "not slow"``.
"""

import pytest

from tests.experiment_invariance import claims, measure

pytestmark = pytest.mark.slow


def test_invariance_claims_hold_on_the_bundled_digits(bundled):
    measured = measure(bundled, bundled.test, epochs=5, seed=0)
    results = claims(measured)
    for claim, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {claim}: {detail}")
    print(f"trained and measured in {measured.seconds:.0f} s")
    assert len(results) == 10
    failed = [f"{claim}: {detail}" for claim, ok, detail in results if not ok]
    assert not failed, "claims that do not hold:\n" + "\n".join(failed)
