"""The forecaster recovers known structure, beats the seed's accuracy and keeps the estimator contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ml.evaluate import chronological_split, forecast_index, holdout_scores
from ml.model import SeasonalTrendForecaster
from ml.steps.data_io import load_series
from ml.synthetic import synthetic_load

SEED_TEST_RMSE_KW = 2.09  # the Prophet pipeline gridcast replaces


@pytest.fixture(scope="module")
def synthetic() -> pd.Series:
    frame = synthetic_load()
    return pd.Series(frame["kw"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["timestamp"])))


def test_recovers_known_growth_and_noise(synthetic: pd.Series) -> None:
    model = SeasonalTrendForecaster().fit(synthetic.index, synthetic.to_numpy())
    assert model.growth_kw_per_year_ == pytest.approx(5.0, abs=0.15)
    assert model.sigma_ == pytest.approx(2.0, abs=0.1)


def test_seed_data_test_rmse_no_worse_than_seed(seed_csv: Path) -> None:
    series, _ = load_series(seed_csv)
    scores = holdout_scores(SeasonalTrendForecaster(), series)
    assert scores["rmse"] <= SEED_TEST_RMSE_KW
    assert scores["val_rmse"] < 2.1


def test_skips_gaps_instead_of_inventing_values(synthetic: pd.Series) -> None:
    holey = synthetic.copy()
    holey.iloc[::7] = np.nan
    model = SeasonalTrendForecaster().fit(holey.index, holey.to_numpy())
    assert model.n_observations_ == holey.notna().sum()
    assert model.growth_kw_per_year_ == pytest.approx(5.0, abs=0.2)


def test_estimator_contract(synthetic: pd.Series) -> None:
    model = SeasonalTrendForecaster(daily_order=3, yearly_order=2)
    assert model.get_params()["daily_order"] == 3
    copy = clone(model)
    assert not hasattr(copy, "coef_")
    a = model.fit(synthetic.index, synthetic.to_numpy()).predict(synthetic.index[:48])
    b = copy.fit(synthetic.index, synthetic.to_numpy()).predict(synthetic.index[:48])
    np.testing.assert_array_equal(a, b)  # deterministic: same data, same coefficients


def test_predict_before_fit_is_a_clear_error() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SeasonalTrendForecaster().predict(pd.date_range("2024-01-01", periods=3, freq="h"))


def test_interval_contains_about_its_coverage_and_widens(synthetic: pd.Series) -> None:
    split = chronological_split(synthetic)
    model = SeasonalTrendForecaster(coverage=0.8).fit(split.train.index, split.train.to_numpy())
    band = model.predict_interval(split.test.index)
    inside = ((split.test.to_numpy() >= band["lower_kw"]) & (split.test.to_numpy() <= band["upper_kw"])).mean()
    assert 0.75 <= inside <= 0.9
    future = model.predict_interval(forecast_index(synthetic.index[-1], 5))
    width = future["upper_kw"] - future["lower_kw"]
    assert width.iloc[-1] > width.iloc[0]  # trend uncertainty grows with the horizon


def test_forecast_index_is_five_years_hourly_from_the_next_hour() -> None:
    index = forecast_index(pd.Timestamp("2024-12-30 23:00"), 5)
    assert index[0] == pd.Timestamp("2024-12-31 00:00")
    assert index[-1] == pd.Timestamp("2029-12-30 23:00")
    assert len(index) == 43_824


def test_chronological_split_shares(synthetic: pd.Series) -> None:
    split = chronological_split(synthetic)
    assert (len(split.train), len(split.validation), len(split.test)) == (14016, 1752, 1752)
    assert split.train.index[-1] < split.validation.index[0] < split.test.index[0]
