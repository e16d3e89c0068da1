"""Every way the input can be wrong gets a specific message; every repair is reported."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from ml.steps.data_io import load_series, read_raw
from ml.synthetic import synthetic_load
from ml.validation import DataPolicy, DataValidationError, validate_load

HEADER = "timestamp,kw\n"


def write(tmp_path: Path, text: str, name: str = "load.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def full_history() -> pd.DataFrame:
    return synthetic_load(years=2).astype({"kw": str})


def error_of(path: Path, policy: DataPolicy | None = None) -> str:
    with pytest.raises(DataValidationError) as caught:
        load_series(path, policy)
    return str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert error_of(path) == f"{path}: no such file; pass an existing CSV with '--data'."


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert error_of(path) == f"{path}: the file is empty; expected a header 'timestamp,kw' and hourly rows."


def test_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER)
    assert error_of(path) == f"{path}: has a header but no data rows; expected hourly 'timestamp,kw' rows."


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,load\n2023-01-01 00:00,5\n")
    assert error_of(path) == (
        f"{path}: missing column 'kw'; expected a header with 'timestamp' and 'kw' (found: timestamp, load)."
    )


def test_unparseable_timestamps_name_lines(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,5\nyesterday,6\n2023-01-01 02:00,7\n2023-13-45 00:00,8\n")
    assert error_of(path) == (
        f"{path}: column 'timestamp' has 2 unparseable value(s) at line 3 ('yesterday'), "
        "line 5 ('2023-13-45 00:00'); expected ISO-8601 like '2023-01-01 00:00'."
    )


def test_non_numeric_kw(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,5\n2023-01-01 01:00,12,5\n".replace("12,5", "12;5"))
    assert error_of(path) == (
        f"{path}: column 'kw' has non-numeric text on 1 row(s) at line 3 ('12;5'); expected a number in kW."
    )


def test_negative_kw(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,5\n2023-01-01 01:00,-3\n")
    assert error_of(path) == (
        f"{path}: column 'kw' has 1 negative reading(s) at line 3 ('-3'); load in kW cannot be below 0."
    )


def test_absurd_kw(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,52000\n2023-01-01 01:00,inf\n")
    assert error_of(path) == (
        f"{path}: column 'kw' has 2 physically implausible reading(s) at line 2 ('52000'), line 3 ('inf'); "
        "expected at most 10000 kW (check the unit: W instead of kW?)."
    )


def test_conflicting_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,5\n2023-01-01 01:00,6\n2023-01-01 00:00,9\n")
    assert error_of(path) == (
        f"{path}: column 'timestamp' repeats 1 time(s) with different 'kw' values "
        "(2023-01-01 00:00 on lines 2, 4); expected one reading per hour. Remove the wrong rows."
    )


def test_sub_hourly_stamps(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,5\n2023-01-01 00:30,6\n2023-01-01 01:00,6\n")
    message = error_of(path)
    assert message.startswith(f"{path}: column 'timestamp' is not hourly: 1 stamp(s) fall between hours, at line 3")


def test_daily_data_is_not_hourly(tmp_path: Path) -> None:
    days = pd.date_range("2020-01-01", periods=800, freq="D").strftime("%Y-%m-%d %H:%M")
    path = write(tmp_path, HEADER + "".join(f"{d},50\n" for d in days))
    assert error_of(path) == (
        f"{path}: column 'timestamp' is not hourly: the typical spacing is 1 days 00:00:00; "
        "expected 1 hour between readings."
    )


def test_too_little_history_says_minimum_and_why(tmp_path: Path) -> None:
    frame = synthetic_load(years=1)
    path = tmp_path / "short.csv"
    frame.to_csv(path, index=False)
    assert error_of(path) == (
        f"{path}: only 8760 hours (365 days) of history; at least 10950 hours (456 days) are needed so that the "
        "training split (first 80%) covers a full year and the yearly cycle can be estimated, not guessed."
    )


def test_too_much_missing(tmp_path: Path) -> None:
    frame = full_history()
    frame.loc[frame.index % 5 == 0, "kw"] = ""  # 20% of readings blank
    path = tmp_path / "holey.csv"
    frame.to_csv(path, index=False)
    assert error_of(path) == (
        f"{path}: column 'kw' is missing for 20.0% of the hours between the first and last reading; "
        "at most 10% can be left out before the fit is unreliable."
    )


def test_gap_longer_than_a_week(tmp_path: Path) -> None:
    frame = full_history().drop(index=range(1000, 1200))  # 200 consecutive hours absent
    path = tmp_path / "gap.csv"
    frame.to_csv(path, index=False)
    assert error_of(path) == (
        f"{path}: column 'kw' has a gap of 200 consecutive hours with no reading "
        "(2023-02-11 16:00 to 2023-02-19 23:00); at most 168 hours are tolerated."
    )


def test_policy_bounds_are_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2023-01-01 00:00,120\n")
    assert "expected at most 100 kW" in error_of(path, DataPolicy(max_kw=100))


def test_repairs_are_made_and_reported() -> None:
    frame = full_history()
    frame.loc[10, "kw"] = ""  # a sensor dropout
    frame = frame.drop(index=range(100, 106))  # six hours absent
    frame = pd.concat([frame, frame.iloc[[50, 51]]])  # exact duplicates
    frame = frame.sample(frac=1.0, random_state=1)  # shuffled export
    series, quality = validate_load(frame.reset_index(drop=True), "mem.csv")

    assert series.index.is_monotonic_increasing
    assert series.index.freq == "h" or (series.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    assert len(series) == 17520
    assert series.isna().sum() == 7  # 1 blank + 6 absent, left as gaps, never invented
    assert quality.rows_were_unsorted
    assert quality.exact_duplicates_dropped == 2
    assert quality.missing_readings == 1
    assert quality.missing_hours == 6
    assert quality.longest_gap_hours == 6
    assert quality.repairs() == [
        "rows were not in time order: sorted",
        "2 exact duplicate rows dropped",
        "1 empty kw readings left out of the fit",
        "6 hours absent from the file left out of the fit (longest gap 6 h)",
    ]


def test_extra_calendar_columns_are_ignored(seed_csv: Path) -> None:
    raw = read_raw(seed_csv)
    assert {"hour", "season"} <= set(raw.columns)
    series, quality = load_series(seed_csv)
    assert len(series) == 17520 and quality.repairs() == []
    assert re.match(r"2023-01-01T00:00:00", quality.start)
