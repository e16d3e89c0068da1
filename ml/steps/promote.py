"""Promote: move the ``champion`` alias only to a challenger that passes the gate.

The gate: test RMSE at most the threshold AND no worse than the current champion on the same
test window, both scored now by the same protocol (fit on the training window of *this* data,
score on its test window). The champion's stored weights were fitted on all of its history,
which may include this window, so scoring them directly would flatter it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from ml.evaluate import holdout_scores
from ml.steps import CHAMPION, MODEL_NAME
from ml.steps.data_io import load_series, sha256
from ml.steps.model_io import load_registered
from ml.steps.tracking import champion_version, record_data, step_run
from ml.steps.train import Candidate

DEFAULT_THRESHOLD_KW = 3.0


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    candidate_version: str
    candidate_rmse: float
    champion_version: str | None
    """The champion after this decision (the candidate when promoted)."""
    previous_champion_version: str | None
    previous_champion_rmse: float | None
    threshold_kw: float

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "decision.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> Decision | None:
        path = directory / "decision.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def judge(candidate_rmse: float, champion_rmse: float | None, threshold_kw: float) -> tuple[bool, str]:
    """The gate itself, free of MLflow so it can be read and tested on its own."""
    if candidate_rmse > threshold_kw:
        return False, f"test RMSE {candidate_rmse:.3f} kW is above the threshold {threshold_kw:.3f} kW"
    if champion_rmse is not None and candidate_rmse > champion_rmse:
        return False, (
            f"test RMSE {candidate_rmse:.3f} kW is worse than the champion's {champion_rmse:.3f} kW "
            "on the same test window"
        )
    if champion_rmse is None:
        return True, f"test RMSE {candidate_rmse:.3f} kW is within {threshold_kw:.3f} kW and there is no champion yet"
    return True, (
        f"test RMSE {candidate_rmse:.3f} kW is within {threshold_kw:.3f} kW and no worse than the "
        f"champion's {champion_rmse:.3f} kW"
    )


def promote(
    data: Path,
    candidate_dir: Path,
    decision_out: Path,
    threshold_kw: float = DEFAULT_THRESHOLD_KW,
    pipeline_run_id: str | None = None,
) -> Decision:
    candidate = Candidate.read(candidate_dir)
    series, quality = load_series(data, timezone=candidate.timezone)
    client = MlflowClient()
    with step_run("promote", pipeline_run_id):
        record_data(data, sha256(data), series, quality)
        current = champion_version()
        candidate_rmse = _score(f"models:/{MODEL_NAME}/{candidate.version}", series)
        champion_rmse = None
        if current == candidate.version:  # promote re-run on the version that already holds the alias
            champion_rmse = candidate_rmse
        elif current is not None:
            champion_rmse = _score(f"models:/{MODEL_NAME}@{CHAMPION}", series)
        promoted, reason = judge(candidate_rmse, champion_rmse, threshold_kw)
        if promoted:
            client.set_registered_model_alias(MODEL_NAME, CHAMPION, candidate.version)
        decision = Decision(
            promoted=promoted,
            reason=reason,
            candidate_version=candidate.version,
            candidate_rmse=round(candidate_rmse, 6),
            champion_version=candidate.version if promoted else current,
            previous_champion_version=current,
            previous_champion_rmse=None if champion_rmse is None else round(champion_rmse, 6),
            threshold_kw=threshold_kw,
        )
        _record(client, decision)
        decision.write(decision_out)
    return decision


def _score(model_uri: str, series: object) -> float:
    return holdout_scores(load_registered(model_uri), series)["rmse"]


def _record(client: MlflowClient, decision: Decision) -> None:
    """The decision and its reason on both the model version and the run, whichever way it went."""
    tags = {
        "gate.decision": "promoted" if decision.promoted else "rejected",
        "gate.reason": decision.reason,
        "gate.threshold_kw": str(decision.threshold_kw),
        "gate.candidate_rmse": str(decision.candidate_rmse),
        "gate.previous_champion_version": str(decision.previous_champion_version),
        "gate.previous_champion_rmse": str(decision.previous_champion_rmse),
    }
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, decision.candidate_version, key, value)
    mlflow.set_tags(tags | {"candidate_version": decision.candidate_version})
    mlflow.log_metrics({"candidate_test_rmse": decision.candidate_rmse, "promoted": int(decision.promoted)})
    if decision.previous_champion_rmse is not None:
        mlflow.log_metric("champion_test_rmse", decision.previous_champion_rmse)
