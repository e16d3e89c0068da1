"""Growth shape: the rule picks the shape that generated the data, and records the runner-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history
from ml.trend import choose_trend, effective_bic


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linear_growth_is_called_linear_and_measured(seed: int) -> None:
    series = history(LoadTruth(growth_kw_per_year=5.0), seed)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    assert model.trend_ == "linear"
    assert model.runner_up_trend_ == "compound"
    assert model.growth_kw_per_year_ == pytest.approx(5.0, abs=0.25)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compounding_growth_is_called_compound_and_measured(seed: int) -> None:
    series = history(LoadTruth(compound_pct_per_year=10.0), seed)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    assert model.trend_ == "compound"
    assert model.growth_pct_per_year_ == pytest.approx(10.0, abs=1.5)
    selection = model.trend_selection_
    assert selection["bic_compound"] < selection["bic_linear"] - 2


def test_compound_forecast_tracks_the_truth_five_years_out_better_than_the_runner_up() -> None:
    truth = LoadTruth(compound_pct_per_year=10.0)
    series = history(truth, seed=4)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    future = pd.date_range(series.index[-1] + pd.Timedelta(hours=1), periods=5 * 8760, freq="h")
    chosen = np.sqrt(np.mean((model.predict(future) - truth.expected(future)) ** 2))
    other = np.sqrt(np.mean((model.predict_runner_up(future) - truth.expected(future)) ** 2))
    assert chosen < other


def test_a_fixed_trend_is_obeyed_and_an_unknown_one_refused() -> None:
    series = history(LoadTruth(compound_pct_per_year=10.0), seed=5)
    model = SeasonalTrendForecaster(trend="linear").fit(series.index, series.to_numpy())
    assert model.trend_ == "linear" and model.trend_selection_["rule"] == "fixed"
    with pytest.raises(ValueError, match="trend="):
        SeasonalTrendForecaster(trend="quadratic").fit(series.index, series.to_numpy())


def test_the_rule_needs_evidence_to_leave_linear() -> None:
    assert choose_trend({"linear": 100.0, "compound": 99.0}) == "linear"
    assert choose_trend({"linear": 100.0, "compound": 97.0}) == "compound"
    # Autocorrelation shrinks the evidence: the same residual sums count for less.
    independent = effective_bic(90.0, 1000, 3, 0.0) - effective_bic(100.0, 1000, 3, 0.0)
    correlated = effective_bic(90.0, 1000, 3, 0.8) - effective_bic(100.0, 1000, 3, 0.8)
    assert abs(correlated) == pytest.approx(abs(independent) * 0.2 / 1.8, rel=1e-9)


def test_reference_data_keeps_its_linear_five_kw_growth(reference_csv) -> None:
    frame = pd.read_csv(reference_csv, usecols=["timestamp", "kw"])
    model = SeasonalTrendForecaster().fit(pd.to_datetime(frame["timestamp"]), frame["kw"].to_numpy())
    assert model.trend_ == "linear"
    assert model.growth_kw_per_year_ == pytest.approx(5.0, abs=0.2)
    assert model.level_shifts_ == []


def test_lag1_autocorrelation_is_numpys_correlation_of_the_shifted_copies() -> None:
    from ml.trend import lag1_autocorrelation

    rng = np.random.default_rng(8)
    for size in (3, 10, 500, 17_520):
        values = np.cumsum(rng.normal(size=size)) * rng.uniform(0.1, 100)
        assert lag1_autocorrelation(values) == pytest.approx(np.corrcoef(values[:-1], values[1:])[0, 1], abs=1e-12)
    assert lag1_autocorrelation(np.array([1.0, 2.0])) == 0.0  # too short to say
    assert lag1_autocorrelation(np.full(50, 7.0)) == 0.0  # constant: undefined, taken as none
    assert lag1_autocorrelation(np.array([1.0, 1.0, 1.0, 2.0])) == 0.0  # one copy constant (corrcoef: nan)
