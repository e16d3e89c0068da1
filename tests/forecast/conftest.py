"""Shared fixtures: the reference data (read from ../shared, never copied) and synthetic truths."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reference_csv(seed_csv: Path) -> Path:
    """The reference data: skipped on a clone without ../shared, required in CI (see ``seed_csv``)."""
    return seed_csv
