"""A built-in, deterministic load history so the pipeline runs with no input file."""

from __future__ import annotations

import numpy as np
import pandas as pd

HOURS_PER_YEAR = 8766.0  # 365.25 days


def synthetic_load(
    start: str = "2023-01-01",
    years: int = 2,
    base_kw: float = 52.0,
    growth_kw_per_year: float = 5.0,
    daily_kw: float = 5.0,
    yearly_kw: float = 10.0,
    noise_kw: float = 2.0,
    seed: int = 20230101,
) -> pd.DataFrame:
    """Hourly peak load shaped like the seed's data: linear growth, daily and yearly cycles, noise.

    The daily peak is near midnight and the yearly peak in winter, as on the reference transformer.
    The same arguments always give the same frame (a fixed-seed generator), so runs are reproducible.
    """
    index = pd.date_range(start, periods=round(years * 365 * 24), freq="h")
    hours = np.arange(len(index), dtype=float)
    hour_of_day = index.hour.to_numpy()
    day_of_year = index.day_of_year.to_numpy()
    trend = base_kw + growth_kw_per_year * hours / HOURS_PER_YEAR
    daily = daily_kw * np.cos(2 * np.pi * hour_of_day / 24)
    yearly = yearly_kw * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    noise = np.random.default_rng(seed).normal(0.0, noise_kw, len(index))
    kw = np.round(trend + daily + yearly + noise, 2)
    return pd.DataFrame({"timestamp": index.strftime("%Y-%m-%d %H:%M"), "kw": kw})
