"""What changed since last time: find this transformer's previous forecast and hold it to the new data."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import cast

import mlflow
import pandas as pd

from ml.overload import OverloadReport
from ml.steps.registry import TRANSFORMER_TAG
from ml.steps.tracking import experiment_id
from ml.track_record import moved_days, score_previous_forecast


def previous_predict_run(transformer_id: str) -> str | None:
    """The latest finished predict run of this transformer (run tags, never another transformer's)."""
    found = mlflow.search_runs(
        [experiment_id()],
        filter_string=(
            f"tags.`{TRANSFORMER_TAG}` = '{_quoted(transformer_id)}' and tags.`gridcast.step` = 'predict' "
            "and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return found[0].info.run_id if found else None


def since_last_run(transformer_id: str, series: pd.Series, overload: OverloadReport) -> dict[str, object] | None:
    """The previous run's forecast scored on the hours observed since, and how far its dates moved."""
    run_id = previous_predict_run(transformer_id)
    if run_id is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            # By the run's artifact location: a runs:/ URI would also search logged models (absent on Azure ML).
            location = f"{mlflow.get_run(run_id).info.artifact_uri}/outputs"
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=scratch))
            previous = json.loads((folder / "overload_report.json").read_text())
            predictions = pd.read_csv(folder / "predictions.csv")
        except (OSError, ValueError, mlflow.exceptions.MlflowException):
            return {"previous_run_id": run_id, "note": "the previous run's outputs could not be read"}
    if previous.get("transformer_id") != transformer_id:
        return None  # a record from before lineage existed, or not this transformer's: never compare
    current = overload.as_dict()
    return {
        "previous_run_id": run_id,
        "previous_model_version": previous.get("model_version"),
        "previous_first_overload_at": previous.get("first_overload_at"),
        "previous_first_overload_p10": previous.get("first_overload_p10"),
        "previous_first_overload_p90": previous.get("first_overload_p90"),
        "previous_forecast_on_new_data": score_previous_forecast(predictions, series),
        "moved_days": moved_days(previous, current),
    }


def log_changes(changes: dict[str, object] | None) -> None:
    """The record as MLflow metrics and tags, so a run's page shows it too."""
    if not changes:
        return
    mlflow.set_tag("since_last.previous_run_id", str(changes.get("previous_run_id")))
    scored = cast(dict[str, object], changes.get("previous_forecast_on_new_data") or {})
    metrics = {f"since_last.{k}": float(v) for k, v in scored.items() if isinstance(v, int | float)}
    moved = cast(dict[str, float | None], changes.get("moved_days") or {})
    metrics |= {f"since_last.moved_days.{k}": float(v) for k, v in moved.items() if v is not None}
    if metrics:
        mlflow.log_metrics(metrics)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
