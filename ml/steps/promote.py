"""Promote: make a challenger its transformer's champion only if it passes the gate (:mod:`ml.gate`).

Promotions of one transformer are serialized by a per-transformer lock, and the champion is
re-read just before it is replaced: if another run promoted meanwhile, the challenger is judged
again against that one. Runs on different transformers never wait for each other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from ml.evaluate import holdout_scores
from ml.gate import DEFAULT_MARGIN, DEFAULT_TOLERANCE, Gate, Scores, challenger_scores, judge
from ml.steps.data_io import load_series, sha256
from ml.steps.model_store import Champion, LineageError, champion, check_lineage, load_version, mark_promoted
from ml.steps.registry import DECISION_TAG, PROMOTED, REJECTED, promotion_lock, transformer_id_for
from ml.steps.tracking import lock_dir, record_data, step_run
from ml.steps.train import Candidate

RECHECKS = 3


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    candidate_version: str
    candidate_rmse: float
    champion_version: str | None
    """The champion after this decision (the candidate when promoted): the version predict uses."""
    previous_champion_version: str | None
    previous_champion_rmse: float | None
    threshold_kw: float | None
    transformer_id: str = ""
    model_name: str = ""
    candidate_registered_rmse: float | None = None
    naive_rmse: float | None = None
    margin: float = DEFAULT_MARGIN
    tolerance: float = DEFAULT_TOLERANCE

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "decision.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> Decision | None:
        path = directory / "decision.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def promote(
    data: Path,
    candidate_dir: Path,
    decision_out: Path,
    gate: Gate | None = None,
    pipeline_run_id: str | None = None,
    transformer_id: str | None = None,
) -> Decision:
    gate = gate or Gate()
    candidate = Candidate.read(candidate_dir)
    transformer = transformer_id_for(data, transformer_id)
    if candidate.transformer_id != transformer:
        raise LineageError(
            f"{candidate_dir}: the candidate was trained for transformer {candidate.transformer_id!r}, "
            f"but this data is transformer {transformer!r}"
        )
    name = candidate.model_name
    series, quality = load_series(data, timezone=candidate.timezone)
    with step_run("promote", pipeline_run_id, transformer):
        record_data(data, sha256(data), series, quality)
        check_lineage(name, candidate.version, transformer)
        scores = challenger_scores(load_version(name, candidate.version), series)
        with promotion_lock(lock_dir(), name):
            decision = _decide(name, candidate, series, scores, gate)
        decision = Decision(**(asdict(decision) | {"transformer_id": transformer, "model_name": name}))
        _record(decision)
        decision.write(decision_out)
    return decision


def _decide(name: str, candidate: Candidate, series: pd.Series, scores: Scores, gate: Gate) -> Decision:
    """Judge against the champion; promote only if the champion is still the one judged against."""
    current = champion(name)
    for _ in range(RECHECKS):
        if current is not None and current.version == candidate.version:  # promote re-run on the champion
            return _decision(True, "already the champion", candidate, scores, gate, current, current, scores.rmse)
        champion_rmse = None if current is None else _protocol_rmse(name, current.version, series)
        promoted, reason = judge(scores, champion_rmse, gate)
        if not promoted:
            return _decision(False, reason, candidate, scores, gate, current, current, champion_rmse)
        latest = champion(name)
        if latest == current:
            promotion = 1 if current is None else current.promotion + 1
            mark_promoted(name, candidate.version, promotion)
            after = Champion(candidate.version, promotion)
            return _decision(True, reason, candidate, scores, gate, current, after, champion_rmse)
        current = latest  # another run promoted meanwhile: judge again, against that champion
    raise RuntimeError(f"{name}: the champion kept changing during {RECHECKS} attempts to promote; run promote again")


def _decision(
    promoted: bool,
    reason: str,
    candidate: Candidate,
    scores: Scores,
    gate: Gate,
    before: Champion | None,
    after: Champion | None,
    champion_rmse: float | None,
) -> Decision:
    return Decision(
        promoted=promoted,
        reason=reason,
        candidate_version=candidate.version,
        candidate_rmse=round(scores.rmse, 6),
        champion_version=None if after is None else after.version,
        previous_champion_version=None if before is None else before.version,
        previous_champion_rmse=None if champion_rmse is None else round(champion_rmse, 6),
        threshold_kw=gate.threshold_kw,
        candidate_registered_rmse=round(scores.registered_rmse, 6),
        naive_rmse=round(scores.naive_rmse, 6),
        margin=gate.margin,
        tolerance=gate.tolerance,
    )


def _protocol_rmse(name: str, version: str, series: pd.Series) -> float:
    return holdout_scores(load_version(name, version), series)["rmse"]


def _record(decision: Decision) -> None:
    """The decision and its reason on both the model version and the run, whichever way it went."""
    client = MlflowClient()
    tags = {
        "gate.reason": decision.reason,
        "gate.threshold_kw": str(decision.threshold_kw),
        "gate.margin": str(decision.margin),
        "gate.tolerance": str(decision.tolerance),
        "gate.candidate_rmse": str(decision.candidate_rmse),
        "gate.naive_rmse": str(decision.naive_rmse),
        "gate.previous_champion_version": str(decision.previous_champion_version),
        "gate.previous_champion_rmse": str(decision.previous_champion_rmse),
    }
    for key, value in tags.items():
        client.set_model_version_tag(decision.model_name, decision.candidate_version, key, value)
    if not decision.promoted:  # a promotion's decision tag was written under the lock, in order
        client.set_model_version_tag(decision.model_name, decision.candidate_version, DECISION_TAG, REJECTED)
    verdict = PROMOTED if decision.promoted else REJECTED
    mlflow.set_tags(tags | {DECISION_TAG: verdict, "candidate_version": decision.candidate_version})
    mlflow.set_tag("champion_version", str(decision.champion_version))
    metrics = {
        "candidate_test_rmse": decision.candidate_rmse,
        "seasonal_naive_rmse": float(decision.naive_rmse or 0.0),
        "promoted": int(decision.promoted),
    }
    if decision.candidate_registered_rmse is not None:
        metrics["candidate_registered_rmse"] = decision.candidate_registered_rmse
    if decision.previous_champion_rmse is not None:
        metrics["champion_test_rmse"] = decision.previous_champion_rmse
    mlflow.log_metrics(metrics)
