"""MLflow as the system of record: where runs go, how they nest, what every run records."""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import distributions
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import ml
from ml.steps import EXPERIMENT
from ml.steps.registry import TRANSFORMER_TAG
from ml.steps.state import default_tracking_uri, state_dir
from ml.steps.store_uri import check_reachable, check_scheme, split_credentials
from ml.validation import DataQuality

PIPELINE_RUN_TAG = "gridcast.pipeline_run_id"
ROLE_TAG = "gridcast.role"  # "pipeline" on the parent run, so a search never mistakes a step for it


def configure(tracking_uri: str | None, reachable: bool = False) -> str:
    """Point MLflow at ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the embedded SQLite store.

    The scheme is checked always; with ``reachable`` an HTTP server must answer within seconds
    (:class:`TrackingStoreError` otherwise). Credentials in an HTTP URI move to MLflow's basic-auth
    variables, so MLflow never prints them as part of a URL.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    check_scheme(uri)
    if reachable:
        check_reachable(uri)
    uri, credentials = split_credentials(uri)
    os.environ.update(credentials)
    if "MLFLOW_TRACKING_URI" in os.environ:
        os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:///"):
        _open_sqlite_store(Path(uri.removeprefix("sqlite:///")))
    return uri


def _open_sqlite_store(database: Path) -> None:
    """Create or check the embedded store's schema under a file lock.

    Parallel step processes (fleet shards) may open a new store at the same moment; MLflow creates
    its tables without a lock, so without this one of them fails half-way through the migration.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    with database.with_name(database.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not database.exists():
            _create_sqlite_store(database)
        client = MlflowClient()  # the first call on each store creates or checks its schema
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)


def _create_sqlite_store(database: Path) -> None:
    """Build a new store's schema under a scratch name and rename it into place when complete.

    MLflow's migrations run one by one; a kill or a full disk half-way would leave a store every later
    run fails on ("table _alembic_tmp_tags already exists"). Scratch files of such a death are removed.
    """
    for stale in database.parent.glob(f".{database.name}.*.creating*"):
        stale.unlink(missing_ok=True)  # we hold the lock: whoever made them is gone
    scratch = database.with_name(f".{database.name}.{os.getpid()}.creating")
    try:
        uri = f"sqlite:///{scratch}"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
        os.replace(scratch, database)
    finally:
        scratch.unlink(missing_ok=True)


def experiment_id() -> str:
    """The ``transformer-load`` experiment; with the embedded store its artifacts sit beside the database."""
    existing = mlflow.get_experiment_by_name(EXPERIMENT)
    if existing is not None:
        return existing.experiment_id
    location = None
    if mlflow.get_tracking_uri().startswith("sqlite:///"):
        location = (state_dir() / "artifacts").as_uri()
    try:
        return mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    except MlflowException:  # created meanwhile by a concurrent step
        return mlflow.get_experiment_by_name(EXPERIMENT).experiment_id  # type: ignore[union-attr]


def _parent_run_id(pipeline_run_id: str, exp_id: str, transformer_id: str | None) -> str:
    """Find or create the pipeline's parent run, so steps in separate processes (or clouds) nest under it."""
    found = mlflow.search_runs(
        [exp_id],
        filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}' and tags.`{ROLE_TAG}` = 'pipeline'",
        output_format="list",
    )
    if found:
        return found[0].info.run_id
    run = MlflowClient().create_run(
        exp_id,
        run_name=f"pipeline-{pipeline_run_id}",
        tags={PIPELINE_RUN_TAG: pipeline_run_id, ROLE_TAG: "pipeline", **provenance_tags()}
        | ({TRANSFORMER_TAG: transformer_id} if transformer_id else {}),
    )
    return run.info.run_id


@contextmanager
def step_run(
    step: str, pipeline_run_id: str | None, transformer_id: str | None = None, finishes_pipeline: bool = False
) -> Iterator[Run]:
    """One child run per step, tagged with its transformer. A failing step marks the pipeline's parent run FAILED."""
    exp_id = experiment_id()
    parent = _parent_run_id(pipeline_run_id, exp_id, transformer_id) if pipeline_run_id else None
    tags = {"gridcast.step": step, **provenance_tags()} | ({TRANSFORMER_TAG: transformer_id} if transformer_id else {})
    if parent:
        tags |= {"mlflow.parentRunId": parent, PIPELINE_RUN_TAG: str(pipeline_run_id)}
    client = MlflowClient()
    started: Run | None = None
    try:
        with mlflow.start_run(experiment_id=exp_id, run_name=step, tags=tags) as run:
            started = run
            yield run
    except BaseException as exc:
        # Stopped (Ctrl-C, SIGTERM from a stopping or dying runner) is KILLED, as MLflow's UI says it.
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        if started is not None and status == "KILLED":
            client.set_terminated(started.info.run_id, status)
        if parent:
            client.set_terminated(parent, status)
        raise
    if parent and finishes_pipeline:
        client.set_terminated(parent, "FINISHED")


def git_commit() -> str:
    """The code version: ``$GRIDCAST_GIT_COMMIT`` (baked into images) or the checkout's own commit."""
    if os.environ.get("GRIDCAST_GIT_COMMIT"):
        return os.environ["GRIDCAST_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=Path(ml.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance_tags() -> dict[str, str]:
    return {
        "git_commit": git_commit(),
        "gridcast_version": ml.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }


def record_data(path: Path, digest: str, series: pd.Series, quality: DataQuality) -> None:
    """Tag the run with what it was fed, log the dataset as an input, and count every repair."""
    mlflow.set_tags(
        {
            "data_sha256": digest,
            "data_path": str(path),
            "data_rows": str(quality.rows_read),
            "data_start": quality.start,
            "data_end": quality.end,
            "data_repairs": "; ".join(quality.repairs()) or "none",
        }
    )
    mlflow.log_metrics(
        {
            "data_missing_hours": quality.missing_hours,
            "data_missing_readings": quality.missing_readings,
            "data_missing_share": quality.missing_share,
            "data_exact_duplicates_dropped": quality.exact_duplicates_dropped,
            "data_longest_gap_hours": quality.longest_gap_hours,
            "data_rows_were_unsorted": int(quality.rows_were_unsorted),
        }
    )
    frame = series.rename("kw").rename_axis("timestamp").reset_index()
    with warnings.catch_warnings():  # MLflow notes that a local path matches two equivalent source types
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(path.resolve().as_uri())
    mlflow.log_input(
        from_pandas(frame, source=source, targets="kw", name=path.name, digest=digest[:16]),
        context="training",
    )


def log_environment() -> None:
    """The exact installed packages, so a run can be reproduced or audited later."""
    lines = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions() if d.metadata["Name"])
    mlflow.log_text("\n".join(lines) + "\n", "environment/pip-freeze.txt")
    mlflow.log_text(sys.version + "\n", "environment/python.txt")


def lock_dir() -> Path:
    """Where promotion locks live: beside the embedded store, or per tracking server in the state folder."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "locks"
    return state_dir() / "locks" / hashlib.sha256(uri.encode()).hexdigest()[:12]
