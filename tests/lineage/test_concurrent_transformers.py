"""The utility's day: transformers of very different sizes in one store, runs started together.

Each run must answer for its own transformer with the model version its own promote decided on,
and each answer is scored against that transformer's known truth.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from transformers import first_crossing, series_of, truth, write_csv

from ml.steps.registry import model_name
from tests.conftest import RUNNER

pytestmark = pytest.mark.slow

# id -> (size kW, noise share of load, limit kW, how the id is given)
FLEET = {
    "pole-10kw": (10.0, 0.02, 14.0, "file name"),
    "feeder 450kW": (450.0, 0.01, 630.0, "column"),
    "substation-2mw": (2000.0, 0.04, 2800.0, "option"),
}


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_HOME")}
    return subprocess.Popen(
        [str(RUNNER), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env | {"COLUMNS": "200"},
    )


def test_transformers_of_every_size_run_together_in_one_store(tmp_path: Path) -> None:
    runs: dict[str, list[str]] = {}
    for tid, (size, noise, limit, given) in FLEET.items():
        series = series_of(truth(size, noise), seed=int(size))
        if given == "file name":
            runs[tid] = ["--data", str(write_csv(series, tmp_path / f"{tid}.csv"))]
        elif given == "column":
            runs[tid] = ["--data", str(write_csv(series, tmp_path / "export.csv", transformer_id=tid))]
        else:
            runs[tid] = ["--data", str(write_csv(series, tmp_path / "scada.csv")), "--transformer", tid]
        runs[tid] += ["--limit-kw", str(limit), "--output-dir", f"out-{size:g}"]
    runs["feeder 450kW (again)"] = [*runs["feeder 450kW"][:-1], "out-450-again"]  # the same transformer, twice

    processes = {key: start(tmp_path, *args) for key, args in runs.items()}  # all at once, one store
    results = {key: (p.wait(timeout=900), *p.communicate()) for key, p in processes.items()}
    for key, (code, out, err) in results.items():
        assert code == 0, f"{key}: {err}\n{out}"

    client = MlflowClient(*(2 * [f"sqlite:///{tmp_path / '.gridcast' / 'mlflow.db'}"]))
    for key, args in runs.items():
        tid = key.removesuffix(" (again)")
        size, noise, limit, _ = FLEET[tid]
        report = json.loads((tmp_path / args[-1] / "overload_report.json").read_text())
        stdout = results[key][1]
        # The report, the summary, the MLflow run and the registry all name this transformer.
        assert report["transformer_id"] == tid and report["model_name"] == model_name(tid)
        assert f"transformer {tid}" in stdout.splitlines()[0]  # the run's headline...
        assert any(line.split() == ["transformer", *tid.split()] for line in stdout.splitlines())  # ...and summary
        assert report["model_version"] == report["challenger"]["champion_version"]  # the version its promote named
        version = client.get_model_version(model_name(tid), report["model_version"])
        assert version.tags["transformer_id"] == tid
        assert client.get_run(report["run_id"]).data.tags["transformer_id"] == tid
        # Scored against this transformer's known truth: the forecast and the first overload.
        load = truth(size, noise)
        forecast = pd.read_csv(tmp_path / args[-1] / "predictions.csv", parse_dates=["timestamp"])
        expected = load.expected(pd.DatetimeIndex(forecast["timestamp"]))
        error = np.sqrt(np.mean((forecast["predicted_kw"].to_numpy() - expected) ** 2))
        assert error < 0.02 * size, f"{tid}: forecast is {error:.2f} kW RMSE off the truth"
        true_first = first_crossing(load, pd.Timestamp(report["horizon_start"]), limit)
        assert true_first is not None
        found = pd.Timestamp(report["first_overload_at"])
        assert abs((found - true_first).days) <= 30, f"{tid}: first overload {found} vs truth {true_first}"

    # The two concurrent runs of one transformer registered two versions; no third transformer's model crept in.
    feeder = client.search_model_versions(f"name='{model_name('feeder 450kW')}'")
    assert sorted(str(v.version) for v in feeder) == ["1", "2"]
    assert {v.tags["transformer_id"] for v in feeder} == {"feeder 450kW"}
