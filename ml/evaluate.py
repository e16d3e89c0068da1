"""Chronological hold-out evaluation, as the seed did it, so the numbers compare."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

SPLIT = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Split:
    """Three consecutive, non-overlapping windows of the observed hours."""

    train: pd.Series
    validation: pd.Series
    test: pd.Series


def chronological_split(series: pd.Series, shares: tuple[float, float, float] = SPLIT) -> Split:
    """First 80% of observed hours to train, next 10% to validate, last 10% to test."""
    observed = series.dropna()
    n_train = int(len(observed) * shares[0])
    n_val = int(len(observed) * shares[1])
    return Split(
        train=observed.iloc[:n_train],
        validation=observed.iloc[n_train : n_train + n_val],
        test=observed.iloc[n_train + n_val :],
    )


def score(estimator: object, window: pd.Series) -> dict[str, float]:
    """RMSE and MAE in kW of a fitted estimator on one window."""
    error = window.to_numpy(dtype=float) - estimator.predict(window.index)  # type: ignore[attr-defined]
    return {"rmse": _rmse(error), "mae": float(np.mean(np.abs(error)))}


def _rmse(error: np.ndarray) -> float:
    """sklearn's ``root_mean_squared_error`` without its argument checks (a fleet scores thousands)."""
    if not len(error):
        raise ValueError("nothing to score: the window is empty")
    return float(np.sqrt(np.mean(error**2)))


def holdout_scores(estimator: object, series: pd.Series, split: Split | None = None) -> dict[str, float]:
    """Fit a fresh copy on the training window; score it on validation and test (``split``: the
    series' :func:`chronological_split`, when the caller has it already).

    Every model, challenger or champion, is judged by this same protocol on the same windows.
    """
    split = split or chronological_split(series)
    fitted = clone(estimator).fit(split.train.index, split.train.to_numpy())
    val, test = score(fitted, split.validation), score(fitted, split.test)
    return {"val_rmse": val["rmse"], "val_mae": val["mae"], "rmse": test["rmse"], "mae": test["mae"]}


def forecast_index(last_observation: pd.Timestamp, years: float) -> pd.DatetimeIndex:
    """Hourly stamps from the hour after the last observation, ``years`` calendar years long (the same
    index object again for the same arguments: a fleet's transformers mostly end at the same hour, and
    models know a horizon they have seen)."""
    return _forecast_index(pd.Timestamp(last_observation), float(years))


@functools.lru_cache(maxsize=8)
def _forecast_index(last_observation: pd.Timestamp, years: float) -> pd.DatetimeIndex:
    start = last_observation + pd.Timedelta(hours=1)
    whole_years = int(np.floor(years))
    end = start + pd.DateOffset(years=whole_years) + pd.Timedelta(days=round((years - whole_years) * 365.25))
    return pd.date_range(start, end, freq="h", inclusive="left", name="timestamp")


SEASONAL_LAG_HOURS = 168


def seasonal_naive_rmse(series: pd.Series, lag_hours: int = SEASONAL_LAG_HOURS, test: pd.Series | None = None) -> float:
    """RMSE on the test window (``test``: the series' own, when the caller has it already) of the
    seasonal-naive forecast: the same hour one week earlier.

    The scale-free yardstick of the gate: any transformer, any size, any noise level has one, and a
    model that does not beat it has learnt nothing the last week did not already say.
    """
    test = chronological_split(series).test if test is None else test
    earlier = _hours_earlier(series, test.index, lag_hours)
    known = ~np.isnan(earlier)
    if not known.any():
        raise ValueError("no hour of the test window has a reading one week earlier")
    return _rmse(test.to_numpy(dtype=float)[known] - earlier[known])


def _hours_earlier(series: pd.Series, stamps: pd.DatetimeIndex, lag_hours: int) -> np.ndarray:
    """``series`` at ``stamps`` minus ``lag_hours`` (NaN where it has no such hour). On a regular hourly
    index (what validation returns) that is a position, not a lookup."""
    index = series.index
    if isinstance(index, pd.DatetimeIndex) and index.freq == pd.tseries.frequencies.to_offset("h") and len(index):
        step = pd.Timedelta(hours=1).value // pd.Timedelta(1, unit=index.unit).value
        positions = (stamps.as_unit(index.unit).asi8 - index.asi8[0]) // step - lag_hours
        values = series.to_numpy(dtype=float)
        inside = (positions >= 0) & (positions < len(values))
        return np.where(inside, values[np.clip(positions, 0, len(values) - 1)], np.nan)
    return series.reindex(stamps - pd.Timedelta(hours=lag_hours)).to_numpy(dtype=float)
