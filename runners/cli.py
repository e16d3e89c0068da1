"""``runner``: run the one pipeline on a chosen backend and print what it found."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from runners.base import BackendError, BackendOptions, RunHandle, Runner, RunRequest, Status, StepReport
from runners.registry import create_runner
from runners.spec import PipelineSpec, load_spec
from runners.stack import load_stack_outputs
from runners.summary import print_summary

Summary = Callable[[Console, Path, list[Path]], None]
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Backend(StrEnum):
    local = "local"
    azure = "azure"
    aws = "aws"


class Isolation(StrEnum):
    process = "process"
    container = "container"


def state_dir() -> Path:
    from ml.steps.state import state_dir as ml_state_dir  # one definition of where state lives

    return ml_state_dir()


def _tracking_uri(explicit: str | None) -> str:
    import os

    from ml.steps.state import default_tracking_uri

    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _builtin_data() -> Path:
    from ml.steps.data_io import write_builtin_data

    return write_builtin_data(state_dir() / "builtin" / "synthetic_peak_load.csv")


def _show(report: StepReport) -> None:
    colour = {Status.SUCCEEDED: "green", Status.REJECTED: "yellow", Status.FAILED: "red"}.get(report.status, "cyan")
    detail = f" ({report.message})" if report.message else ""
    console.print(f"  [{colour}]{report.status.value:>9}[/]  {report.step}{detail}")


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(1)


def _options(
    tracking_uri: str | None, stack_outputs: Path | None, stack: str | None, image: str | None, endpoint_url: str | None
) -> BackendOptions:
    outputs = load_stack_outputs(stack_outputs, stack)  # a StackOutputsError is a BackendError: one line
    return BackendOptions(state_dir(), _tracking_uri(tracking_uri), outputs, image, endpoint_url)


def _save_handle(handle: RunHandle) -> Path:
    path = state_dir() / "handles" / f"{handle.run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"backend": handle.backend, "run_id": handle.run_id, "details": handle.details}))
    return path


def _load_handle(run_id: str) -> RunHandle:
    path = state_dir() / "handles" / f"{run_id}.json"
    if not path.is_file():
        raise _fail(f"no run {run_id!r} was submitted from here ({path} is missing)")
    return RunHandle(**json.loads(path.read_text()))


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    backend: Annotated[Backend, typer.Option(help="Where the pipeline runs.")] = Backend.local,
    data: Annotated[Path | None, typer.Option(help="Hourly load CSV (timestamp,kw). Default: built-in data.")] = None,
    limit_kw: Annotated[float | None, typer.Option(help="Transformer limit in kW (default 85).")] = None,
    horizon_years: Annotated[float | None, typer.Option(help="Forecast horizon in years (default 5).")] = None,
    threshold_kw: Annotated[float | None, typer.Option(help="Gate: highest test RMSE in kW (default 3.0).")] = None,
    output_dir: Annotated[
        Path, typer.Option(help="Where predictions.csv, overload_report.json, forecast.png go.")
    ] = Path("outputs"),
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: embedded SQLite).")] = None,
    spec: Annotated[Path | None, typer.Option(help="Pipeline spec YAML (default: the built-in one).")] = None,
    stack_outputs: Annotated[
        Path | None, typer.Option(help="Cloud backends: `pulumi stack output --json` file.")
    ] = None,
    stack: Annotated[str | None, typer.Option(help="Cloud backends: read outputs of this Pulumi stack.")] = None,
    image: Annotated[
        str | None, typer.Option(help="Container image: by digest for clouds; local tag with --isolation container.")
    ] = None,
    isolation: Annotated[
        Isolation,
        typer.Option(envvar="GRIDCAST_ISOLATION", help="Local: each step a process, or in --image (docker/podman)."),
    ] = Isolation.process,
    endpoint_url: Annotated[str | None, typer.Option(help="Cloud backends: API endpoint override.")] = None,
    detach: Annotated[bool, typer.Option(help="Cloud backends: return once submitted.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would be submitted; call nothing.")] = False,
) -> None:
    """Run train, promote and predict on the chosen backend and print the overload answer."""
    if ctx.invoked_subcommand is not None:
        return
    pipeline = load_spec(spec)
    request = RunRequest(
        data=data or _builtin_data(),
        output_dir=output_dir,
        parameters={"limit_kw": limit_kw, "horizon_years": horizon_years, "threshold_kw": threshold_kw},
        tracking_uri=tracking_uri,
    )
    if not request.data.is_file():
        raise _fail(f"{request.data}: no such file; pass an existing CSV with --data")
    with _backend_errors():
        options = _options(tracking_uri, stack_outputs, stack, image, endpoint_url)
        runner = create_runner(backend.value, replace(options, isolation=isolation.value))
        if dry_run:
            console.print(runner.describe(pipeline, request), markup=False, soft_wrap=True)
            return
        _execute(runner, pipeline, request, detach)


@contextmanager
def _backend_errors() -> Iterator[None]:
    """A backend's refusal (bad stack outputs, no engine, a missing output) is one line, not a traceback."""
    try:
        yield
    except BackendError as exc:
        raise _fail(str(exc)) from None


