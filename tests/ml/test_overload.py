"""The overload answer read off a forecast whose crossings are known by construction."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.overload import analyse_overload


def forecast(values: list[float], spread: float = 1.0) -> pd.DataFrame:
    stamps = pd.date_range("2025-01-01", periods=len(values), freq="h")
    series = pd.Series(values, dtype=float)
    return pd.DataFrame(
        {"timestamp": stamps, "predicted_kw": series, "lower_kw": series - spread, "upper_kw": series + spread}
    )


def test_first_overload_hours_episodes_and_peak() -> None:
    report = analyse_overload(forecast([80, 84.5, 86, 87, 84, 90, 80]), limit_kw=85, coverage=0.8)
    assert report.first_overload_at == "2025-01-01T02:00:00"
    assert report.first_overload_earliest == "2025-01-01T01:00:00"  # 84.5 + 1 > 85
    assert report.first_overload_latest == "2025-01-01T03:00:00"  # 86 - 1 is not above 85; 87 - 1 is
    assert report.overload_hours == 3
    assert report.overload_episodes == 2
    assert report.overload_hours_range == (2, 4)
    assert report.max_predicted_kw == 90
    assert report.max_predicted_at == "2025-01-01T05:00:00"
    assert (report.horizon_start, report.horizon_end) == ("2025-01-01T00:00:00", "2025-01-01T06:00:00")


def test_no_overload_is_null_not_a_date() -> None:
    report = analyse_overload(forecast([50, 60, 70]), limit_kw=85, coverage=0.8)
    assert report.first_overload_at is None
    assert report.overload_hours == 0
    assert report.as_dict()["first_overload_at"] is None


def test_empty_forecast_is_refused() -> None:
    with pytest.raises(ValueError, match="the forecast is empty"):
        analyse_overload(forecast([]), limit_kw=85, coverage=0.8)
