"""``runner``: run the one pipeline on a chosen backend and print what it found."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ml.steps.options import OptionError, check_parameters
from ml.steps.registry import TransformerIdError, transformer_id_for
from ml.steps.store_uri import TrackingStoreError, check_reachable, check_scheme, redact, split_credentials
from runners import outputs
from runners.base import (
    BackendError,
    BackendOptions,
    Check,
    RunHandle,
    Runner,
    RunRequest,
    Status,
    StepReport,
    failed_checks,
)
from runners.registry import create_runner
from runners.spec import PipelineSpec, load_spec
from runners.stack import load_stack_outputs
from runners.summary import print_summary

Summary = Callable[[Console, Path, list[Path]], None]
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one line per message, whatever the width
EXIT_REFUSED = 2
FREE_SPACE = "free some space and run again"


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
    from ml.steps.registry import BUILTIN_ID

    return write_builtin_data(state_dir() / "builtin" / f"{BUILTIN_ID}.csv")  # the file name is its transformer id


def _show(report: StepReport) -> None:
    colour = {Status.SUCCEEDED: "green", Status.REJECTED: "yellow", Status.FAILED: "red"}.get(report.status, "cyan")
    detail = f" ({report.message})" if report.message else ""
    console.print(f"  [{colour}]{report.status.value:>9}[/]  {report.step}{escape(detail)}", soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(1)


def _options(
    tracking_uri: str | None, stack_outputs: Path | None, stack: str | None, image: str | None, endpoint_url: str | None
) -> BackendOptions:
    outputs = load_stack_outputs(stack_outputs, stack)  # a StackOutputsError is a BackendError: one line
    return BackendOptions(state_dir(), _tracking_uri(tracking_uri), outputs, image, endpoint_url)


def _save_handle(handle: RunHandle) -> Path:
    path = state_dir() / "handles" / f"{handle.run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    details = {key: redact(value) for key, value in handle.details.items()}  # no secret on disk
    path.write_text(json.dumps({"backend": handle.backend, "run_id": handle.run_id, "details": details}))
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
    threshold_kw: Annotated[
        float | None, typer.Option(help="Gate: optional cap on the test RMSE in kW (default: none, scale-free gate).")
    ] = None,
    transformer: Annotated[
        str | None,
        typer.Option(help="Transformer id (default: the data's transformer_id column, else the file name)."),
    ] = None,
    holidays: Annotated[
        str | None, typer.Option(help="Public holidays as Sundays: country or region ('DE', 'DE-BY'), or 'none'.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Local time of the data and the load ('Europe/Berlin'), or 'none'.")
    ] = None,
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
    parameters: dict[str, object] = {
        "limit_kw": limit_kw,
        "horizon_years": horizon_years,
        "threshold_kw": threshold_kw,
        "holidays": holidays,
        "timezone": timezone,
    }
    created = not output_dir.exists()
    with _refusals():  # everything checked before any step runs: exit 2, one line, nothing stored
        uri = _checked_run(backend, data, output_dir, parameters, _tracking_uri(tracking_uri), dry_run)
        source = data or _builtin_data()
        parameters["transformer_id"] = transformer_id_for(source, transformer)
        lock = None if dry_run else outputs.hold(output_dir)
    uri, credentials = split_credentials(uri)  # a password travels in the steps' environment, never on disk
    os.environ.update(credentials)
    request = RunRequest(
        data=source,
        output_dir=output_dir,
        parameters=parameters,
        tracking_uri=uri if tracking_uri else None,
    )
    with _backend_errors():
        options = replace(_options(uri, stack_outputs, stack, image, endpoint_url), tracking_uri=uri)
        runner = create_runner(backend.value, replace(options, isolation=isolation.value))
        if dry_run:
            console.print(runner.describe(pipeline, request), markup=False, soft_wrap=True)
            return
        try:
            _execute(runner, pipeline, request, detach, lock)
        finally:
            if lock is not None:
                outputs.let_go(output_dir, lock, created)


def _checked_run(
    backend: Backend, data: Path | None, output_dir: Path, parameters: dict, uri: str, dry_run: bool
) -> str:
    """Options, data file, output folder, state folder and tracking store, before anything runs."""
    check_parameters(parameters)
    if data is not None and not data.is_file():
        raise OptionError(f"--data {data}: no such file; pass an existing CSV")
    check_scheme(uri)
    if dry_run:
        return uri
    if backend is Backend.local:  # the steps run here: their store must answer from here
        outputs.check_room(state_dir(), outputs.STATE_FREE_BYTES, "state folder")
        check_reachable(uri)
    horizon = parameters.get("horizon_years") or 5.0
    outputs.check_output_dir(output_dir, outputs.needed_output_bytes(horizon))  # last: it may create the folder
    return uri


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused option, output folder or store: one line and exit code 2."""
    try:
        yield
    except (OptionError, outputs.OutputDirError, TrackingStoreError, TransformerIdError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None


@contextmanager
def _backend_errors() -> Iterator[None]:
    """A backend's refusal (bad stack outputs, no engine, a missing output) is one line, not a traceback."""
    try:
        yield
    except BackendError as exc:
        raise _fail(str(exc)) from None


def _execute(
    runner: Runner,
    pipeline: object,
    request: RunRequest,
    detach: bool,
    lock: IO[str] | None = None,
    summarize: Summary = print_summary,
) -> None:
    source = "built-in synthetic data" if request.data.is_relative_to(state_dir()) else str(request.data)
    transformer = request.parameters.get("transformer_id")
    about = f" · transformer [bold]{escape(str(transformer))}[/]" if transformer else ""
    console.print(f"[bold]gridcast[/] · backend [bold]{runner.name}[/]{about} · data {source}")
    _preflight(runner, pipeline)
    with _state_disk():
        handle = runner.submit(pipeline, request)  # type: ignore[arg-type]
        _save_handle(handle)
    console.print(f"  run {handle.run_id}")
    if lock is not None:
        lock.write(f"run {handle.run_id}\n")
        lock.flush()
    if detach:
        console.print(f"submitted; follow it with: runner status --backend {runner.name} {handle.run_id}")
        return
    try:
        with _state_disk():
            result = runner.wait(handle, _show)
    except KeyboardInterrupt:
        _offer_stop(runner, handle)
        raise typer.Exit(130) from None
    failed = result.failed_step()
    if failed is not None:
        err.print(f"[red]step {failed.step} failed[/]: {escape(failed.message)}")
        if failed.log_tail:
            err.print(f"--- last lines of the {failed.step} log ---\n{failed.log_tail}", markup=False)
        _explain_no_space(failed)
        _say_outputs_untouched(request.output_dir)
        raise typer.Exit(1)
    if not result.ok:  # stopped or failed outside any step: there are no outputs to fetch
        _say_outputs_untouched(request.output_dir)
        why = f": {result.message}" if result.message else ""
        raise _fail(f"run {handle.run_id} ended {result.status.value}{why}")
    summarize(console, request.output_dir, _deliver(runner, handle, request.output_dir))


@contextmanager
def _state_disk() -> Iterator[None]:
    """The state folder's disk filling up is one line, not a traceback or a bare exit code."""
    try:
        yield
    except OSError as exc:
        if not outputs.no_space(exc):
            raise
        raise _fail(f"no space left on device in the state folder {state_dir()}: {FREE_SPACE}") from None


def _deliver(runner: Runner, handle: RunHandle, output_dir: Path) -> list[Path]:
    """Fetch into a scratch folder beside the outputs, then switch the whole set at once."""
    staging = output_dir / f".incoming-{handle.run_id}"
    try:
        return outputs.deliver(runner.outputs(handle, staging), output_dir, handle.run_id)
    except OSError as exc:
        why = "no space left on its disk" if outputs.no_space(exc) else (exc.strerror or str(exc))
        previous = outputs.previous_run(output_dir)
        kept = f"its files are unchanged (from run {previous})" if previous else "nothing in it was replaced"
        raise _fail(f"could not write the results into {output_dir}: {why}; {kept}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _say_outputs_untouched(output_dir: Path) -> None:
    previous = outputs.previous_run(output_dir)
    if previous:
        err.print(f"outputs: none from this run; the files in {output_dir} are from run {previous}", markup=False)
    elif any(not p.name.startswith(".") for p in output_dir.glob("*")):
        err.print(f"outputs: none from this run; the files in {output_dir} are not from it", markup=False)


def _explain_no_space(failed: StepReport) -> None:
    """A full disk shows up as a stray exit code (120: Python could not flush its output); say it plainly."""
    from ml.steps.disk import SQLITE_FULL

    text = f"{failed.message}\n{failed.log_tail}"
    full = any(mark in text for mark in ("No space left on device", SQLITE_FULL, "exit code 120"))
    if full or shutil.disk_usage(_existing(state_dir())).free < outputs.MIB:
        err.print(f"[red]no space left on device[/] in the state folder {state_dir()}: {FREE_SPACE}")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _print_checks(checks: list[Check]) -> None:
    for check in checks:
        mark = "[green]  ok[/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark}  {escape(check.name)}: {escape(check.detail)}", soft_wrap=True)
        if not check.ok and check.fix:
            console.print(f"      fix: {escape(check.fix)}", soft_wrap=True)


def _preflight(runner: Runner, pipeline: object) -> None:
    """``runner doctor`` before every submission: a missing grant or image fails here, with its fix."""
    failed = failed_checks(runner.doctor(pipeline))  # type: ignore[arg-type]
    if failed:
        _print_checks(failed)
        raise _fail(f"{len(failed)} preflight check(s) failed; nothing was submitted (`runner doctor` shows all)")


def _offer_stop(runner: Runner, handle: RunHandle) -> None:
    """Ctrl-C asks: stop the steps cleanly, or leave the run going and follow it with ``runner status``."""
    try:
        stop = typer.confirm(f"\nstop run {handle.run_id} on {runner.name}?", default=False)
    except (typer.Abort, KeyboardInterrupt):  # a second Ctrl-C, or no terminal to answer from
        err.print("")
        stop = True
    if stop:
        try:
            runner.stop(handle)
            err.print(f"stop requested for {handle.run_id}")
        except NotImplementedError as exc:
            err.print(str(exc))
        return
    with _backend_errors():
        runner.release(handle)
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
def doctor(
    backend: Annotated[Backend, typer.Option(help="Which backend to check.")] = Backend.local,
    stack_outputs: Annotated[Path | None, typer.Option(help="`pulumi stack output --json` file.")] = None,
    stack: Annotated[str | None, typer.Option(help="Read outputs of this Pulumi stack.")] = None,
    image: Annotated[str | None, typer.Option(help="The image a run would use, by digest.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="API endpoint override.")] = None,
    spec: Annotated[Path | None, typer.Option(help="Pipeline spec YAML (default: the built-in one).")] = None,
) -> None:
    """Check from here what a cloud run needs (identity, stack, reachability, tracking server, image, role)."""
    with _backend_errors():
        runner = create_runner(backend.value, _options(None, stack_outputs, stack, image, endpoint_url))
        checks = runner.doctor(load_spec(spec))
    if not checks:
        console.print(f"the {backend.value} backend needs nothing remote: nothing to check")
        return
    _print_checks(checks)
    failed = failed_checks(checks)
    if failed:
        raise _fail(f"{len(failed)} of {len(checks)} checks failed")
    console.print(f"all {len(checks)} checks passed")


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
    console.print(f"run {run_id}: {result.status.value}" + (f" ({result.message})" if result.message else ""))


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
    fleet_name: Annotated[
        str | None,
        typer.Option("--fleet", help="The fleet's name in the registry (default: the data's folder or file name)."),
    ] = None,
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
    """Forecast a fleet: the fleet spec's sharded step on N processes or cloud instances, then its merge.

    Every transformer goes through the gate against its own champion in the fleet's registered model;
    the merge registers the fleet's new version."""
    from ml.steps.fleet_input import fleet_name_for
    from runners.fleet_summary import print_fleet_summary
    from runners.spec import FLEET_SPEC

    for path in (data, limits):
        if not path.exists():
            raise _fail(f"{path}: no such file or folder")
    pipeline = load_spec(spec or FLEET_SPEC)
    request = RunRequest(
        data=data,
        output_dir=output_dir,
        parameters={
            "horizon_years": horizon_years,
            "default_limit_kw": default_limit_kw,
            "jobs": jobs,
            "fleet": fleet_name_for(data, fleet_name),
        },
        tracking_uri=tracking_uri,
        inputs={"data": data, "limits": limits},
        shards=shards,
    )
    with _backend_errors():
        runner = create_runner(backend.value, _options(tracking_uri, stack_outputs, stack, image, endpoint_url))
        if dry_run:
            with suppress(NotImplementedError):  # the local backend has nothing to submit, only a plan
                console.print(runner.describe(pipeline, request), markup=False, soft_wrap=True)
            plan = _fleet_plan(pipeline, backend.value, data, shards, transformers, runner.machine_size())
            console.print(plan, markup=False, soft_wrap=True)
            return
        _execute(runner, pipeline, request, detach, summarize=print_fleet_summary)


def _fleet_plan(
    pipeline: PipelineSpec, backend: str, data: Path, shards: int | None, transformers: int | None, size: str | None
) -> str:
    from ml.steps.fleet_input import count_transformers
    from runners.fleet_plan import describe_plan, load_costs

    spec = pipeline.with_shards(shards)
    count = next(step.shards.count for step in spec.steps if step.shards is not None)
    return describe_plan(spec, backend, transformers or count_transformers(data), count, load_costs(), size)


def main() -> None:
    """The ``runner`` command: a mistyped option is one line and exit 2, not a box wrapped at 80 columns."""
    from ml.steps.options import is_usage_error

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        if not is_usage_error(exc):
            raise
        err.print(f"[red]error:[/] {escape(' '.join(exc.format_message().split()))}")  # type: ignore[attr-defined]
        sys.exit(EXIT_REFUSED)
    sys.exit(code if isinstance(code, int) else 0)
