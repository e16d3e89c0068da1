"""Rolling-origin backtest: how wrong was the model when it forecast from earlier points in the history.

A single hold-out says how the model did on one stretch; a planner needs to know how the error
grows with the horizon. Each origin refits on the history up to it and forecasts the rest; errors
are pooled by how far ahead they were made (buckets ending at ``horizons_days``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

HORIZONS_DAYS = (1, 7, 30, 90, 180, 365)
MIN_TRAIN_DAYS = 365  # the yearly cycle needs a full year before the first origin


def rolling_origins(index: pd.DatetimeIndex, n_origins: int, min_train_days: int = MIN_TRAIN_DAYS) -> pd.DatetimeIndex:
    """``n_origins`` midnights evenly spaced from ``min_train_days`` after the start to 30 days before the end."""
    first = index[0] + pd.Timedelta(days=min_train_days)
    last = index[-1] - pd.Timedelta(days=30)
    if last < first:
        raise ValueError(
            f"history of {(index[-1] - index[0]).days} days is too short for a backtest: "
            f"need {min_train_days} days to train and 30 to score"
        )
    spaced = pd.date_range(first, last, periods=n_origins) if n_origins > 1 else pd.DatetimeIndex([first])
    return spaced.normalize()


def backtest(
    estimator: object,
    series: pd.Series,
    n_origins: int = 4,
    horizons_days: tuple[int, ...] = HORIZONS_DAYS,
    min_train_days: int = MIN_TRAIN_DAYS,
) -> pd.DataFrame:
    """Errors by horizon bucket over rolling origins: RMSE, MAE, bias and interval coverage in kW."""
    errors = pd.concat(
        [
            _origin_errors(estimator, series, origin)
            for origin in rolling_origins(series.index, n_origins, min_train_days)
        ]
    )
    edges = np.array([0, *sorted(horizons_days)], dtype=float)
    errors["horizon_days"] = pd.cut(errors["lead_days"], edges, labels=edges[1:].astype(int), right=True)
    errors = errors.dropna(subset=["horizon_days"])
    table = errors.groupby("horizon_days", observed=True).apply(_summary, include_groups=False).reset_index()
    return table.astype({"horizon_days": int, "origins": int, "hours": int})


def _origin_errors(estimator: object, series: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    train, future = series[series.index < origin], series[series.index >= origin].dropna()
    fitted = clone(estimator).fit(train.index, train.to_numpy())  # type: ignore[arg-type]
    forecast = fitted.predict_interval(future.index)
    actual = future.to_numpy()
    return pd.DataFrame(
        {
            "origin": origin,
            "lead_days": (future.index - origin) / pd.Timedelta(days=1),
            "error": forecast["predicted_kw"].to_numpy() - actual,
            "covered": (forecast["lower_kw"].to_numpy() <= actual) & (actual <= forecast["upper_kw"].to_numpy()),
        }
    )


def _summary(group: pd.DataFrame) -> pd.Series:
    error = group["error"].to_numpy()
    return pd.Series(
        {
            "origins": group["origin"].nunique(),
            "hours": len(error),
            "rmse_kw": float(np.sqrt(np.mean(error**2))),
            "mae_kw": float(np.mean(np.abs(error))),
            "bias_kw": float(np.mean(error)),
            "interval_coverage": float(group["covered"].mean()),
        }
    )
