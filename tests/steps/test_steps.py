"""Train, promote and predict against a real (embedded SQLite) MLflow store, called as functions."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ml.model import SeasonalTrendForecaster
from ml.steps import EXPERIMENT
from ml.steps.model_store import champion as current_champion
from ml.steps.predict import NoChampionError, predict
from ml.steps.promote import Gate, Scores, judge, promote
from ml.steps.train import Candidate, train

MODEL_NAME = "gridcast-synthetic"  # the fixture's file is synthetic.csv: its stem is the transformer id


def champion() -> str | None:
    found = current_champion(MODEL_NAME)
    return None if found is None else found.version


def versions() -> list[str]:
    return sorted(str(v.version) for v in MlflowClient().search_model_versions(f"name='{MODEL_NAME}'"))


def test_train_registers_a_candidate_with_provenance(state: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    candidate = train(synthetic_csv, tmp_path / "model", SeasonalTrendForecaster(), pipeline_run_id="p-1")

    assert candidate.model_uri == f"models:/{MODEL_NAME}/1"
    assert Candidate.read(tmp_path / "model") == candidate
    assert (tmp_path / "model" / "model" / "MLmodel").is_file()  # the MLflow model travels as a step output
    run = mlflow.get_run(candidate.run_id)
    assert {"val_rmse", "rmse", "mae", "val_mae", "growth_kw_per_year"} <= set(run.data.metrics)
    assert run.data.metrics["rmse"] < 2.3
    tags = run.data.tags
    assert len(tags["data_sha256"]) == 64 and tags["data_rows"] == "17520"
    assert tags["data_start"] == "2023-01-01T00:00:00"
    assert tags["git_commit"] and tags["gridcast_version"] and tags["python_version"]
    assert run.inputs.dataset_inputs[0].dataset.digest == tags["data_sha256"][:16]
    parent = mlflow.get_run(tags["mlflow.parentRunId"])  # one parent run per pipeline run
    assert parent.data.tags["gridcast.pipeline_run_id"] == "p-1"
    assert mlflow.get_experiment(run.info.experiment_id).name == EXPERIMENT
    model_version = MlflowClient().get_model_version(MODEL_NAME, "1")
    assert model_version.run_id == candidate.run_id
    assert candidate.transformer_id == "synthetic" and tags["transformer_id"] == "synthetic"
    assert model_version.tags["transformer_id"] == "synthetic"
    assert model_version.tags["gate.decision"] == "pending"
    assert model_version.source == mlflow.get_run(candidate.run_id).info.artifact_uri + "/model"
    mlmodel = (tmp_path / "model" / "model" / "MLmodel").read_text()
    assert "code:" not in mlmodel or "code: null" in mlmodel  # data, never code
    assert not (tmp_path / "model" / "model" / "code").exists()


def test_first_promotion_then_second_version_is_scored_against_the_first(
    state: Path, synthetic_csv: Path, tmp_path: Path
) -> None:
    train(synthetic_csv, tmp_path / "m1", SeasonalTrendForecaster())
    first = promote(synthetic_csv, tmp_path / "m1", tmp_path / "d1")
    assert first.promoted and first.previous_champion_version is None and champion() == "1"

    train(synthetic_csv, tmp_path / "m2", SeasonalTrendForecaster())
    second = promote(synthetic_csv, tmp_path / "m2", tmp_path / "d2")
    assert second.previous_champion_version == "1"
    assert second.previous_champion_rmse == pytest.approx(second.candidate_rmse)  # scored now, same window
    assert second.promoted and champion() == "2"
    tags = MlflowClient().get_model_version(MODEL_NAME, "2").tags
    assert tags["gate.decision"] == "promoted" and tags["gate.promotion"] == "2"
    assert "within 2% of the champion's" in tags["gate.reason"]
    assert MlflowClient().get_model_version(MODEL_NAME, "1").tags["gate.decision"] == "promoted"  # history kept
    written = json.loads((tmp_path / "d2" / "decision.json").read_text())
    assert written["champion_version"] == "2" and written["transformer_id"] == "synthetic"
    assert written["model_name"] == MODEL_NAME


def test_optional_cap_rejects_and_keeps_the_champion(state: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    train(synthetic_csv, tmp_path / "m1", SeasonalTrendForecaster())
    promote(synthetic_csv, tmp_path / "m1", tmp_path / "d1")
    train(synthetic_csv, tmp_path / "m2", SeasonalTrendForecaster())

    decision = promote(synthetic_csv, tmp_path / "m2", tmp_path / "d2", Gate(threshold_kw=0.5))

    assert not decision.promoted
    assert decision.reason.endswith("kW is above the cap 0.500 kW")
    assert decision.champion_version == "1"  # predict goes on with the champion it names
    assert champion() == "1"
    assert versions() == ["1", "2"]  # a rejected version is kept, never deleted
    tags = MlflowClient().get_model_version(MODEL_NAME, "2").tags
    assert tags["gate.decision"] == "rejected" and tags["gate.reason"] == decision.reason


def test_gate_rejects_a_challenger_worse_than_the_champion(state: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    train(synthetic_csv, tmp_path / "good", SeasonalTrendForecaster())
    promote(synthetic_csv, tmp_path / "good", tmp_path / "d1")
    train(synthetic_csv, tmp_path / "weak", SeasonalTrendForecaster(daily_order=0))  # blind to the daily cycle

    decision = promote(synthetic_csv, tmp_path / "weak", tmp_path / "d2")

    assert not decision.promoted
    assert "worse than the champion's" in decision.reason or "seasonal-naive" in decision.reason
    assert decision.previous_champion_rmse < decision.candidate_rmse
    assert champion() == "1"


def test_judge_rules() -> None:
    good = Scores(rmse=2.0, registered_rmse=1.9, naive_rmse=3.0)
    assert judge(good, None, Gate())[0]
    assert judge(good, 2.0, Gate())[0]  # a tie is "no worse"
    assert judge(good, 1.97, Gate())[0]  # within the 2% tolerance
    assert not judge(good, 1.9, Gate())[0]  # 5% worse than the champion
    assert not judge(Scores(2.9, 2.8, 3.0), None, Gate())[0]  # only 3% better than seasonal-naive
    assert not judge(Scores(2.0, 40.0, 3.0), None, Gate())[0]  # registered weights fit other data
    assert not judge(good, None, Gate(threshold_kw=1.5))[0]  # the optional absolute cap
    assert judge(good, None, Gate(threshold_kw=2.0))[0]
    assert judge(Scores(2000.0, 1900.0, 3000.0), 2000.0, Gate())[0]  # scale-free: 1000x the load, same verdict


def test_predict_writes_the_three_outputs_and_logs_them(state: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    train(synthetic_csv, tmp_path / "m", SeasonalTrendForecaster())
    promote(synthetic_csv, tmp_path / "m", tmp_path / "d")

    report = predict(synthetic_csv, tmp_path / "out", limit_kw=85.0, decision_dir=tmp_path / "d")

    out = tmp_path / "out"
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["timestamp", "predicted_kw", "lower_kw", "upper_kw"]
    assert len(predictions) == 43_824
    assert (predictions["lower_kw"] <= predictions["predicted_kw"]).all()
    assert (out / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads((out / "overload_report.json").read_text())
    assert written == report
    for key in (
        "first_overload_at",
        "overload_hours",
        "max_predicted_kw",
        "limit_kw",
        "horizon_start",
        "horizon_end",
        "model_version",
        "run_id",
    ):
        assert key in written
    assert written["horizon_start"] == "2024-12-31T00:00:00"
    assert written["model_version"] == "1" and written["transformer_id"] == "synthetic"
    assert written["model_uri"] == f"models:/{MODEL_NAME}/1"
    # Synthetic growth of 5 kW/yr from a ~52 kW mean crosses 85 kW late in 2026 or in 2027.
    assert written["first_overload_at"][:4] in {"2026", "2027"}
    run = mlflow.get_run(written["run_id"])
    assert run.data.tags["first_overload_timestamp"] == written["first_overload_at"]
    assert run.data.metrics["max_predicted_kw"] == pytest.approx(written["max_predicted_kw"])
    assert run.data.metrics["overload_event_count"] == written["overload_hours"]
    artifacts = {a.path for a in MlflowClient().list_artifacts(written["run_id"], "outputs")}
    assert artifacts == {
        "outputs/predictions.csv",
        "outputs/overload_report.json",
        "outputs/forecast.png",
        "outputs/typical_day.png",
    }


def test_predict_without_a_champion_says_why(state: Path, synthetic_csv: Path, tmp_path: Path) -> None:
    train(synthetic_csv, tmp_path / "m", SeasonalTrendForecaster())
    decision = promote(synthetic_csv, tmp_path / "m", tmp_path / "d", Gate(threshold_kw=0.5))
    assert not decision.promoted

    with pytest.raises(NoChampionError) as caught:
        predict(synthetic_csv, tmp_path / "out", decision_dir=tmp_path / "d")
    assert str(caught.value) == (
        f"transformer 'synthetic' has no champion in '{MODEL_NAME}' yet, so there is nothing to forecast "
        f"with. The challenger was rejected: {decision.reason}."
    )
    assert not (tmp_path / "out").exists()
    assert versions() == ["1"]
