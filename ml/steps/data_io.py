"""Read the load CSV (or make the built-in one) and fingerprint it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ml.synthetic import synthetic_load
from ml.validation import DataPolicy, DataQuality, DataValidationError, validate_load


def read_raw(path: Path) -> pd.DataFrame:
    """Every cell as text, so validation can quote exactly what the file says."""
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file; pass an existing CSV with '--data'.")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: the file is empty; expected a header 'timestamp,kw' and hourly rows.")
    return read_text_csv(path)


def read_text_csv(path: Path) -> pd.DataFrame:
    """A CSV file as a table of text, as ``pandas.read_csv(dtype=str, skip_blank_lines=False)`` reads it
    (missing values NaN, blank lines kept as rows so line numbers hold); an unreadable file is refused.

    A plain file (a simple header, no missing value, no blank line) is read by Arrow's CSV reader, which
    gives the very same table in a third of the time; anything it would read differently goes through pandas.
    """
    fast = _plain_csv(path)
    if fast is not None:
        return fast
    try:
        return pd.read_csv(path, dtype=str, skip_blank_lines=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: not a readable CSV file ({exc}).") from None


def _plain_csv(path: Path) -> pd.DataFrame | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with path.open("rb") as handle:
        header = handle.readline(4096).rstrip(b"\r\n")
    if not header or any(byte in header for byte in b"\"'\xef\t") or not header.isascii():
        return None  # quoted, byte-order-marked, tab-separated or odd headers: pandas decides what they mean
    names = header.decode("ascii").split(",")
    if len(set(names)) != len(names) or any(name.strip() != name or not name for name in names):
        return None  # pandas renames repeated and empty names ("kw.1", "Unnamed: 1")
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False),  # a blank line is an error here: pandas
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=sorted(pd._libs.parsers.STR_NA_VALUES),  # what pandas reads as missing
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.column_names != names or any(column.null_count for column in table.columns):
        return None
    text = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' own text columns
    return table.to_pandas(types_mapper={pa.string(): text}.get)


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
