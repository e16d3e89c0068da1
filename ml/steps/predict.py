"""Predict: forecast with the champion, answer the overload question, write the three outputs."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow

from ml.chart import forecast_figure
from ml.evaluate import forecast_index
from ml.overload import analyse_overload
from ml.steps import CHAMPION, MODEL_NAME
from ml.steps.data_io import load_series, sha256
from ml.steps.promote import Decision
from ml.steps.tracking import champion_version, record_data, step_run

DEFAULT_LIMIT_KW = 85.0
DEFAULT_HORIZON_YEARS = 5.0
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION}"


class NoChampionError(RuntimeError):
    """There is no model to forecast with: the first challenger was rejected, or none was trained."""


def predict(
    data: Path,
    out: Path,
    limit_kw: float = DEFAULT_LIMIT_KW,
    horizon_years: float = DEFAULT_HORIZON_YEARS,
    decision_dir: Path | None = None,
    pipeline_run_id: str | None = None,
) -> dict[str, object]:
    series, quality = load_series(data)
    decision = Decision.read(decision_dir) if decision_dir else None
    digest = sha256(data)
    with step_run("predict", pipeline_run_id, finishes_pipeline=True) as run:
        record_data(data, digest, series, quality)
        version = champion_version()
        if version is None:
            why = f" The challenger was rejected: {decision.reason}." if decision and not decision.promoted else ""
            raise NoChampionError(
                f"no model holds the '{CHAMPION}' alias of '{MODEL_NAME}' yet, so there is nothing to forecast "
                f"with.{why}"
            )
        model = mlflow.sklearn.load_model(CHAMPION_URI)
        forecast = model.predict_interval(forecast_index(series.index[-1], horizon_years))
        overload = analyse_overload(forecast, limit_kw, model.coverage)
        report = overload.as_dict() | {
            "model_uri": CHAMPION_URI,
            "model_version": version,
            "run_id": run.info.run_id,
            "data_sha256": digest,
            "data_repairs": quality.repairs(),
            "growth_kw_per_year": round(model.growth_kw_per_year_, 4),
            "challenger": None if decision is None else decision.__dict__,
        }
        out.mkdir(parents=True, exist_ok=True)
        forecast.to_csv(out / "predictions.csv", index=False, float_format="%.3f", date_format="%Y-%m-%d %H:%M")
        (out / "overload_report.json").write_text(json.dumps(report, indent=2) + "\n")
        figure = forecast_figure(series, forecast, overload)
        figure.savefig(out / "forecast.png")
        plt.close(figure)
        mlflow.log_params({"limit_kw": limit_kw, "horizon_years": horizon_years, "model_version": version})
        mlflow.log_metrics(
            {
                "max_predicted_kw": overload.max_predicted_kw,
                "overload_event_count": overload.overload_hours,
                "overload_hours": overload.overload_hours,
                "overload_episodes": overload.overload_episodes,
            }
        )
        mlflow.set_tag("first_overload_timestamp", overload.first_overload_at or "none")
        mlflow.log_artifacts(str(out), artifact_path="outputs")
    return report
