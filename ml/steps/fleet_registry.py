"""Where a fleet's models live in the registry: one registered model per fleet, one version per run.

A version's artifact is one ``fleet_model.npz`` holding, for every transformer, the fit that answers
for it after that run's gate: the new challenger where it was promoted, the champion it kept
otherwise. Its ``model_version`` array says in which version each fit was first registered, so
a kept transformer goes on answering with the version it was promoted in, and the report can say
so. Finding every champion of a fleet is one lookup by name and one download, whether the fleet
has ten transformers or 100,000; the calls are those of :mod:`ml.steps.model_store` (each in Azure
ML's registry support matrix), with the same tag-marked champion and the same per-name lock.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient

from ml.fleet import Champion as FleetMember
from ml.fleet import packed_versions, unpack_models
from ml.steps.data_io import sha256
from ml.steps.model_io import ModelFormatError, check_rebuilt
from ml.steps.model_store import (
    MODEL_ARTIFACT_PATH,
    MODEL_SHA_TAG,
    Champion,
    LineageError,
    champion,
    create_version,
    mark_promoted,
)
from ml.steps.registry import DECISION_TAG, PENDING, model_name, promotion_lock
from ml.steps.tracking import lock_dir

FLEET_TAG = "gridcast.fleet"
"""On every fleet model version: the fleet's name (a transformer's versions carry ``transformer_id``)."""
MODEL_FILE = "fleet_model.npz"


class ChampionMovedError(RuntimeError):
    """Another run of the same fleet registered a champion while this one was judging against the old."""


def fleet_model_name(fleet: str) -> str:
    """The fleet's registered model: the hashed form of :func:`model_name`, which no transformer's name can take."""
    return model_name(f"fleet:{fleet}")


def load_champions(fleet: str, ids: set[str] | None) -> tuple[Champion | None, dict[str, FleetMember]]:
    """The fleet's champion version and, for each of ``ids`` it holds (None: all), the fit that answers for it.

    The artifact must still be the file registered (its SHA-256 is the version's tag) and every fit
    must pass the checks a single model passes on load: it is data, never code.
    """
    name = fleet_model_name(fleet)
    current = champion(name)
    if current is None:
        return None, {}
    client = MlflowClient()
    tags = client.get_model_version(name, current.version).tags
    registered_sha = tags.get(MODEL_SHA_TAG)
    if tags.get(FLEET_TAG) != fleet or not registered_sha:
        raise LineageError(
            f"model {name} version {current.version} is not fleet {fleet!r}'s model "
            f"(its '{FLEET_TAG}' tag is {tags.get(FLEET_TAG)!r}); refusing to answer for its transformers"
        )
    uri = client.get_model_version_download_uri(name, current.version)
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)) / MODEL_FILE
        if not local.is_file() or sha256(local) != registered_sha:
            raise ModelFormatError(
                f"model {name} version {current.version}: {MODEL_FILE} is missing or changed since registration"
            )
        with np.load(local, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    versions = packed_versions(arrays, current.version)
    members = {}
    for tid, model in unpack_models(arrays, only=ids).items():
        check_rebuilt(f"model {name} version {versions[tid]} [{tid}]", model)
        members[tid] = FleetMember(versions[tid], model)
    return current, members


def register_fleet_version(model_file: Path, fleet: str, judged_against: str | None, tags: dict[str, str]) -> Champion:
    """Register ``model_file`` as the fleet's new champion version, if the champion is still the one judged against.

    Under the fleet's lock: check, log the file under the active run, create the version (pending),
    then mark it promoted. A run that dies before the mark leaves a pending version and the old
    champion in place; ``ml.steps recover`` closes such versions.
    """
    name = fleet_model_name(fleet)
    with promotion_lock(lock_dir(), name):
        current = champion(name)
        if (current.version if current else None) != judged_against:
            raise ChampionMovedError(
                f"fleet {fleet!r}: version {current.version if current else None} of {name} became the champion "
                f"while this run judged against {judged_against or 'no champion'}; nothing was registered, "
                "run the fleet again"
            )
        mlflow.log_artifact(str(model_file), artifact_path=MODEL_ARTIFACT_PATH)
        version_tags = {FLEET_TAG: fleet, DECISION_TAG: PENDING, MODEL_SHA_TAG: sha256(model_file), **tags}
        version = create_version(name, f"gridcast models of fleet {fleet}", version_tags)
        promotion = 1 if current is None else current.promotion + 1
        mark_promoted(name, str(version.version), promotion)
    return Champion(str(version.version), promotion)
