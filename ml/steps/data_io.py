"""Read the load CSV (or make the built-in one) and fingerprint it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from ml.synthetic import synthetic_load
from ml.validation import DataPolicy, DataQuality, DataValidationError, validate_load


def read_raw(path: Path) -> pd.DataFrame:
    """Every cell as text, so validation can quote exactly what the file says."""
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file; pass an existing CSV with '--data'.")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: the file is empty; expected a header 'timestamp,kw' and hourly rows.")
    try:
        return pd.read_csv(path, dtype=str, skip_blank_lines=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: not a readable CSV file ({exc}).") from None


def load_series(
    path: Path, policy: DataPolicy | None = None, timezone: str | None = None
) -> tuple[pd.Series, DataQuality]:
    """The validated hourly series; with a ``timezone``, wall-clock stamps are read as that zone's and
    returned in UTC (stamps with an offset always are)."""
    return validate_load(read_raw(path), str(path), policy, timezone)


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_builtin_data(path: Path) -> Path:
    """Write the deterministic synthetic history (same bytes every time) for a run with no ``--data``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_load().to_csv(path, index=False)
    return path
