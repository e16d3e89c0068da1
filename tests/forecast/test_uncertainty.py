"""The first-overload distribution means what it says: its 80% window holds the truth 80% of the time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.model import SeasonalTrendForecaster
from ml.overload import analyse_overload
from ml.scenarios import LoadTruth, history
from ml.uncertainty import OverloadSimulation, simulate_overload

SERIES = 100
LIMIT_KW = 80.0


def _true_first_crossing(truth: LoadTruth, future: pd.DatetimeIndex) -> pd.Timestamp | None:
    """When the generating process's expected load first exceeds the limit: the quantity estimated."""
    over = truth.expected(future) > LIMIT_KW
    return future[over.argmax()] if over.any() else None


def test_p10_to_p90_holds_the_true_first_overload_about_80_percent_of_the_time() -> None:
    """100 synthetic transformers (autocorrelated noise, growth rate varying), each with its own future.

    Coverage of a calibrated 80% window is Binomial(100, 0.8): standard error 4 points, so
    [0.68, 0.92] is +-3 standard errors; a window from the point forecast alone, or one ignoring
    the noise's memory, lands far outside it.
    """
    rng = np.random.default_rng(2024)
    covered = 0
    for i in range(SERIES):
        truth = LoadTruth(growth_kw_per_year=float(rng.uniform(3.0, 6.0)), noise_rho=0.6)
        series = history(truth, seed=1000 + i)
        model = SeasonalTrendForecaster(trend="linear", detect_level_shifts=False).fit(series.index, series)
        future = pd.date_range(series.index[-1] + pd.Timedelta(hours=1), periods=4 * 8760, freq="h")
        simulation = simulate_overload(model, future, LIMIT_KW, draws=100, seed=i)
        first = _true_first_crossing(truth, future)
        p10, p90 = simulation.first_overload_quantile(0.1), simulation.first_overload_quantile(0.9)
        after_p10 = first is not None and p10 is not None and pd.Timestamp(p10) <= first
        before_p90 = p90 is None or (first is not None and first <= pd.Timestamp(p90))
        covered += after_p10 and before_p90
    assert 0.68 <= covered / SERIES <= 0.92


def test_quantiles_and_year_end_probabilities_are_read_exactly() -> None:
    stamps = pd.date_range("2025-01-01", "2027-12-31 23:00", freq="h")
    in_2025, in_2026 = 100, int(np.searchsorted(stamps, pd.Timestamp("2026-06-01")))
    first = np.array([in_2025] * 3 + [in_2026] * 5 + [-1] * 2)  # 10 draws, 2 never overload
    simulation = OverloadSimulation(stamps, first, 4.5)
    assert simulation.first_overload_quantile(0.1) == stamps[in_2025].isoformat()
    assert simulation.first_overload_quantile(0.5) == "2026-06-01T00:00:00"
    assert simulation.first_overload_quantile(0.9) is None  # the 9th of 10 draws never overloads
    assert simulation.p_overload_by_year_end() == {"2025": 0.3, "2026": 0.8, "2027": 0.8}
    assert simulation.expected_overload_hours == 4.5


def test_the_report_carries_the_distribution_beside_the_point_forecast() -> None:
    series = history(LoadTruth(), seed=9)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    future = pd.date_range("2025-01-01", periods=5 * 8760, freq="h")
    report = analyse_overload(model.predict_interval(future), 85.0, 0.8, simulate_overload(model, future, 85.0))
    data = report.as_dict()
    quantiles = [pd.Timestamp(data[f"first_overload_p{q}"]) for q in (10, 50, 90)]
    assert quantiles == sorted(quantiles)
    probabilities = list(data["p_overload_by_year_end"].values())
    assert probabilities == sorted(probabilities) and probabilities[-1] == 1.0
    assert data["expected_overload_hours"] > 0 and data["simulation_draws"] == 100
    # The distribution is of the same quantity as the point forecast, so it brackets it.
    assert quantiles[0] <= pd.Timestamp(data["first_overload_at"]) <= quantiles[2]


def test_the_simulation_is_reproducible_and_bounded_in_memory_by_blocks() -> None:
    series = history(LoadTruth(), seed=10)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    future = pd.date_range("2025-01-01", periods=8760, freq="h")
    limit = 81.0  # crossed late in the year, on a day that varies with the draw
    one = simulate_overload(model, future, limit, draws=60, seed=3, block_hours=7)
    two = simulate_overload(model, future, limit, draws=60, seed=3)
    np.testing.assert_array_equal(one.first_index, two.first_index)
    assert one.hours_over == two.hours_over
    assert one.first_index.shape == (60,)
    assert len(set(one.first_index.tolist())) > 3
    other = simulate_overload(model, future, limit, 60, 4)
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(one.first_index, other.first_index)
