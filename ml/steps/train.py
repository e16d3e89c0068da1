"""Train: evaluate on a chronological hold-out, refit on all history, register a candidate version."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from ml.evaluate import holdout_scores
from ml.model import SeasonalTrendForecaster
from ml.steps import model_io
from ml.steps.data_io import load_series, sha256
from ml.steps.model_store import register_version
from ml.steps.registry import TRANSFORMER_TAG, model_name, transformer_id_for
from ml.steps.tracking import log_environment, record_data, step_run
from ml.validation import DataPolicy

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("datetime", "timestamp")]), outputs=Schema([ColSpec("double", "predicted_kw")])
)
# Explicit pins: letting MLflow infer requirements imports and probes packages and costs seconds.
RUNTIME_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "mlflow")


@dataclass(frozen=True)
class Candidate:
    """What train hands to promote: which registered version to judge, and its hold-out scores."""

    model_uri: str
    version: str
    run_id: str
    scores: dict[str, float]
    data_sha256: str
    transformer_id: str
    model_name: str
    timezone: str | None = None
    """The clock the data were read in, so promote reads the same file the same way."""

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "candidate.json"
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> Candidate:
        path = directory / "candidate.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no candidate here; run the train step with '--model-out {directory}' first."
            )
        return cls(**json.loads(path.read_text()))


def pinned_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]


def log_model_choices(model: SeasonalTrendForecaster) -> None:
    """The choices the fit made from the data: growth shape with both scores, level steps, sensor faults."""
    selection = model.trend_selection_
    mlflow.set_tags(
        {
            "trend": model.trend_,
            "trend_rule": str(selection["rule"]),
            "trend_runner_up": model.runner_up_trend_,
            "level_shifts": json.dumps(model.level_shifts_),
            "structure": model.structure_,
            "structure_rule": str(model.structure_selection_["rule"]),
            "holidays": str(model.holidays),
            "timezone": str(model.timezone),
        }
    )
    mlflow.log_metrics(
        {
            "trend_bic_linear": float(selection["bic_linear"]),
            "trend_bic_compound": float(selection["bic_compound"]),
            "trend_weight": float(model.trend_weights_[model.trend_]),  # below 1: the P10-P90 mixes both forms
            "growth_pct_per_year": model.growth_pct_per_year_,
            "level_shift_count": len(model.level_shifts_),
            "sensor_spike_hours": model.spike_hours_,
            "sensor_flatline_hours": model.flatline_hours_,
        }
    )


def train(
    data: Path,
    model_out: Path,
    estimator: SeasonalTrendForecaster,
    pipeline_run_id: str | None = None,
    policy: DataPolicy | None = None,
    transformer_id: str | None = None,
) -> Candidate:
    transformer = transformer_id_for(data, transformer_id)
    name = model_name(transformer)
    series, quality = load_series(data, policy, estimator.timezone)
    digest = sha256(data)
    with step_run("train", pipeline_run_id, transformer) as run:
        record_data(data, digest, series, quality)
        mlflow.log_params(estimator.get_params())
        scores = holdout_scores(estimator, series)
        mlflow.log_metrics(scores)
        final = estimator.fit(series.index, series.to_numpy())  # the model we ship uses every observation
        mlflow.log_metrics(
            {
                "growth_kw_per_year": final.growth_kw_per_year_,
                "residual_sigma_kw": final.sigma_,
                "fit_observations": final.n_observations_,
            }
        )
        log_model_choices(final)
        with tempfile.TemporaryDirectory() as scratch:
            saved = save_model(final, series, Path(scratch) / "model")
            registered = register_version(saved, name, transformer, {"data_sha256": digest})
            print(f"registered {name} version {registered.version}, pending the gate", file=sys.stderr, flush=True)
            shutil.copytree(saved, model_out / "model", dirs_exist_ok=True)  # the model travels as a step output
        log_environment()
        candidate = Candidate(
            model_uri=f"models:/{name}/{registered.version}",
            version=str(registered.version),
            run_id=run.info.run_id,
            scores=scores,
            data_sha256=digest,
            transformer_id=transformer,
            model_name=name,
            timezone=estimator.timezone,
        )
        mlflow.set_tags({"model_name": name, "model_version": candidate.version, TRANSFORMER_TAG: transformer})
        candidate.write(model_out)
    return candidate


def save_model(model: SeasonalTrendForecaster, series: pd.Series, path: Path) -> Path:
    """An MLflow pyfunc model folder whose data is the estimator's JSON and arrays, and no code.

    ``loader_module`` names :mod:`ml.steps.model_io` for anyone with gridcast installed who calls
    ``mlflow.pyfunc.load_model``; gridcast itself reads the data with :func:`model_io.load_estimator`.
    """
    with tempfile.TemporaryDirectory() as scratch:
        mlflow.pyfunc.save_model(
            str(path),
            loader_module=model_io.__name__,
            data_path=str(model_io.save_estimator(model, Path(scratch) / "estimator")),
            signature=SIGNATURE,
            input_example=pd.DataFrame({"timestamp": series.index[-3:]}),
            pip_requirements=pinned_requirements(),
        )
    return path
