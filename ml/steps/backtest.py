"""Backtest: rolling-origin errors by horizon for the model the train step would build, logged to MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from ml.backtest import HORIZONS_DAYS, backtest
from ml.model import SeasonalTrendForecaster
from ml.steps.data_io import load_series, sha256
from ml.steps.tracking import record_data, step_run


def run_backtest(
    data: Path,
    estimator: SeasonalTrendForecaster,
    n_origins: int = 4,
    horizons_days: tuple[int, ...] = HORIZONS_DAYS,
    out: Path | None = None,
    pipeline_run_id: str | None = None,
) -> pd.DataFrame:
    """Run the backtest on ``data``; log the table and one metric per horizon; optionally write a CSV."""
    series, quality = load_series(data)
    with step_run("backtest", pipeline_run_id):
        record_data(data, sha256(data), series, quality)
        mlflow.log_params(estimator.get_params() | {"origins": n_origins, "horizons_days": list(horizons_days)})
        table = backtest(estimator, series, n_origins, horizons_days)
        for row in table.itertuples():
            mlflow.log_metrics(
                {
                    f"backtest_rmse_{row.horizon_days}d": row.rmse_kw,
                    f"backtest_bias_{row.horizon_days}d": row.bias_kw,
                    f"backtest_coverage_{row.horizon_days}d": row.interval_coverage,
                }
            )
        mlflow.log_text(table.to_csv(index=False), "backtest/by_horizon.csv")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "backtest.csv", index=False, float_format="%.4f")
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as a planner reads it: one line per horizon, kW to two decimals."""
    shown = table.rename(columns={"horizon_days": "horizon (days, up to)"})
    return shown.to_string(index=False, float_format=lambda v: f"{v:.2f}")
