"""A forecast keeps its own record: the previous forecast is scored on the hours observed since."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from transformers import YEARS, truth, write_csv

from ml.model import SeasonalTrendForecaster
from ml.scenarios import history
from ml.steps.predict import predict
from ml.steps.promote import promote
from ml.steps.train import train
from ml.track_record import moved_days, score_previous_forecast


def test_the_previous_forecast_is_scored_on_the_new_actuals(state: Path, tmp_path: Path) -> None:
    load = truth(300.0, 0.02, rho=0.0)
    full = history(load, seed=5, years=YEARS + 0.25)  # a quarter of a year more, same transformer
    earlier = full.iloc[: round(YEARS * 365) * 24]
    for run, series in (("first", earlier), ("second", full)):
        (tmp_path / run).mkdir()
        data = write_csv(series, tmp_path / run / "tx-300.csv")
        train(data, tmp_path / run / "m", SeasonalTrendForecaster())
        promote(data, tmp_path / run / "m", tmp_path / run / "d")
        report = predict(data, tmp_path / run / "out", limit_kw=420.0, decision_dir=tmp_path / run / "d")

    changes = report["since_last_run"]
    assert isinstance(changes, dict) and changes["previous_model_version"] == "1"
    scored = changes["previous_forecast_on_new_data"]
    new_hours = len(full) - len(earlier)
    assert scored["overlap_hours"] == new_hours
    # The first forecast was right: its error on the new quarter is the noise (2% of 300 kW = 6 kW), unbiased.
    assert 5.0 < scored["forecast_rmse_kw"] < 8.0
    assert abs(scored["forecast_bias_kw"]) < 2.0
    assert 0.7 < scored["interval_hit_rate"] < 0.9  # the 80% interval held about 80% of the new hours
    assert abs(changes["moved_days"]["first_overload_at"]) <= 30  # more data, much the same answer


def test_moved_days_and_no_overlap() -> None:
    assert moved_days(
        {"first_overload_at": "2027-01-01T00:00:00", "first_overload_p10": None},
        {"first_overload_at": "2027-01-11T12:00:00", "first_overload_p10": "2026-12-01T00:00:00"},
    ) == {"first_overload_at": 10.5, "first_overload_p10": None, "first_overload_p50": None, "first_overload_p90": None}
    forecast = pd.DataFrame(
        {"timestamp": ["2030-01-01 00:00"], "predicted_kw": [1.0], "lower_kw": [0.0], "upper_kw": [2.0]}
    )
    assert score_previous_forecast(forecast, pd.Series([1.0], index=pd.DatetimeIndex(["2024-01-01"]))) is None