def _execute(
    runner: Runner, pipeline: object, request: RunRequest, detach: bool, summarize: Summary = print_summary
) -> None:
    source = "built-in synthetic data" if request.data.is_relative_to(state_dir()) else str(request.data)
    console.print(f"[bold]gridcast[/] · backend [bold]{runner.name}[/] · data {source}")
    handle = runner.submit(pipeline, request)  # type: ignore[arg-type]
    _save_handle(handle)
    console.print(f"  run {handle.run_id}")
    if detach:
        console.print(f"submitted; follow it with: runner status --backend {runner.name} {handle.run_id}")
        return
    try:
        result = runner.wait(handle, _show)
    except KeyboardInterrupt:
        _offer_stop(runner, handle)
        raise typer.Exit(130) from None
    failed = result.failed_step()
    if failed is not None:
        err.print(f"[red]step {failed.step} failed[/]: {failed.message}")
        if failed.log_tail:
            err.print(f"--- last lines of the {failed.step} log ---\n{failed.log_tail}", markup=False)
        raise typer.Exit(1)
    if not result.ok:  # stopped or failed outside any step: there are no outputs to fetch
        raise _fail(f"run {handle.run_id} ended {result.status.value}")
    files = runner.outputs(handle, request.output_dir)
    summarize(console, request.output_dir, files)


def _offer_stop(runner: Runner, handle: RunHandle) -> None:
    """Ctrl-C leaves a cloud run going unless the user says to stop it: it may be worth keeping."""
    if typer.confirm(f"\nstop run {handle.run_id} on {runner.name}?", default=False):
        try:
            runner.stop(handle)
            err.print(f"stop requested for {handle.run_id}")
        except NotImplementedError as exc:
            err.print(str(exc))
    else:
        err.print(f"left running; follow it with: runner status --backend {runner.name} {handle.run_id}")


@app.command()
def backtest(
    data: Annotated[Path, typer.Option(help="Hourly load CSV (timestamp,kw).")],
    origins: Annotated[int, typer.Option(min=1, help="How many rolling forecast origins.")] = 4,
    trend: Annotated[str, typer.Option(help="auto, linear or compound.")] = "auto",
    output_dir: Annotated[Path | None, typer.Option(help="Folder for backtest.csv.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: embedded SQLite).")] = None,
) -> None:
    """Rolling-origin backtest of the model on DATA, here; errors by forecast horizon."""
    from ml.model import SeasonalTrendForecaster
    from ml.steps.backtest import format_table, run_backtest
    from ml.steps.tracking import configure

    configure(_tracking_uri(tracking_uri))
    try:
        table = run_backtest(data, SeasonalTrendForecaster(trend=trend), origins, out=output_dir)
    except ValueError as exc:  # includes DataValidationError: the message names file, lines and column
        raise _fail(str(exc)) from None
    console.print(format_table(table), markup=False, soft_wrap=True)


