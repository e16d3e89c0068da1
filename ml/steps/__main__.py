"""``python -m ml.steps train|promote|predict``: what each container runs."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from ml.steps import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_REJECTED
from ml.steps.disk import disk_full

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)

Data = Annotated[Path, typer.Option("--data", help="Hourly load CSV with 'timestamp,kw' columns.")]
TrackingUri = Annotated[
    str | None, typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow tracking URI.")
]
TransformerId = Annotated[
    str | None,
    typer.Option(
        "--transformer-id",
        help="Which transformer the data is (default: its transformer_id column, else the file name).",
    ),
]
PipelineRun = Annotated[
    str | None,
    typer.Option(
        "--pipeline-run-id", envvar="GRIDCAST_PIPELINE_RUN_ID", help="Nest this step under that pipeline run."
    ),
]


Holidays = Annotated[
    str,
    typer.Option("--holidays", help="Public holidays counted as Sundays: country or region ('DE', 'DE-BY'), or none."),
]
Timezone = Annotated[
    str,
    typer.Option(
        "--timezone", help="The data's and the load's local time ('Europe/Berlin'); none: naive stamps as they are."
    ),
]


def _none(value: str) -> str | None:
    """'none' (or empty) on the command line, as pipeline parameters cannot be null, means None."""
    return None if value.strip().lower() in ("", "none") else value.strip()


def failure_file() -> Path:
    """SageMaker shows the text of this file as the job's FailureReason (override for tests)."""
    return Path(os.environ.get("GRIDCAST_FAILURE_FILE", "/opt/ml/output/failure"))


def _record_failure(message: str) -> None:
    """Training jobs read ``failure``; processing jobs show ``message`` beside it as their exit message.

    Best effort: it runs while a step is already failing, so a folder it cannot write (a root-owned
    mount, a full disk) earns a warning and never replaces the step's own error or exit code.
    """
    path = failure_file()
    try:
        if path.parent.is_dir():
            for target in (path, path.with_name("message")):
                target.write_text(message[:1000] + "\n")
    except OSError as exc:
        typer.echo(f"warning: could not write the failure file {path}: {exc.strerror or exc}", err=True)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    _record_failure(message)
    raise typer.Exit(code)


def _run(action, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Turn the errors we expect into one clear line and an exit code; let real bugs show a traceback."""
    from ml.steps.fleet_registry import ChampionMovedError
    from ml.steps.model_io import ModelFormatError
    from ml.steps.model_store import LineageError
    from ml.steps.predict import NoChampionError
    from ml.steps.registry import TransformerIdError
    from ml.validation import DataValidationError

    try:
        return action(*args, **kwargs)
    except (DataValidationError, TransformerIdError, LineageError) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except (FileNotFoundError, NoChampionError, ModelFormatError, ChampionMovedError) as exc:  # refused, not run
        _fail(str(exc), EXIT_ERROR)
    except Exception as exc:  # a full disk is not a bug: one line like any refused run
        full = disk_full(exc)
        if full is None:
            raise
        _fail(f"no space left on device{f' writing {full}' if full else ''}: free some space and run again", EXIT_ERROR)


def _check_options(**values: object) -> None:
    """Refuse NaN, infinite and out-of-range numbers before anything is read or registered (exit 2)."""
    from ml.steps.options import OptionError, check_parameters

    try:
        check_parameters(values)
    except OptionError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


def _configure(tracking_uri: str | None) -> None:
    from ml.steps.store_uri import TrackingStoreError
    from ml.steps.tracking import configure

    try:
        configure(tracking_uri, reachable=True)
    except TrackingStoreError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


@app.command("train")
def train_cmd(
    data: Data,
    model_out: Annotated[Path, typer.Option("--model-out", help="Folder for candidate.json and the MLflow model.")],
    daily_order: int = 4,
    weekly_order: int = 2,
    yearly_order: int = 4,
    coverage: Annotated[float, typer.Option(min=0.5, max=0.99)] = 0.8,
    structure: Annotated[str, typer.Option(help="auto, fourier or profile (day types through the year).")] = "auto",
    holidays: Holidays = "none",
    timezone: Timezone = "none",
    transformer_id: TransformerId = None,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Fit, score on a chronological hold-out, refit on all history and register a candidate."""
    from ml.model import SeasonalTrendForecaster
    from ml.steps.train import train

    estimator = SeasonalTrendForecaster(
        daily_order,
        weekly_order,
        yearly_order,
        coverage,
        structure=structure,
        holidays=_none(holidays),
        timezone=_none(timezone),
    )
    try:
        estimator.check_params()  # a typo in --holidays or --timezone is refused before anything is stored
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    _configure(tracking_uri)
    candidate = _run(train, data, model_out, estimator, pipeline_run_id, transformer_id=transformer_id or None)
    typer.echo(f"registered {candidate.model_uri}: test RMSE {candidate.scores['rmse']:.3f} kW")


@app.command("promote")
def promote_cmd(
    data: Data,
    candidate: Annotated[Path, typer.Option("--candidate", help="The train step's --model-out folder.")],
    decision_out: Annotated[Path, typer.Option("--decision-out", help="Folder for decision.json.")],
    threshold_kw: Annotated[
        float | None, typer.Option("--threshold-kw", help="Optional cap on the test RMSE in kW; 0 or absent: none.")
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, max=0.9, help="How much better than seasonal-naive (0.05: 5%).")
    ] = 0.05,
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, max=1.0, help="How much worse than the champion (0.02: 2%).")
    ] = 0.02,
    transformer_id: TransformerId = None,
    rejected_exit_code: Annotated[
        int, typer.Option(help="Exit code when the gate rejects; 0 for engines that fail a step on any other code.")
    ] = EXIT_REJECTED,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Gate the candidate; make it its transformer's champion only if it passes. Exit 3 when rejected."""
    from ml.steps.promote import Gate, promote

    _check_options(threshold_kw=threshold_kw)
    _configure(tracking_uri)
    gate = Gate(margin, tolerance, threshold_kw if threshold_kw and threshold_kw > 0 else None)
    decision = _run(promote, data, candidate, decision_out, gate, pipeline_run_id, transformer_id or None)
    verdict = "promoted to champion" if decision.promoted else "rejected"
    typer.echo(f"version {decision.candidate_version} {verdict}: {decision.reason}")
    if not decision.promoted:
        raise typer.Exit(rejected_exit_code)


