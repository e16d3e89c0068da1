"""Shared fixtures: the reference data (read from ../shared, never copied) and synthetic truths."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "peak_load.csv"


@pytest.fixture(scope="session")
def reference_csv() -> Path:
    if not REFERENCE.is_file():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE
