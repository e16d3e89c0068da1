"""A forecast's own record: how the previous forecast did on the hours since observed, and how far
the answer moved. Pure: the previous forecast and report come in as data."""

from __future__ import annotations

import numpy as np
import pandas as pd

MOVED_FIELDS = ("first_overload_at", "first_overload_p10", "first_overload_p50", "first_overload_p90")


def score_previous_forecast(previous: pd.DataFrame, actual: pd.Series) -> dict[str, float | int] | None:
    """Error and bias (forecast minus actual, kW) of an earlier forecast on the hours observed since.

    ``previous`` has ``timestamp`` and ``predicted_kw`` (and the interval); None when no hour overlaps.
    """
    forecast = previous.set_index(pd.to_datetime(previous["timestamp"]))
    observed = actual.dropna()
    common = forecast.index.intersection(observed.index)
    if common.empty:
        return None
    error = forecast.loc[common, "predicted_kw"].to_numpy(dtype=float) - observed.loc[common].to_numpy(dtype=float)
    inside = (observed.loc[common] >= forecast.loc[common, "lower_kw"]) & (
        observed.loc[common] <= forecast.loc[common, "upper_kw"]
    )
    return {
        "overlap_hours": len(common),
        "overlap_start": common.min().isoformat(),
        "overlap_end": common.max().isoformat(),
        "forecast_rmse_kw": round(float(np.sqrt(np.mean(error**2))), 4),
        "forecast_mae_kw": round(float(np.mean(np.abs(error))), 4),
        "forecast_bias_kw": round(float(np.mean(error)), 4),
        "interval_hit_rate": round(float(inside.mean()), 4),
    }


def moved_days(previous: dict[str, object], current: dict[str, object]) -> dict[str, float | None]:
    """Days each first-overload date moved (positive: later than the previous run said; None: one side has none)."""
    moved: dict[str, float | None] = {}
    for field in MOVED_FIELDS:
        before, after = previous.get(field), current.get(field)
        if before and after:
            delta = pd.Timestamp(str(after)) - pd.Timestamp(str(before))
            moved[field] = round(delta / pd.Timedelta(days=1), 2)
        else:
            moved[field] = None
    return moved
