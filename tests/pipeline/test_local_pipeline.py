"""``runner --backend local`` end to end: the README's main command, run twice, and a failing run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import Run

pytestmark = pytest.mark.slow
MODEL_NAME = "gridcast-builtin-synthetic"


def registry(home: Path) -> MlflowClient:
    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion(client: MlflowClient, name: str = MODEL_NAME) -> str | None:
    """The champion as gridcast marks it: the promoted version with the highest promotion number."""
    promoted = [v for v in client.search_model_versions(f"name='{name}'") if v.tags.get("gate.decision") == "promoted"]
    best = max(promoted, key=lambda v: (int(v.tags["gate.promotion"]), int(v.version)), default=None)
    return None if best is None else str(best.version)


def test_builtin_run_twice_makes_v2_scored_against_v1(tmp_path: Path, run_runner: Run) -> None:
    first = run_runner("--backend", "local")
    assert first.returncode == 0, first.stderr
    outputs = tmp_path / "outputs"
    assert {p.name for p in outputs.iterdir()} == {
        "predictions.csv",
        "overload_report.json",
        "forecast.png",
        "typical_day.png",
        "gridcast_run.json",  # which run the files are from
    }
    assert "transformer builtin-synthetic · data built-in synthetic data" in first.stdout
    assert "first overload" in first.stdout and str(outputs / "forecast.png") in first.stdout
    client = registry(tmp_path / ".gridcast")
    assert champion(client) == "1"

    second = run_runner("--backend", "local")
    assert second.returncode == 0, second.stderr
    report = json.loads((outputs / "overload_report.json").read_text())
    assert report["challenger"]["candidate_version"] == "2"
    assert report["challenger"]["previous_champion_version"] == "1"
    assert report["challenger"]["previous_champion_rmse"] is not None
    assert champion(client) == "2"
    assert "v2 promoted to champion" in second.stdout
    assert report["transformer_id"] == "builtin-synthetic" and report["model_uri"] == f"models:/{MODEL_NAME}/2"
    assert report["since_last_run"]["previous_model_version"] == "1"  # the run keeps its own record
    assert report["since_last_run"]["moved_days"]["first_overload_at"] == 0.0  # same data, same answer

    # One parent run per pipeline run, one child per step.
    runs = client.search_runs([client.get_experiment_by_name("transformer-load").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(children) == 6
    assert {r.info.status for r in parents} == {"FINISHED"}


def test_own_csv_and_limit(tmp_path: Path, run_runner: Run, seed_csv: Path) -> None:
    result = run_runner("--data", str(seed_csv), "--limit-kw", "90", "--output-dir", "out")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "overload_report.json").read_text())
    assert report["limit_kw"] == 90
    assert report["horizon_start"] == "2024-12-31T00:00:00"
    # The data grow ~5 kW/yr: 90 kW is crossed after 85 kW would be, within the five years.
    assert "2027" <= report["first_overload_at"][:4] <= "2029"


def test_failed_step_stops_the_pipeline_and_loses_nothing(tmp_path: Path, run_runner: Run) -> None:
    assert run_runner().returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,kw\n2023-01-01 00:00,-4\n")

    result = run_runner("--data", str(bad))

    assert result.returncode == 1
    assert "step train failed" in result.stderr
    assert f"error: {bad}: column 'kw' has 1 negative reading(s) at line 2 ('-4')" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "promote" not in result.stdout  # the pipeline stopped at the failing step
    client = registry(tmp_path / ".gridcast")
    assert champion(client) == "1"
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == 1


def test_first_model_rejected_with_no_champion_stops_with_a_clear_message(run_runner: Run) -> None:
    result = run_runner("--threshold-kw", "0.2")
    assert result.returncode == 1
    assert "rejected" in result.stdout  # promote's verdict is shown as a decision...
    assert "step predict failed" in result.stderr  # ...and predict explains there is nothing to forecast with
    assert f"transformer 'builtin-synthetic' has no champion in '{MODEL_NAME}' yet" in result.stderr
    assert "The challenger was rejected: test RMSE" in result.stderr


def test_missing_data_file_is_refused_before_anything_runs(tmp_path: Path, run_runner: Run) -> None:
    result = run_runner("--data", "nope.csv")
    assert result.returncode == 2
    assert "error: --data nope.csv: no such file; pass an existing CSV" in result.stderr
    assert not (tmp_path / ".gridcast").exists()
