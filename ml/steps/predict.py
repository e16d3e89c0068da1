"""Predict: forecast with the exact champion version promote decided on, write the three outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from matplotlib.figure import Figure

from ml.chart import forecast_figure, typical_day_figure
from ml.evaluate import forecast_index
from ml.findings import model_findings, sensor_repairs
from ml.overload import OverloadReport, analyse_overload
from ml.steps.data_io import load_series, sha256
from ml.steps.history import log_changes, since_last_run
from ml.steps.model_store import LineageError, champion, check_lineage, load_version
from ml.steps.promote import Decision
from ml.steps.registry import TRANSFORMER_TAG, model_name, transformer_id_for
from ml.steps.tracking import record_data, step_run
from ml.uncertainty import simulate_overload

DEFAULT_LIMIT_KW = 85.0
DEFAULT_HORIZON_YEARS = 5.0
RESULT_FILES = ("predictions.csv", "forecast.png", "typical_day.png", "overload_report.json")  # report last


class NoChampionError(RuntimeError):
    """There is no model to forecast with: the first challenger was rejected, or none was trained."""


def predict(
    data: Path,
    out: Path,
    limit_kw: float = DEFAULT_LIMIT_KW,
    horizon_years: float = DEFAULT_HORIZON_YEARS,
    decision_dir: Path | None = None,
    pipeline_run_id: str | None = None,
    transformer_id: str | None = None,
    timezone: str | None = None,
) -> dict[str, object]:
    transformer = transformer_id_for(data, transformer_id)
    name = model_name(transformer)
    decision = Decision.read(decision_dir) if decision_dir else None
    if decision is not None and decision.transformer_id != transformer:
        raise LineageError(
            f"{decision_dir}: the promote decision is for transformer {decision.transformer_id!r}, "
            f"but this data is transformer {transformer!r}"
        )
    series, quality = load_series(data, timezone=timezone)
    digest = sha256(data)
    with step_run("predict", pipeline_run_id, transformer, finishes_pipeline=True) as run:
        record_data(data, digest, series, quality)
        version = _pinned_version(name, transformer, decision)
        check_lineage(name, version, transformer)
        model = load_version(name, version)
        horizon = forecast_index(series.index[-1], horizon_years)
        forecast = model.predict_interval(horizon)
        overload = analyse_overload(forecast, limit_kw, model.coverage, simulate_overload(model, horizon, limit_kw))
        changes = since_last_run(transformer, series, overload)
        report = (
            {"transformer_id": transformer}
            | overload.as_dict()
            | model_findings(model, horizon, limit_kw)
            | {
                "model_name": name,
                "model_uri": f"models:/{name}/{version}",
                "model_version": version,
                "run_id": run.info.run_id,
                "data_sha256": digest,
                "data_repairs": quality.repairs() + sensor_repairs(model),
                "growth_kw_per_year": round(model.growth_kw_per_year_, 4),
                "challenger": None if decision is None else decision.__dict__,
                "since_last_run": changes,
            }
        )
        figures = {
            "forecast.png": forecast_figure(
                series, forecast, overload, model.level_shifts_, subject=f"transformer {transformer}"
            ),
            "typical_day.png": typical_day_figure(model, series),
        }
        write_outputs(out, run.info.run_id, forecast, report, figures)
        mlflow.log_params({"limit_kw": limit_kw, "horizon_years": horizon_years, "model_version": version})
        mlflow.set_tags({"model_name": name, "model_version": version, TRANSFORMER_TAG: transformer})
        mlflow.log_metrics(
            {
                "max_predicted_kw": overload.max_predicted_kw,
                "overload_event_count": overload.overload_hours,
                "overload_hours": overload.overload_hours,
                "overload_episodes": overload.overload_episodes,
            }
        )
        mlflow.set_tag("first_overload_timestamp", overload.first_overload_at or "none")
        log_uncertainty(overload, report)
        log_changes(changes)
        mlflow.log_artifacts(str(out), artifact_path="outputs")
    return report


def _pinned_version(name: str, transformer: str, decision: Decision | None) -> str:
    """The version the promote decision named; without a decision, the champion as of now, once."""
    if decision is not None and decision.champion_version:
        return decision.champion_version
    if decision is None:
        current = champion(name)
        if current is not None:
            return current.version
    why = f" The challenger was rejected: {decision.reason}." if decision and not decision.promoted else ""
    raise NoChampionError(
        f"transformer {transformer!r} has no champion in '{name}' yet, so there is nothing to forecast with.{why}"
    )


def write_outputs(
    out: Path, run_id: str, forecast: pd.DataFrame, report: dict, figures: dict[str, Figure]
) -> list[Path]:
    """Write every file under a temporary name first, then rename them into place, the report last.

    A crash, a kill or a full disk while writing leaves the previous files untouched (and never a
    truncated one); the renames that follow take microseconds each.
    """
    staging = out / f".partial-{run_id}"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        forecast.to_csv(staging / "predictions.csv", index=False, float_format="%.3f", date_format="%Y-%m-%d %H:%M")
        for file_name, figure in figures.items():
            figure.savefig(staging / file_name)
        (staging / "overload_report.json").write_text(json.dumps(report, indent=2) + "\n")
        for name in RESULT_FILES:
            with (staging / name).open("rb") as handle:
                os.fsync(handle.fileno())
        for name in RESULT_FILES:
            os.replace(staging / name, out / name)
    finally:
        for figure in figures.values():
            plt.close(figure)
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in RESULT_FILES]


def log_uncertainty(overload: OverloadReport, findings: dict[str, object]) -> None:
    """The first-overload distribution and the model's own findings, as MLflow tags and metrics."""
    mlflow.set_tags(
        {
            "first_overload_p10": overload.first_overload_p10 or "none",
            "first_overload_p50": overload.first_overload_p50 or "none",
            "first_overload_p90": overload.first_overload_p90 or "none",
            "trend": str(findings["trend"]),
            "runner_up_first_overload_at": str(findings["trend_selection"]["runner_up_first_overload_at"]),  # type: ignore[index]
            "level_shifts": json.dumps(findings["level_shifts"]),
        }
    )
    metrics = {f"p_overload_by_{year}": p for year, p in overload.p_overload_by_year_end.items()}
    if overload.expected_overload_hours is not None:
        metrics["expected_overload_hours"] = overload.expected_overload_hours
    mlflow.log_metrics(metrics)
