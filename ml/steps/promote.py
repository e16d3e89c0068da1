"""Promote: make a challenger its transformer's champion only if it passes the gate.

The gate is scale-free, so it holds for a 10 kW pole transformer and a 2 MW substation alike:

1. the challenger's test RMSE beats the seasonal-naive forecast (the same hour one week earlier)
   on the same test window by ``margin`` (5%);
2. so do the registered weights themselves, scored as they are: a model fitted to shuffled data
   or to another transformer's data cannot pass, whatever its settings;
3. it is no worse than the current champion's test RMSE within ``tolerance`` (2%), both scored
   now by the same protocol (fit on the training window of *this* data, score on its test
   window; the champion's stored weights saw this window, so scoring them directly would flatter it);
4. optionally, its test RMSE is at most ``threshold_kw`` (an absolute cap; the seed used 3.0 kW).

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

from ml.evaluate import chronological_split, holdout_scores, score, seasonal_naive_rmse
from ml.model import SeasonalTrendForecaster
from ml.steps.data_io import load_series, sha256
from ml.steps.model_store import Champion, LineageError, champion, check_lineage, load_version, mark_promoted
from ml.steps.registry import DECISION_TAG, PROMOTED, REJECTED, promotion_lock, transformer_id_for
from ml.steps.tracking import lock_dir, record_data, step_run
from ml.steps.train import Candidate

DEFAULT_MARGIN = 0.05
DEFAULT_TOLERANCE = 0.02
RECHECKS = 3


@dataclass(frozen=True)
class Gate:
    margin: float = DEFAULT_MARGIN
    """How much better than the seasonal-naive forecast a model must be (0.05: 5% lower RMSE)."""
    tolerance: float = DEFAULT_TOLERANCE
    """How much worse than the champion a challenger may be (0.02: 2% higher RMSE)."""
    threshold_kw: float | None = None
    """Optional absolute cap on the test RMSE in kW."""


@dataclass(frozen=True)
class Scores:
    """The challenger's numbers on this data's test window, all in kW."""

    rmse: float
    """Refitted on the training window, scored on the test window (the protocol)."""
    registered_rmse: float
    """The registered weights as they are, on the test window."""
    naive_rmse: float
    """The seasonal-naive forecast (same hour one week earlier) on the test window."""


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


def judge(scores: Scores, champion_rmse: float | None, gate: Gate) -> tuple[bool, str]:
    """The gate itself, free of MLflow so it can be read and tested on its own."""
    rmse, naive = scores.rmse, scores.naive_rmse
    bar = naive * (1 - gate.margin)
    if gate.threshold_kw is not None and rmse > gate.threshold_kw:
        return False, f"test RMSE {rmse:.3f} kW is above the cap {gate.threshold_kw:.3f} kW"
    if rmse > bar:
        return False, (
            f"test RMSE {rmse:.3f} kW does not beat the seasonal-naive forecast's {naive:.3f} kW by "
            f"{gate.margin:.0%} (at most {bar:.3f} kW)"
        )
    if scores.registered_rmse > bar:
        return False, (
            f"the registered weights score {scores.registered_rmse:.3f} kW on the test window, not {gate.margin:.0%} "
            f"better than the seasonal-naive {naive:.3f} kW: they were not fitted to this transformer's data"
        )
    skill = f"test RMSE {rmse:.3f} kW is {1 - rmse / naive:.0%} below the seasonal-naive {naive:.3f} kW"
    if champion_rmse is None:
        return True, f"{skill} and there is no champion yet"
    if rmse > champion_rmse * (1 + gate.tolerance):
        return False, (
            f"test RMSE {rmse:.3f} kW is worse than the champion's {champion_rmse:.3f} kW "
            f"by more than {gate.tolerance:.0%} on the same test window"
        )
    return True, f"{skill} and within {gate.tolerance:.0%} of the champion's {champion_rmse:.3f} kW"


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


def challenger_scores(model: SeasonalTrendForecaster, series: pd.Series) -> Scores:
    return Scores(
        rmse=holdout_scores(model, series)["rmse"],
        registered_rmse=score(model, chronological_split(series).test)["rmse"],
        naive_rmse=seasonal_naive_rmse(series),
    )


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
