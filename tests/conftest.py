"""Shared test set-up: the repo root on sys.path, and small bundled data for fast tests."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def bundled():
    """The bundled 5,000 digits, split 4,000/500/500 (loaded once per test session)."""
    from cnncore.data import load_data

    return load_data("bundled")


@pytest.fixture
def tiny_data(bundled):
    """A 600/200/200 slice of the bundled data, for training tests that must be quick."""
    from cnncore.data import Dataset, Split

    def head(split, n):
        return Split(split.images[:n], split.labels[:n])

    return Dataset(
        "bundled",
        "test slice",
        bundled.classes,
        head(bundled.train, 600),
        head(bundled.val, 200),
        head(bundled.test, 200),
    )
