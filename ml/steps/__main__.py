"""``python -m ml.steps train|promote|predict``: what each container runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ml.steps import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_REJECTED

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)

Data = Annotated[Path, typer.Option("--data", help="Hourly load CSV with 'timestamp,kw' columns.")]
TrackingUri = Annotated[
    str | None, typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow tracking URI.")
]
PipelineRun = Annotated[
    str | None,
    typer.Option(
        "--pipeline-run-id", envvar="GRIDCAST_PIPELINE_RUN_ID", help="Nest this step under that pipeline run."
    ),
]


def failure_file() -> Path:
    """SageMaker shows the text of this file as the job's FailureReason (override for tests)."""
    return Path(os.environ.get("GRIDCAST_FAILURE_FILE", "/opt/ml/output/failure"))


def _record_failure(message: str) -> None:
    """Training jobs read ``failure``; processing jobs show ``message`` beside it as their exit message."""
    path = failure_file()
    if path.parent.is_dir():
        for target in (path, path.with_name("message")):
            target.write_text(message[:1000] + "\n")


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    _record_failure(message)
    raise typer.Exit(code)


def _run(action, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Turn the errors we expect into one clear line and an exit code; let real bugs show a traceback."""
    from ml.steps.predict import NoChampionError
    from ml.validation import DataValidationError

    try:
        return action(*args, **kwargs)
    except DataValidationError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except (FileNotFoundError, NoChampionError) as exc:
        _fail(str(exc), EXIT_ERROR)


def _configure(tracking_uri: str | None) -> None:
    from ml.steps.tracking import configure

    configure(tracking_uri)


@app.command("train")
def train_cmd(
    data: Data,
    model_out: Annotated[Path, typer.Option("--model-out", help="Folder for candidate.json and the MLflow model.")],
    daily_order: int = 4,
    weekly_order: int = 2,
    yearly_order: int = 4,
    coverage: Annotated[float, typer.Option(min=0.5, max=0.99)] = 0.8,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Fit, score on a chronological hold-out, refit on all history and register a candidate."""
    from ml.model import SeasonalTrendForecaster
    from ml.steps.train import train

    _configure(tracking_uri)
    estimator = SeasonalTrendForecaster(daily_order, weekly_order, yearly_order, coverage)
    candidate = _run(train, data, model_out, estimator, pipeline_run_id)
    typer.echo(f"registered {candidate.model_uri}: test RMSE {candidate.scores['rmse']:.3f} kW")


@app.command("promote")
def promote_cmd(
    data: Data,
    candidate: Annotated[Path, typer.Option("--candidate", help="The train step's --model-out folder.")],
    decision_out: Annotated[Path, typer.Option("--decision-out", help="Folder for decision.json.")],
    threshold_kw: Annotated[float, typer.Option("--threshold-kw", help="Highest test RMSE accepted.")] = 3.0,
    rejected_exit_code: Annotated[
        int, typer.Option(help="Exit code when the gate rejects; 0 for engines that fail a step on any other code.")
    ] = EXIT_REJECTED,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Gate the candidate; move the 'champion' alias only if it passes. Exit 3 when rejected."""
    from ml.steps.promote import promote

    _configure(tracking_uri)
    decision = _run(promote, data, candidate, decision_out, threshold_kw, pipeline_run_id)
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
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Forecast with models:/transformer_load_forecast@champion and report the first overload."""
    from ml.steps.predict import predict

    _configure(tracking_uri)
    report = _run(predict, data, out, limit_kw, horizon_years, decision, pipeline_run_id)
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
    jobs: Annotated[int, typer.Option("--jobs", min=0, help="Worker processes; 0: one per core.")] = 0,
    shard_index: Annotated[
        str, typer.Option("--shard-index", help="0..count-1, or 'auto': this instance's place in its cloud job.")
    ] = "0",
    shard_count: Annotated[int, typer.Option("--shard-count", min=1, help="Split by sha256(id) mod count.")] = 1,
    default_limit_kw: Annotated[
        float | None, typer.Option("--default-limit-kw", help="Limit for ids not in --limits; 0 or absent: none.")
    ] = None,
    draws: Annotated[int, typer.Option("--draws", min=10, help="Simulation draws per transformer.")] = 100,
    tracking_uri: TrackingUri = None,
    pipeline_run_id: PipelineRun = None,
) -> None:
    """Forecast every transformer with its own limit, in parallel; rank the fleet by overload risk."""
    from ml.steps.fleet import run_fleet

    _configure(tracking_uri)
    default = default_limit_kw if default_limit_kw and default_limit_kw > 0 else None
    shard = {"shard_index": shard_index, "shard_count": shard_count, "pipeline_run_id": pipeline_run_id}
    summary = _run(
        run_fleet, data, limits, out, horizon_years, jobs or None, default_limit_kw=default, draws=draws, **shard
    )
    typer.echo(
        f"{summary['forecast']} of {summary['transformers']} transformers forecast, {summary['failed']} failed"
        f" (see fleet_errors.csv), {summary['overloading_within_horizon']} overload within the horizon;"
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
    typer.echo(
        f"merged {summary['merged_shards']} shard(s): {summary['forecast']} transformers ranked, "
        f"{summary['failed']} failed; outputs in {summary['out']}"
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a bug, not bad input: keep the traceback, but tell the engine too
        _record_failure(f"{type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    main()
