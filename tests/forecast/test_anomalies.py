"""Stuck sensors and glitches are flagged, left out of the fit and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.anomalies import GROSS_WINDOW_HOURS, centred_median, flatline_mask, gross_outlier_mask, spike_mask
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history, with_sensor_faults


def test_flatline_marks_exactly_the_long_runs() -> None:
    values = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, np.nan, np.nan, np.nan, np.nan, 4.0])
    expected = [False, True, True, True, True, False, False, False, False, False, False, False]
    assert flatline_mask(values, min_hours=4).tolist() == expected


def test_spikes_are_the_outliers_by_robust_z() -> None:
    residuals = np.random.default_rng(0).normal(0, 2, 5000)
    residuals[[10, 200, 3000]] = [30.0, -25.0, 14.0]
    assert np.flatnonzero(spike_mask(residuals)).tolist() == [10, 200, 3000]


def test_faults_are_left_out_and_the_fit_stays_on_the_truth() -> None:
    truth = LoadTruth()
    clean = history(truth, seed=3)
    damaged, faulty = with_sensor_faults(clean, seed=3, gaps=20, spikes=40, flatlines=6)
    robust = SeasonalTrendForecaster().fit(damaged.index, damaged.to_numpy())
    naive = SeasonalTrendForecaster(robust=False).fit(damaged.index, damaged.to_numpy())
    assert robust.spike_hours_ == pytest.approx(40, abs=3)
    assert robust.flatline_hours_ >= 6 * 6
    # Few good hours are thrown away: at most the true reading each stuck run repeats, plus a handful.
    assert robust.spike_hours_ + robust.flatline_hours_ <= faulty.sum() + 6 + 5
    future = pd.date_range("2025-01-01", periods=5 * 8760, freq="h")

    def rmse(model: SeasonalTrendForecaster) -> float:
        return float(np.sqrt(np.mean((model.predict(future) - truth.expected(future)) ** 2)))

    assert rmse(robust) < rmse(naive)
    assert robust.sigma_ == pytest.approx(2.0, abs=0.1)  # the glitches no longer inflate the noise
    assert naive.sigma_ > 2.3


# -- the centred rolling median behind the gross-outlier check is pandas' rolling median, value for value
def _pandas(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).rolling(window, center=True, min_periods=window // 4).median().to_numpy()


@pytest.mark.parametrize("n", [1, 7, 24, 25, 26, 49, 1000, 17_520])
@pytest.mark.parametrize("rounding", [2, 0])  # 0: many ties
def test_the_centred_median_is_pandas_rolling_median(n: int, rounding: int) -> None:
    values = np.random.default_rng(n).normal(60, 8, n).round(rounding)
    np.testing.assert_array_equal(centred_median(values, GROSS_WINDOW_HOURS), _pandas(values, GROSS_WINDOW_HOURS))


def test_gaps_are_skipped_as_pandas_skips_them() -> None:
    values = np.random.default_rng(1).normal(60, 8, 500)
    values[[0, 3, 100, 101, 102, 499]] = np.nan
    values[200:230] = np.nan  # a gap longer than the window: NaN where too few readings are left
    result = centred_median(values, GROSS_WINDOW_HOURS)
    np.testing.assert_array_equal(result, _pandas(values, GROSS_WINDOW_HOURS))
    assert np.isnan(result[214])


def test_a_glitch_among_ordinary_hours_is_flagged_and_nothing_else() -> None:
    hours = np.arange(24 * 60)
    values = 60 + 10 * np.sin(2 * np.pi * hours / 24) + np.random.default_rng(2).normal(0, 1, len(hours))
    values[700] = 9999.0
    assert np.flatnonzero(gross_outlier_mask(values)).tolist() == [700]
