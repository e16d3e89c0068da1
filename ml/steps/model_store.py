"""The registry calls gridcast makes, and only those, each one Azure ML's MLflow registry supports.

No call here touches MLflow 3's logged-models API (``/api/2.0/mlflow/logged-models``), which Azure
ML answers with 404 (Azure/azure-sdk-for-python#44896): the model is saved to a local folder,
logged as plain run artifacts, and registered with ``create_model_version`` from the run's
artifact location. Loading downloads a version's files and rebuilds the estimator from JSON and
arrays (:mod:`ml.steps.model_io`); nothing from the artifact is imported or executed.

=====================================  ==========================================================
call                                   Azure ML support matrix row
=====================================  ==========================================================
``create_registered_model``            Register models in MLflow format
``create_model_version`` (run source)  Register models from runs outputs/artifacts
``get_model_version``                  Retrieving details of registered model's versions
``search_model_versions(name=...)``    Retrieving details of registered model's versions
``set_model_version_tag``              Edit registered model's versions tags
``get_model_version_download_uri``     Load models from registry (MLflow first calls
                                       ``get_registered_model``, the doc's own example)
=====================================  ==========================================================

``tests/pipeline/test_tracking_server.py`` asserts that a whole pipeline calls no other registry endpoint.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from ml.model import SeasonalTrendForecaster
from ml.steps.model_io import fingerprint, load_estimator
from ml.steps.registry import DECISION_TAG, PENDING, PROMOTED, PROMOTION_TAG, TRANSFORMER_TAG

MODEL_ARTIFACT_PATH = "model"
MODEL_SHA_TAG = "gridcast.model_sha256"
"""On every version: the SHA-256 of its estimator files, checked on every load (any later edit is refused)."""
_ALREADY_EXISTS = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")


class LineageError(ValueError):
    """The model asked for does not belong to this transformer (or is not a gridcast model)."""


@dataclass(frozen=True)
class Champion:
    version: str
    promotion: int


def register_version(model_dir: Path, name: str, transformer_id: str, extra_tags: dict[str, str]) -> ModelVersion:
    """Log ``model_dir`` under the active run and register it as a new, pending version of ``name``."""
    mlflow.log_artifacts(str(model_dir), artifact_path=MODEL_ARTIFACT_PATH)
    tags = {
        TRANSFORMER_TAG: transformer_id,
        DECISION_TAG: PENDING,
        MODEL_SHA_TAG: fingerprint(estimator_dir(model_dir)),
        **extra_tags,
    }
    return create_version(name, f"gridcast load forecaster of transformer {transformer_id}", tags)


def create_version(name: str, description: str, tags: dict[str, str]) -> ModelVersion:
    """Register what the active run logged under ``model/`` as a new version of ``name`` (created if new).

    Shared by a transformer's model and a fleet's: the same two registry calls, each in Azure ML's matrix.
    """
    client = MlflowClient()
    try:
        client.create_registered_model(name, description=description)
    except MlflowException as exc:
        if exc.error_code not in _ALREADY_EXISTS:  # a concurrent run created it first: fine
            raise
    run = mlflow.active_run()
    assert run is not None, "a version is registered inside the step's run"
    version = client.create_model_version(
        name, source=mlflow.get_artifact_uri(MODEL_ARTIFACT_PATH), run_id=run.info.run_id, tags=tags
    )
    for key, value in tags.items():  # a store that ignores tags on creation still gets them
        if version.tags.get(key) != value:
            client.set_model_version_tag(name, version.version, key, value)
    return version


def versions_of(name: str) -> list[ModelVersion]:
    """Every version of one registered model (costs what this transformer has, not the registry)."""
    client, token = MlflowClient(), None
    found: list[ModelVersion] = []
    while True:
        page = client.search_model_versions(f"name='{name}'", page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def champion(name: str) -> Champion | None:
    """The promoted version with the highest promotion number, or None before the first promotion."""
    promoted = [
        Champion(str(v.version), int(v.tags.get(PROMOTION_TAG, "0") or 0))
        for v in versions_of(name)
        if v.tags.get(DECISION_TAG) == PROMOTED
    ]
    if not promoted:
        return None
    return max(promoted, key=lambda c: (c.promotion, int(c.version)))


def mark_promoted(name: str, version: str, promotion: int) -> None:
    """Two writes in an order a crash cannot misread: the number first, then the decision that counts."""
    client = MlflowClient()
    client.set_model_version_tag(name, version, PROMOTION_TAG, str(promotion))
    client.set_model_version_tag(name, version, DECISION_TAG, PROMOTED)


def check_lineage(name: str, version: str, transformer_id: str) -> ModelVersion:
    """The version, if it was registered for ``transformer_id``; a clear refusal otherwise."""
    model_version = MlflowClient().get_model_version(name, version)
    owner = model_version.tags.get(TRANSFORMER_TAG)
    if owner != transformer_id:
        raise LineageError(
            f"model {name} version {version} was trained for transformer {owner!r}, not {transformer_id!r}; "
            "refusing to forecast one transformer with another's model"
        )
    return model_version


def load_version(name: str, version: str) -> SeasonalTrendForecaster:
    """Download exactly this version's files and rebuild the estimator (no pyfunc loader, no imports).

    The files must still be the ones registered: their SHA-256 is checked against the version's tag.
    """
    client = MlflowClient()
    registered_sha = client.get_model_version(name, version).tags.get(MODEL_SHA_TAG)
    if not registered_sha:
        raise LineageError(
            f"model {name} version {version} has no '{MODEL_SHA_TAG}' tag; it was not registered by gridcast"
        )
    uri = client.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        return load_estimator(estimator_dir(local), expected_sha256=registered_sha)


def load_model_dir(model_dir: Path) -> SeasonalTrendForecaster:
    """The estimator inside a saved MLflow model folder (``MLmodel`` names its data folder)."""
    return load_estimator(estimator_dir(model_dir))


def estimator_dir(model_dir: Path) -> Path:
    """The estimator's folder inside a saved MLflow model: what ``MLmodel`` names, never outside the model."""
    flavor = Model.load(str(model_dir / "MLmodel")).flavors.get("python_function", {})
    data = flavor.get("data")
    if not data:
        raise LineageError(f"{model_dir}: not a gridcast model (its MLmodel names no estimator data)")
    folder = (model_dir / data).resolve()
    if not folder.is_relative_to(model_dir.resolve()):
        raise LineageError(f"{model_dir}: its MLmodel points the estimator data outside the model ({data!r})")
    return folder
