"""The clean-export shortcut of validation gives exactly what the general path gives, or steps aside.

``validate_load`` reads the usual export (fixed-width stamps one hour apart in order, plain decimal
readings) on its bytes; every other file takes the general path, which also explains what is wrong.
Here each file is validated both ways and the answers (series, quality report, or error message)
must be the same, including files that differ from a clean export by one character.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ml.validation as validation
from ml.iso_stamps import fixed_width_seconds
from ml.steps.data_io import read_text_csv
from ml.validation import DataPolicy, DataValidationError, validate_load

HOURS = 10_960  # enough history for the default policy
SHORT = DataPolicy(min_history_hours=48)


def _export(start: str = "2023-01-01", hours: int = HOURS, fmt: str = "%Y-%m-%d %H:%M", seed: int = 0) -> list[str]:
    stamps = pd.date_range(start, periods=hours, freq="h").strftime(fmt)
    kw = np.random.default_rng(seed).uniform(20, 80, hours).round(2)
    return [f"{stamp},{value:.2f}" for stamp, value in zip(stamps, kw, strict=True)]


def _outcome(raw: pd.DataFrame, policy: DataPolicy | None) -> tuple[str, object]:
    try:
        series, quality = validate_load(raw, "load.csv", policy)
    except DataValidationError as exc:
        return "refused", str(exc)
    return "read", (series, quality)


def _both_ways(tmp_path: Path, rows: list[str], policy: DataPolicy | None, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    path = tmp_path / "load.csv"
    path.write_text("timestamp,kw\n" + "\n".join(rows) + "\n")
    raw = read_text_csv(path)
    fast = _outcome(raw, policy)
    with monkeypatch.context() as patch:
        patch.setattr(validation, "_clean_hourly", lambda *args: None)
        general = _outcome(raw, policy)
    return fast, general, raw


def _assert_same(fast, general) -> None:  # type: ignore[no-untyped-def]
    assert fast[0] == general[0], (fast, general)
    if fast[0] == "refused":
        assert fast[1] == general[1]
        return
    pd.testing.assert_series_equal(fast[1][0], general[1][0], check_freq=True)
    assert fast[1][1] == general[1][1]


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
def test_a_clean_export_takes_the_shortcut_to_the_same_series(tmp_path: Path, monkeypatch, fmt: str) -> None:  # type: ignore[no-untyped-def]
    fast, general, raw = _both_ways(tmp_path, _export(fmt=fmt), None, monkeypatch)
    assert validation._clean_hourly(raw, "load.csv", DataPolicy()) is not None  # the shortcut was taken
    _assert_same(fast, general)
    assert fast[1][0].index.freqstr == "h" and fast[1][1].repairs() == []


def _one_change(rows: list[str], at: int, row: str | None) -> list[str]:
    changed = list(rows)
    if row is None:
        del changed[at]
    else:
        changed[at] = row
    return changed


BASE = _export(start="2024-02-27", hours=200)
CHANGES = {
    "a gap": _one_change(BASE, 50, None),
    "a repeated row": [*BASE[:51], BASE[50], *BASE[51:]],
    "a conflicting repeat": [*BASE[:51], BASE[50].split(",")[0] + ",1.00", *BASE[51:]],
    "two rows swapped": [*BASE[:50], BASE[51], BASE[50], *BASE[52:]],
    "half past": [row.replace(":00,", ":30,", 1) for row in BASE],
    "an impossible day": _one_change(BASE, 0, "2024-02-30 00:00,5.00"),
    "hour 24": _one_change(BASE, 0, "2024-02-26 24:00,5.00"),
    "a leap second": _one_change(BASE, 0, "2024-02-26 23:59:60,5.00"),
    "an offset": _one_change(BASE, 0, "2024-02-27 00:00+00:00,5.00"),
    "a space": _one_change(BASE, 0, " 2024-02-27 00:00,5.00"),
    "a stamp with seconds among minutes": _one_change(BASE, 0, "2024-02-27 00:00:00,5.00"),
    "a negative reading": _one_change(BASE, 3, BASE[3].split(",")[0] + ",-5.00"),
    "an exponent": _one_change(BASE, 3, BASE[3].split(",")[0] + ",5e1"),
    "a blank reading": _one_change(BASE, 3, BASE[3].split(",")[0] + ","),
    "an absurd reading": _one_change(BASE, 3, BASE[3].split(",")[0] + ",99999"),
    "text": _one_change(BASE, 3, BASE[3].split(",")[0] + ",n/a"),
    "a stuck sensor": [row.split(",")[0] + ",42.00" if 10 <= i < 190 else row for i, row in enumerate(BASE)],
    "few distinct readings": [row.split(",")[0] + f",{i % 3}.00" for i, row in enumerate(BASE)],
    "a year out of range": _export(start="1899-12-31", hours=200),
    "dates to the end of the range": _export(start="2199-12-25", hours=200),
    "a leap day at a century": _export(start="2000-02-28", hours=200),
    "no leap day at a century": _one_change(_export(start="2100-02-28", hours=200), 30, "2100-02-29 06:00,5.00"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_file_one_change_from_clean_gets_the_general_answer(tmp_path: Path, monkeypatch, change: str) -> None:  # type: ignore[no-untyped-def]
    fast, general, _ = _both_ways(tmp_path, CHANGES[change], SHORT, monkeypatch)
    _assert_same(fast, general)


def test_too_short_a_history_is_refused_the_same_way(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fast, general, _ = _both_ways(tmp_path, BASE, None, monkeypatch)
    assert fast[0] == "refused" and "hours" in str(fast[1])
    _assert_same(fast, general)


def test_fixed_width_stamps_read_as_pandas_reads_them() -> None:
    rng = np.random.default_rng(3)
    seconds = rng.integers(pd.Timestamp("1900-01-01").value // 10**9, pd.Timestamp("2199-12-31").value // 10**9, 5000)
    stamps = pd.to_datetime(seconds, unit="s")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        text = pd.Series(stamps.strftime(fmt), dtype=pd.StringDtype("pyarrow", na_value=np.nan))
        np.testing.assert_array_equal(fixed_width_seconds(text), seconds)


@pytest.mark.parametrize(
    "stamp",
    [
        "2023-02-29 00:00",
        "1900-02-29 00:00",
        "2023-13-01 00:00",
        "2023-00-10 00:00",
        "2023-01-00 00:00",
        "2023-04-31 00:00",
        "2023-01-01 24:00",
        "2023-01-01 00:60",
        "2023/01/01 00:00",
        "2023-01-01 0a:00",
    ],
)
def test_what_is_not_a_valid_fixed_width_stamp_is_left_to_the_general_parser(stamp: str) -> None:
    text = pd.Series(["2023-01-01 00:00", stamp], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    assert fixed_width_seconds(text) is None


def _typed_export(hours: int = 200, start: str = "2024-02-27") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=hours, freq="h")
    return pd.DataFrame({"timestamp": stamps, "kw": np.random.default_rng(1).uniform(20, 80, hours).round(2)})


def _typed_change(change: str) -> pd.DataFrame:
    frame = _typed_export()
    if change == "a missing reading":
        frame.loc[5, "kw"] = np.nan
    elif change == "a negative reading":
        frame.loc[5, "kw"] = -1.0
    elif change == "an absurd reading":
        frame.loc[5, "kw"] = 1e6
    elif change == "a gap":
        frame = frame.drop(index=50)
    elif change == "two rows swapped":
        frame = frame.iloc[[*range(50), 51, 50, *range(52, 200)]]
    elif change == "a repeated row":
        frame = pd.concat([frame.iloc[:51], frame.iloc[50:]])
    elif change == "half past":
        frame["timestamp"] += pd.Timedelta(minutes=30)
    elif change == "a fraction of a second":
        frame["timestamp"] += pd.Timedelta(milliseconds=1)
    elif change == "an offset":
        frame["timestamp"] = frame["timestamp"].dt.tz_localize("Europe/Berlin")
    elif change == "a missing time":
        frame.loc[5, "timestamp"] = pd.NaT
    elif change == "whole kilowatts":
        frame["kw"] = frame["kw"].round().astype(int)
    elif change == "milliseconds":
        frame["timestamp"] = frame["timestamp"].astype("datetime64[ms]")
    elif change == "a year out of range":
        frame["timestamp"] -= pd.Timedelta(days=365 * 125)
    return frame


TYPED = ["clean", "a missing reading", "a negative reading", "an absurd reading", "a gap", "two rows swapped",
         "a repeated row", "half past", "a fraction of a second", "an offset", "a missing time", "whole kilowatts",
         "milliseconds", "a year out of range"]  # fmt: skip


@pytest.mark.parametrize("change", TYPED)
def test_a_typed_table_gets_the_answer_its_text_gets(change: str) -> None:
    """Parquet values go to validation typed: a clean table is taken as it is, anything else as its text."""
    typed = _typed_change(change)
    assert validation._typed(typed)
    _assert_same(_outcome(typed, SHORT), _outcome(validation.as_text(typed), SHORT))
    taken = validation._clean_typed(typed, "load.parquet", SHORT) is not None
    assert taken == (change in ("clean", "whole kilowatts", "milliseconds"))