@app.command()
def status(
    run_id: str,
    backend: Annotated[Backend, typer.Option()] = Backend.local,
    stack_outputs: Annotated[Path | None, typer.Option()] = None,
    stack: Annotated[str | None, typer.Option()] = None,
    endpoint_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Status of a submitted run, step by step."""
    handle = _load_handle(run_id)
    with _backend_errors():
        runner = create_runner(backend.value, _options(None, stack_outputs, stack, None, endpoint_url))
        result = runner.status(handle)
    for report in result.steps:
        _show(report)
    console.print(f"run {run_id}: {result.status.value}")


@app.command()
def logs(
    run_id: str,
    step: Annotated[str, typer.Option(help="Which step's log.")],
    backend: Annotated[Backend, typer.Option()] = Backend.local,
    stack_outputs: Annotated[Path | None, typer.Option()] = None,
    stack: Annotated[str | None, typer.Option()] = None,
    endpoint_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Print one step's log of a submitted run."""
    handle = _load_handle(run_id)
    with _backend_errors():
        runner = create_runner(backend.value, _options(None, stack_outputs, stack, None, endpoint_url))
        console.print(runner.logs(handle, step), markup=False)


@app.command()
def fleet(
    data: Annotated[
        Path,
        typer.Option(help="Folder of <transformer_id>.csv|.parquet, or a CSV/Parquet transformer_id,timestamp,kw."),
    ],
    limits: Annotated[Path, typer.Option(help="CSV transformer_id,limit_kw.")],
    backend: Annotated[Backend, typer.Option(help="Where the fleet runs.")] = Backend.local,
    output_dir: Annotated[Path, typer.Option(help="Where the merged fleet report goes.")] = Path("outputs/fleet"),
    shards: Annotated[
        int | None, typer.Option(min=1, help="Shards (processes or instances); default: the spec's.")
    ] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Workers per shard (default: its cores).")] = None,
    horizon_years: Annotated[float | None, typer.Option(help="Forecast horizon in years (default 5).")] = None,
    default_limit_kw: Annotated[float | None, typer.Option(help="Limit for ids missing from --limits.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: embedded SQLite).")] = None,
    spec: Annotated[Path | None, typer.Option(help="Fleet spec YAML (default: runners/fleet.yaml).")] = None,
    stack_outputs: Annotated[
        Path | None, typer.Option(help="Cloud backends: `pulumi stack output --json` file.")
    ] = None,
    stack: Annotated[str | None, typer.Option(help="Cloud backends: read outputs of this Pulumi stack.")] = None,
    image: Annotated[str | None, typer.Option(help="Cloud backends: container image by digest.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="Cloud backends: API endpoint override.")] = None,
    detach: Annotated[bool, typer.Option(help="Cloud backends: return once submitted.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would be submitted, and the plan; call nothing.")] = False,
    transformers: Annotated[
        int | None, typer.Option(min=1, help="Dry run: plan for this many transformers (default: count --data).")
    ] = None,
) -> None:
    """Forecast a fleet: the fleet spec's sharded step on N processes or cloud instances, then its merge."""
    from runners.fleet_summary import print_fleet_summary
    from runners.spec import FLEET_SPEC

    for path in (data, limits):
        if not path.exists():
            raise _fail(f"{path}: no such file or folder")
    pipeline = load_spec(spec or FLEET_SPEC)
    request = RunRequest(
        data=data,
        output_dir=output_dir,
        parameters={"horizon_years": horizon_years, "default_limit_kw": default_limit_kw, "jobs": jobs},
        tracking_uri=tracking_uri,
        inputs={"data": data, "limits": limits},
        shards=shards,
    )
    with _backend_errors():
        runner = create_runner(backend.value, _options(tracking_uri, stack_outputs, stack, image, endpoint_url))
        if dry_run:
            with suppress(NotImplementedError):  # the local backend has nothing to submit, only a plan
                console.print(runner.describe(pipeline, request), markup=False, soft_wrap=True)
            console.print(
                _fleet_plan(pipeline, backend.value, data, shards, transformers), markup=False, soft_wrap=True
            )
            return
        _execute(runner, pipeline, request, detach, print_fleet_summary)


def _fleet_plan(pipeline: PipelineSpec, backend: str, data: Path, shards: int | None, transformers: int | None) -> str:
    from ml.steps.fleet_input import count_transformers
    from runners.fleet_plan import describe_plan, load_costs

    spec = pipeline.with_shards(shards)
    count = next(step.shards.count for step in spec.steps if step.shards is not None)
    return describe_plan(spec, backend, transformers or count_transformers(data), count, load_costs())
