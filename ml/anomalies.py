"""Sensor faults that are not load: flat-lined readings and isolated spikes.

A stuck sensor repeats its last value; a glitch reads far off the load's own pattern. Both would
pull a least-squares fit, so they are flagged and left out of it (and counted, never hidden).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

FLATLINE_MIN_HOURS = 4
"""Real hourly peaks to two decimals repeat four times running essentially never; a stuck sensor does."""
SPIKE_ROBUST_Z = 6.0
"""A residual this many robust standard deviations out is a glitch, not weather (about 1 in 10^9 if normal)."""


def flatline_mask(values: np.ndarray, min_hours: int = FLATLINE_MIN_HOURS) -> np.ndarray:
    """True for every reading inside a run of at least ``min_hours`` identical consecutive values."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or min_hours < 2:
        return np.zeros(len(values), dtype=bool)
    same_as_previous = np.concatenate([[False], (values[1:] == values[:-1]) & ~np.isnan(values[1:])])
    run_id = np.cumsum(~same_as_previous)
    run_length = np.bincount(run_id)[run_id]
    return (run_length >= min_hours) & ~np.isnan(values)


def robust_z(residuals: np.ndarray) -> np.ndarray:
    """Distance from the median in units of the MAD-based standard deviation (NaN stays NaN)."""
    residuals = np.asarray(residuals, dtype=float)
    median = np.nanmedian if np.isnan(residuals).any() else np.median  # the same value; np.median skips a copy
    centre = median(residuals)
    mad = median(np.abs(residuals - centre)) * 1.4826
    if not np.isfinite(mad) or mad == 0:
        return np.zeros_like(residuals)
    return (residuals - centre) / mad


def spike_mask(residuals: np.ndarray, threshold: float = SPIKE_ROBUST_Z) -> np.ndarray:
    """True where a residual's robust z-score exceeds ``threshold`` in either direction."""
    z = robust_z(residuals)
    return np.abs(np.nan_to_num(z, nan=0.0)) > threshold


GROSS_WINDOW_HOURS = 25
"""A day and an hour centred on the reading: the local level, whatever the daily cycle does."""
GROSS_ROBUST_Z = 12.0
"""Far beyond any real peak's distance from its own day (a heat wave is a few robust sigmas)."""


def gross_outlier_mask(values: np.ndarray, threshold: float = GROSS_ROBUST_Z) -> np.ndarray:
    """True for readings absurdly far from their own day's median (a 9999 kW glitch among 60 kW hours).

    Found before any least-squares fit: a single such reading pulls every Fourier coefficient
    (about its size / n each), which bends the seasonal shape, invents level shifts and hides
    itself among the distorted residuals that :func:`spike_mask` then judges.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    z = robust_z(values - centred_median(values, GROSS_WINDOW_HOURS))
    return np.abs(np.nan_to_num(z, nan=0.0)) > threshold


def centred_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the ``window`` (odd) readings centred on each one, fewer at the ends (at least a quarter
    of the window, else NaN), NaN readings skipped: pandas' centred rolling median. Without gaps it is
    scipy's median filter inside (the median of an odd count is one of the readings, so the values are
    the same) and the ends' shorter windows one by one: several times faster than pandas."""
    half = window // 2
    if window % 2 == 0 or len(values) <= window or np.isnan(values).any():
        rolling = pd.Series(values).rolling(window, center=True, min_periods=window // 4)
        return rolling.median().to_numpy()
    out = ndimage.median_filter(values, size=window, mode="nearest")
    out[:half] = _growing_medians(values[: 2 * half], half)
    out[len(values) - half :] = _growing_medians(values[::-1][: 2 * half], half)[::-1]
    return out


def _growing_medians(values: np.ndarray, half: int) -> np.ndarray:
    """``median(values[:half + 1 + i])`` for i in 0..half-1 (a window cut by the series' end), all at once:
    each prefix sorted with the rest pushed to the end, its middle one or two values taken as
    ``np.median`` takes them (the mean of the middle two for an even count)."""
    sizes = half + 1 + np.arange(half)
    prefixes = np.where(np.arange(len(values))[None, :] < sizes[:, None], values[None, :], np.inf)
    ordered = np.sort(prefixes, axis=1)
    rows = np.arange(half)
    low, high = ordered[rows, (sizes - 1) // 2], ordered[rows, sizes // 2]
    return np.where(sizes % 2 == 1, low, (low + high) / 2)
