"""Transformers of very different sizes with known truth, as a utility's store holds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.scenarios import LoadTruth, history

YEARS = 1.3  # 11,376 hours: just over the 10,950 the validation asks for, so tests stay fast


def truth(size_kw: float, noise_share: float, rho: float = 0.6) -> LoadTruth:
    """A transformer whose load scales with ``size_kw``: 6%/yr growth, daily and yearly swings, AR(1) noise."""
    return LoadTruth(
        base_kw=size_kw,
        growth_kw_per_year=0.06 * size_kw,
        daily_kw=0.12 * size_kw,
        yearly_kw=0.15 * size_kw,
        noise_kw=noise_share * size_kw,
        noise_rho=rho,
    )


def series_of(load: LoadTruth, seed: int) -> pd.Series:
    return history(load, seed, years=YEARS)


def write_csv(series: pd.Series, path: Path, transformer_id: str | None = None) -> Path:
    frame = series.round(3).rename("kw").rename_axis("timestamp").reset_index()
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M")
    if transformer_id is not None:
        frame.insert(0, "transformer_id", transformer_id)
    frame.to_csv(path, index=False)
    return path


def shuffled(series: pd.Series, seed: int = 7) -> pd.Series:
    """The same readings in a random order: a model fitted to this has learnt nothing about the hours."""
    values = np.random.default_rng(seed).permutation(series.to_numpy())
    return pd.Series(values, index=series.index, name=series.name)


def first_crossing(load: LoadTruth, start: pd.Timestamp, limit_kw: float, years: float = 5.0) -> pd.Timestamp | None:
    """When the true expected load first exceeds the limit (the answer a perfect model would give)."""
    stamps = pd.date_range(start, periods=round(years * 8766), freq="h")
    over = load.expected(stamps) > limit_kw
    return stamps[over][0] if over.any() else None
