"""Rolling-origin backtest: errors by horizon match the known noise; the step logs and prints them."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from ml.backtest import backtest, rolling_origins
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history


def test_errors_by_horizon_are_the_noise_when_the_model_is_right() -> None:
    series = history(LoadTruth(noise_kw=2.0), seed=21)
    table = backtest(SeasonalTrendForecaster(), series, n_origins=3, horizons_days=(7, 90, 300))
    assert table["horizon_days"].tolist() == [7, 90, 300]
    assert table["rmse_kw"].to_numpy() == pytest.approx(2.0, abs=0.25)
    assert table["bias_kw"].abs().max() < 0.5
    assert table["interval_coverage"].to_numpy() == pytest.approx(0.8, abs=0.06)


def test_origins_leave_a_year_to_train_and_refuse_short_history() -> None:
    index = pd.date_range("2023-01-01", periods=730 * 24, freq="h")
    origins = rolling_origins(index, 4)
    assert origins[0] == pd.Timestamp("2024-01-01") and origins[-1] <= index[-1] - pd.Timedelta(days=30)
    with pytest.raises(ValueError, match="too short"):
        rolling_origins(index[: 300 * 24], 4)


def test_backtest_command_prints_the_table_and_logs_metrics(tmp_path, monkeypatch) -> None:
    import mlflow

    from ml.steps.__main__ import app

    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = tmp_path / "load.csv"
    series = history(LoadTruth(), seed=22)
    series.rename_axis("timestamp").reset_index().to_csv(data, index=False, date_format="%Y-%m-%d %H:%M")
    args = ["backtest", "--data", str(data), "--origins", "2", "--horizon-days", "30", "--horizon-days", "180"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "rmse_kw" in result.output
    written = pd.read_csv(tmp_path / "out" / "backtest.csv")
    assert written["horizon_days"].tolist() == [30, 180]
    run = mlflow.search_runs(experiment_names=["transformer-load"], output_format="list")[0]
    assert run.data.metrics["backtest_rmse_180d"] == pytest.approx(written["rmse_kw"].iloc[1], abs=1e-4)
