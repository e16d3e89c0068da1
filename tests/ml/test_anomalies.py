"""The centred rolling median behind the gross-outlier check is pandas' rolling median, value for value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.anomalies import GROSS_WINDOW_HOURS, centred_median, gross_outlier_mask


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