@app.command("predict")
def predict_cmd(
    data: Data,
    out: Annotated[Path, typer.Option("--out", help="Folder for predictions.csv, overload_report.json, forecast.png.")],
    limit_kw: Annotated[float, typer.Option("--limit-kw", min=0.001, help="Transformer limit in kW.")] = 85.0,
    horizon_years: Annotated[float, typer.Option("--horizon-years", min=0.01, max=30)] = 5.0,
    decision: Annotated[Path | None, typer.Option("--decision", help="The promote step's output folder.")] = None,
    timezone: Timezone = "none",
    transformer_id: TransformerId = None,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Forecast with the model version the promote decision names and report the first overload."""
    from ml.steps.predict import predict

    _check_options(limit_kw=limit_kw, horizon_years=horizon_years)
    _configure(tracking_uri)
    report = _run(
        predict, data, out, limit_kw, horizon_years, decision, pipeline_run_id, transformer_id or None, _none(timezone)
    )
    typer.echo(f"first overload: {report['first_overload_at'] or 'none within the horizon'}; outputs in {out}")


@app.command("backtest")
def backtest_cmd(
    data: Data,
    origins: Annotated[int, typer.Option("--origins", min=1, help="How many rolling forecast origins.")] = 4,
    horizon_days: Annotated[
        list[int] | None, typer.Option("--horizon-days", help="Bucket edges in days (repeat the option).")
    ] = None,
    trend: Annotated[str, typer.Option("--trend", help="auto, linear or compound.")] = "auto",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for backtest.csv.")] = None,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Refit at rolling origins through the history; print and log the error by forecast horizon."""
    from ml.backtest import HORIZONS_DAYS
    from ml.model import SeasonalTrendForecaster
    from ml.steps.backtest import format_table, run_backtest

    _configure(tracking_uri)
    horizons = tuple(horizon_days) if horizon_days else HORIZONS_DAYS
    try:
        table = _run(run_backtest, data, SeasonalTrendForecaster(trend=trend), origins, horizons, out, pipeline_run_id)
    except ValueError as exc:  # history too short for the origins asked for, or an unknown trend
        _fail(str(exc), EXIT_BAD_INPUT)
    typer.echo(format_table(table))


@app.command("fleet")
def fleet_cmd(
    data: Annotated[
        Path,
        typer.Option("--data", help="CSV/Parquet 'transformer_id,timestamp,kw', or a folder of <id>.csv|.parquet."),
    ],
    limits: Annotated[Path, typer.Option("--limits", help="CSV with 'transformer_id,limit_kw'.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for fleet_report.csv, fleet_risk.png, the model.")],
    horizon_years: Annotated[float, typer.Option("--horizon-years", min=0.01, max=30)] = 5.0,
    jobs: Annotated[
        int, typer.Option("--jobs", min=0, help="Processes (this one and jobs-1 workers); 0: one per core.")
    ] = 0,
    shard_index: Annotated[
        str, typer.Option("--shard-index", help="0..count-1, or 'auto': this instance's place in its cloud job.")
    ] = "0",
    shard_count: Annotated[int, typer.Option("--shard-count", min=1, help="Split by sha256(id) mod count.")] = 1,
    default_limit_kw: Annotated[
        float | None, typer.Option("--default-limit-kw", help="Limit for ids not in --limits; 0 or absent: none.")
    ] = None,
    draws: Annotated[int, typer.Option("--draws", min=10, help="Simulation draws per transformer.")] = 100,
    fleet: Annotated[
        str | None, typer.Option("--fleet", help="The fleet's name in the registry (default: the data's name).")
    ] = None,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Forecast every transformer with its own limit, in parallel, each through the gate; rank the fleet."""
    from ml.steps.fleet import run_fleet

    _check_options(horizon_years=horizon_years)
    _configure(tracking_uri)
    default = default_limit_kw if default_limit_kw and default_limit_kw > 0 else None
    shard = {"shard_index": shard_index, "shard_count": shard_count, "pipeline_run_id": pipeline_run_id}
    summary = _run(
        run_fleet,
        data,
        limits,
        out,
        horizon_years,
        jobs or None,
        default_limit_kw=default,
        draws=draws,
        fleet=fleet or None,
        **shard,
    )
    typer.echo(
        f"{summary['forecast']} of {summary['transformers']} transformers forecast ({summary['promoted']} by this run's"
        f" fit, {summary['kept']} by their champion), {summary['failed']} failed ({summary['refused']} refused by the"
        f" gate; see fleet_errors.csv), {summary['overloading_within_horizon']} overload within the horizon;"
        f" outputs in {summary['out']}"
    )


@app.command("fleet-merge")
def fleet_merge_cmd(
    parts: Annotated[list[Path], typer.Option("--parts", help="Shard output folders (repeat), or their parent.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the merged fleet outputs.")],
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Combine fleet shards into one ranking, one errors table and one model artifact."""
    from ml.steps.fleet import merge_fleet

    _configure(tracking_uri)
    summary = _run(merge_fleet, parts, out, pipeline_run_id)
    registered = (
        f"registered as version {summary['model_version']} of {summary['model_name']}"
        if "model_version" in summary
        else "nothing to register"
    )
    typer.echo(
        f"merged {summary['merged_shards']} shard(s): {summary['forecast']} transformers ranked, "
        f"{summary['failed']} failed; {registered}; outputs in {summary['out']}"
    )


@app.command("recover")
def recover_cmd(
    pipeline_run_ids: Annotated[
        list[str], typer.Option("--pipeline-run-id", help="A pipeline run that ended abnormally (repeat).")
    ],
    status: Annotated[str, typer.Option("--status", help="KILLED or FAILED.")] = "KILLED",
    tracking_uri: TrackingUri = None,
) -> None:
    """Close the MLflow runs a dead pipeline run left RUNNING; mark its undecided model versions abandoned."""
    from ml.steps.recover import recover

    if status not in ("KILLED", "FAILED"):
        _fail(f"--status {status!r}: must be KILLED or FAILED", EXIT_BAD_INPUT)
    _configure(tracking_uri)
    for line in recover(pipeline_run_ids, status):
        typer.echo(line)


def main() -> None:
    from ml.steps.options import is_usage_error

    stop_on_sigterm()
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if is_usage_error(exc):  # a bad option: one line and exit 2, not a usage box wrapped at 80 columns
            message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
            typer.echo(f"error: {message}", err=True)
            _record_failure(message)
            sys.exit(EXIT_BAD_INPUT)
        # a bug, not bad input: keep the traceback, but tell the engine too
        _record_failure(f"{type(exc).__name__}: {exc}")
        raise
    sys.exit(code if isinstance(code, int) else 0)


def stop_on_sigterm() -> None:
    """SIGTERM (the runner stopping the pipeline, or dying) ends the step like Ctrl-C: MLflow runs are
    closed, the pipeline's parent run is marked FAILED, nothing half-done is left RUNNING."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


if __name__ == "__main__":
    main()
