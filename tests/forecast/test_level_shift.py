"""A step in the load (new tenant) is found, sized and kept out of the slope; none is invented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.level_shift import daily_medians, detect_level_shifts
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history

STEP = LoadTruth(growth_kw_per_year=2.0, shift_kw=10.0, shift_at="2024-03-10")


@pytest.mark.parametrize("seed", [0, 1])
def test_a_ten_kw_step_is_found_on_its_day_and_sized(seed: int) -> None:
    series = history(STEP, seed)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    (shift,) = model.level_shifts_
    assert abs(pd.Timestamp(shift["at"]) - pd.Timestamp("2024-03-10")) <= pd.Timedelta(days=1)
    assert shift["size_kw"] == pytest.approx(10.0, abs=0.5)
    assert model.growth_kw_per_year_ == pytest.approx(2.0, abs=0.3)


def test_without_detection_the_slope_bends_through_the_step() -> None:
    series = history(STEP, seed=0)
    blind = SeasonalTrendForecaster(detect_level_shifts=False).fit(series.index, series.to_numpy())
    assert blind.growth_kw_per_year_ > 5.0  # the step is mistaken for growth, overstating it by >2x


@pytest.mark.parametrize("seed", range(10, 16))
def test_no_step_is_invented_on_smooth_growth(seed: int) -> None:
    truth = LoadTruth(noise_rho=0.6) if seed % 2 else LoadTruth(compound_pct_per_year=8.0)
    series = history(truth, seed)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    assert model.level_shifts_ == []


def test_two_steps_in_daily_levels_are_both_found() -> None:
    rng = np.random.default_rng(7)
    days = np.arange(700.0)
    level = 50 + 0.01 * days + 4.0 * (days >= 200) - 3.0 * (days >= 500) + rng.normal(0, 0.4, len(days))
    found = detect_level_shifts(days, level)
    assert [s.position for s in found] == pytest.approx([200, 500], abs=2)
    assert [s.size_kw for s in found] == pytest.approx([4.0, -3.0], abs=0.3)


def test_a_step_too_small_to_matter_is_ignored() -> None:
    rng = np.random.default_rng(8)
    days = np.arange(700.0)
    level = 50 + 0.5 * (days >= 350) + rng.normal(0, 0.1, len(days))  # significant, but half a kW
    assert detect_level_shifts(days, level) == []


def test_daily_medians_are_pandas_group_medians() -> None:
    rng = np.random.default_rng(3)
    hours = np.arange(5, 24 * 40 + 7, dtype=float)  # starts and ends mid-day
    keep = rng.random(len(hours)) > 0.05  # scattered gaps: days of 20-24 hours
    hours, values = hours[keep], rng.normal(60, 8, keep.sum()).round(1)
    day = np.floor(hours / 24.0)
    days, medians, sizes = daily_medians(day, values)
    expected = pd.Series(values).groupby(day).agg(["median", "size"])
    np.testing.assert_array_equal(days, expected.index.to_numpy())
    np.testing.assert_array_equal(medians, expected["median"].to_numpy())
    np.testing.assert_array_equal(sizes, expected["size"].to_numpy())
    assert (sizes == 24).any() and (sizes < 24).any()
