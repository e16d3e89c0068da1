"""Recover: close what a dead pipeline run left open, so the store never lies about it.

A pipeline run whose runner, supervisor or step was killed leaves MLflow runs RUNNING forever and
maybe a registered version that no gate ever judged. This step, run by the local runner when a run
ends abnormally (or, at the latest, at the next start), closes those runs as KILLED and marks each
undecided version of them ``gate.decision=abandoned``, so nobody mistakes it for a challenger that
is still being judged. The registry contract (train tags every new version ``gate.decision=pending``,
promote sets ``promoted`` or ``rejected``) makes "undecided" a tag, not a guess; a version with no
decision tag at all is undecided too.

The champion mark is the version tag ``gate.decision=promoted``, written last by a complete promote
(``ml/steps/model_store.py``), so a promote killed before that write never moved the champion and its
version is abandoned like any other undecided one.
"""

from __future__ import annotations

from collections.abc import Iterable

import mlflow
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from ml.steps.registry import DECISION_TAG, PENDING
from ml.steps.tracking import PIPELINE_RUN_TAG

UNDECIDED = (None, "", PENDING)
OPEN = ("RUNNING", "SCHEDULED")


def recover(pipeline_run_ids: Iterable[str], status: str = "KILLED") -> list[str]:
    """Close the open MLflow runs of these pipeline runs and mark their undecided versions; what was done."""
    client = MlflowClient()
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    done: list[str] = []
    for pipeline_run_id in pipeline_run_ids:
        if not experiments:
            break
        runs = client.search_runs(experiments, filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}'")
        for run in runs:
            if run.info.status in OPEN:
                client.set_terminated(run.info.run_id, status)
                done.append(f"MLflow run {run.info.run_id} ({run.info.run_name}) closed as {status}")
            done += _mark_undecided(client, run, pipeline_run_id)
    return done


def _mark_undecided(client: MlflowClient, run: Run, pipeline_run_id: str) -> list[str]:
    done = []
    for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
        if version.tags.get(DECISION_TAG) not in UNDECIDED:
            continue
        decision = "abandoned"
        reason = f"pipeline run {pipeline_run_id} ended before the gate decided on this version"
        client.set_model_version_tag(version.name, version.version, DECISION_TAG, decision)
        client.set_model_version_tag(version.name, version.version, "gate.reason", reason)
        done.append(f"{version.name} v{version.version} marked gate.decision={decision}")
    return done
