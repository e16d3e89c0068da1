"""The command lines refuse a run that does not say which one transformer it is about, or mixes two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from transformers import series_of, truth, write_csv

from ml.chart import forecast_figure
from ml.model import SeasonalTrendForecaster
from ml.overload import analyse_overload
from ml.steps import EXIT_BAD_INPUT
from tests.conftest import Run


def test_runner_refuses_a_file_of_several_transformers_before_anything_runs(tmp_path: Path, run_runner: Run) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("transformer_id,timestamp,kw\nA,2023-01-01 00:00,1\nB,2023-01-01 00:00,2\n")

    result = run_runner("--data", str(mixed))

    assert result.returncode == 2  # refused before anything runs, like every option
    assert f"error: {mixed}: column 'transformer_id' names 2 transformers (A, B)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".gridcast").exists()


def test_predict_step_refuses_another_transformers_decision_with_exit_2(tmp_path: Path) -> None:
    data = write_csv(series_of(truth(450.0, 0.02), seed=1), tmp_path / "feeder-450kw.csv")
    decision = tmp_path / "decision"
    decision.mkdir()
    (decision / "decision.json").write_text(
        json.dumps(
            {
                "promoted": True,
                "reason": "r",
                "candidate_version": "4",
                "candidate_rmse": 1.0,
                "champion_version": "4",
                "previous_champion_version": None,
                "previous_champion_rmse": None,
                "threshold_kw": None,
                "transformer_id": "pole-60kw",
                "model_name": "gridcast-pole-60kw",
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"GRIDCAST_HOME": str(tmp_path / "s")}
    command = [sys.executable, "-m", "ml.steps", "predict", "--data", str(data), "--decision", str(decision)]

    result = subprocess.run([*command, "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)

    assert result.returncode == EXIT_BAD_INPUT
    assert (
        f"error: {decision}: the promote decision is for transformer 'pole-60kw', but this data is transformer "
        "'feeder-450kw'" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_chart_title_names_the_transformer() -> None:
    series = series_of(truth(450.0, 0.02), seed=1)
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    horizon = pd.date_range(series.index[-1] + pd.Timedelta(hours=1), periods=24 * 365, freq="h")
    forecast = model.predict_interval(horizon)
    figure = forecast_figure(series, forecast, analyse_overload(forecast, 600.0, 0.8), subject="transformer TX 9")
    assert figure.axes[0].get_title(loc="left").startswith("transformer TX 9: ")
