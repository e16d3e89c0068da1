"""Synthetic transformer histories with known truth: what the tests and the benchmark score against.

Each scenario is the seed's load shape (daily and yearly cycles, 2 kW noise) with one twist:
compounding growth, a level step, sensor gaps, spikes or flat-lines. The truth is the noise-free
expected load, so errors measure the model, not the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal

HOURS_PER_YEAR = 8766.0


@dataclass(frozen=True)
class LoadTruth:
    """The generating process: expected load in kW as a function of time, plus its noise."""

    start: str = "2023-01-01"
    base_kw: float = 52.0
    growth_kw_per_year: float = 5.0
    compound_pct_per_year: float = 0.0
    """If non-zero, growth compounds at this rate instead of adding ``growth_kw_per_year``."""
    shift_kw: float = 0.0
    shift_at: str | None = None
    daily_kw: float = 5.0
    yearly_kw: float = 10.0
    noise_kw: float = 2.0
    noise_rho: float = 0.0

    def expected(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        years = np.asarray((stamps - pd.Timestamp(self.start)) / pd.Timedelta(hours=1)) / HOURS_PER_YEAR
        if self.compound_pct_per_year:
            trend = self.base_kw * (1 + self.compound_pct_per_year / 100) ** years
        else:
            trend = self.base_kw + self.growth_kw_per_year * years
        if self.shift_at is not None:
            trend = trend + self.shift_kw * (stamps >= pd.Timestamp(self.shift_at))
        daily = self.daily_kw * np.cos(2 * np.pi * stamps.hour.to_numpy() / 24)
        yearly = self.yearly_kw * np.cos(2 * np.pi * (stamps.day_of_year.to_numpy() - 15) / 365.25)
        return trend + daily + yearly

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Stationary AR(1) noise with standard deviation ``noise_kw`` along the last axis."""
        innovations = rng.normal(0.0, self.noise_kw * np.sqrt(1 - self.noise_rho**2), shape)
        start = rng.normal(0.0, self.noise_kw, shape[:-1])
        innovations[..., 0] = start
        return signal.lfilter([1.0], [1.0, -self.noise_rho], innovations, axis=-1)

    def sample(self, stamps: pd.DatetimeIndex, seed: int) -> np.ndarray:
        return self.expected(stamps) + self.noise(np.random.default_rng(seed), (len(stamps),))


def history(truth: LoadTruth, seed: int, years: float = 2.0) -> pd.Series:
    """A clean hourly history of ``years`` drawn from ``truth`` (seeded, so reproducible)."""
    stamps = pd.date_range(truth.start, periods=round(years * 365) * 24, freq="h", name="timestamp")
    return pd.Series(truth.sample(stamps, seed), index=stamps, name="kw")


def with_sensor_faults(
    series: pd.Series, seed: int, gaps: int = 0, spikes: int = 0, flatlines: int = 0
) -> tuple[pd.Series, np.ndarray]:
    """Punch gaps (NaN, 1-48 h), spikes (+-15 to 40 kW) and flat-lines (6-48 h stuck) into a copy.

    Returns the damaged series and a mask of the hours that were changed to a fault (not gaps).
    """
    rng = np.random.default_rng(seed)
    values = series.to_numpy(dtype=float).copy()
    faulty = np.zeros(len(values), dtype=bool)
    for _ in range(gaps):
        at, length = rng.integers(0, len(values) - 48), rng.integers(1, 49)
        values[at : at + length] = np.nan
    for _ in range(flatlines):
        at, length = rng.integers(1, len(values) - 48), rng.integers(6, 49)
        values[at : at + length] = values[at - 1] if np.isfinite(values[at - 1]) else 50.0
        faulty[at : at + length] = True
    for at in rng.choice(len(values), spikes, replace=False):
        values[at] += rng.choice([-1, 1]) * rng.uniform(15, 40)
        faulty[at] = True
    return pd.Series(values, index=series.index, name=series.name), faulty
