"""Train: evaluate on a chronological hold-out, refit on all history, register a candidate version."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import ml
from ml.evaluate import holdout_scores
from ml.model import SeasonalTrendForecaster
from ml.steps import MODEL_NAME, model_io
from ml.steps.data_io import load_series, sha256
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
) -> Candidate:
    series, quality = load_series(data, policy, estimator.timezone)
    digest = sha256(data)
    with step_run("train", pipeline_run_id) as run:
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
            info = mlflow.pyfunc.log_model(
                name="model",
                loader_module=model_io.__name__,  # JSON + arrays, no pickle: see ml/steps/model_io.py
                data_path=str(model_io.save_estimator(final, Path(scratch) / "estimator")),
                code_paths=[str(Path(ml.__file__).parent)],  # the artifact carries the code that reads it
                signature=SIGNATURE,
                input_example=pd.DataFrame({"timestamp": series.index[-3:]}),
                pip_requirements=pinned_requirements(),
                registered_model_name=MODEL_NAME,
            )
        log_environment()
        candidate = Candidate(
            model_uri=f"models:/{MODEL_NAME}/{info.registered_model_version}",
            version=str(info.registered_model_version),
            run_id=run.info.run_id,
            scores=scores,
            data_sha256=digest,
            timezone=estimator.timezone,
        )
        candidate.write(model_out)
        mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(model_out / "model"))
    return candidate
