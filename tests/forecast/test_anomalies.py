"""Stuck sensors and glitches are flagged, left out of the fit and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.anomalies import flatline_mask, spike_mask
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
