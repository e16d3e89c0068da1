"""Run the pipeline as an AzureML pipeline job: upload the data, compile, validate, submit, follow, fetch.

AzureML itself schedules the three steps on the stack's compute cluster; this side only polls the
pipeline job's child jobs and turns their statuses into :class:`StepReport`s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from azure.ai.ml.exceptions import MlException, ValidationException
from azure.core.exceptions import AzureError

from runners.azure.client import AzureML, ChildJob
from runners.azure.compile import compile_pipeline
from runners.azure.inputs import input_assets
from runners.azure.settings import AzureSettings
from runners.base import (
    RESULT_FILES,
    BackendError,
    Check,
    OnStatus,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
    Status,
    StepReport,
)
from runners.spec import PipelineSpec

LOG_TAIL_LINES = 20
DEFAULT_POLL_SECONDS = 15.0
# AzureML job statuses (azure.ai.ml.constants.JobStatus) -> ours; anything unknown counts as pending.
STATUSES = {
    "NotStarted": Status.PENDING,
    "Queued": Status.PENDING,
    "Preparing": Status.PENDING,
    "Provisioning": Status.PENDING,
    "Starting": Status.PENDING,
    "Paused": Status.PENDING,
    "Running": Status.RUNNING,
    "Finalizing": Status.RUNNING,
    "CancelRequested": Status.RUNNING,
    "Completed": Status.SUCCEEDED,
    "Failed": Status.FAILED,
    "NotResponding": Status.FAILED,
    "Canceled": Status.STOPPED,
}


class AzureRunError(BackendError):
    """The pipeline job could not be submitted or its results fetched; the message says why."""


def to_status(azure_status: str) -> Status:
    return STATUSES.get(azure_status, Status.PENDING)


class AzureRunner(Runner):
    name = "azure"

    def __init__(
        self, settings: AzureSettings, connect: Callable[[], AzureML], poll_seconds: float = DEFAULT_POLL_SECONDS
    ) -> None:
        self.settings = settings
        self._connect = connect
        self._azureml: AzureML | None = None
        self.poll_seconds = poll_seconds

    @property
    def azureml(self) -> AzureML:
        """Connected on first use, so ``describe`` and settings errors need no credentials."""
        if self._azureml is None:
            self._azureml = self._connect()
        return self._azureml

    # -- submitting -------------------------------------------------------------------------------

    def machine_size(self) -> str | None:
        return self.settings.compute_size  # every step runs on the stack's cluster, whatever the spec says

    def doctor(self, spec: PipelineSpec) -> list[Check]:
        from runners.azure.doctor import run_checks

        return run_checks(self.azureml, self.settings)

    def describe(self, spec: PipelineSpec, request: RunRequest) -> str:
        spec = spec.with_shards(request.shards)
        assets = input_assets(spec, request.input_paths(spec))
        job = compile_pipeline(spec, self.settings, {a.input: a.reference for a in assets}, request.parameters)
        s = self.settings
        header = "".join(
            f"# {a.input}: {a.local} -> data asset {a.asset}:{a.version} in datastore "
            f"{s.data_datastore} (uploaded only if that version does not exist)\n"
            for a in assets
        ) + (
            f"# submit: pipeline job in experiment {spec.experiment}, workspace {s.workspace_name} "
            f"(resource group {s.resource_group}, subscription {s.subscription_id})\n"
            f"# compute: every step on the stack's cluster {s.compute_target}, "
            f"VM size {s.compute_size or 'not exported by the stack'}\n"
        )
        return header + yaml.safe_dump(job._to_dict(), sort_keys=False, width=120)

    def submit(self, spec: PipelineSpec, request: RunRequest) -> RunHandle:
        spec = spec.with_shards(request.shards)
        assets = input_assets(spec, request.input_paths(spec))
        for a in assets:
            self.azureml.ensure_asset(a.asset, a.version, a.local, self.settings.data_datastore, a.folder)
        references = {a.input: a.reference for a in assets}
        reference = references.get("data", next(iter(references.values())))
        job = compile_pipeline(spec, self.settings, references, request.parameters)
        try:
            created = self.azureml.submit(job, spec.experiment)
        except ValidationException as exc:
            raise AzureRunError(f"AzureML refused the pipeline job: {exc.message}") from None
        result = spec.result_binding()
        return RunHandle(
            self.name,
            str(created.name),
            {
                "experiment": spec.experiment,
                "studio_url": str(created.studio_url or ""),
                "data": reference,
                "result_output": result.name,
                "result_files": json.dumps(list(spec.result_files)),
                # child jobs are known by display name; this maps them back to spec step names, in order
                "steps": json.dumps({step.display_name: step.name for step in spec.steps}),
            },
        )

    # -- following ----------------------------------------------------------------------------------

    def wait(self, handle: RunHandle, on_status: OnStatus) -> RunResult:
        seen: dict[str, tuple[Status, str]] = {}
        while True:
            result = self._poll(handle)
            for report in result.steps:
                if seen.get(report.step) != (report.status, report.message):
                    seen[report.step] = (report.status, report.message)
                    on_status(report)
            if result.status.finished:
                return self._explain(handle, result, with_logs=True)
            time.sleep(self.poll_seconds)

    def status(self, handle: RunHandle) -> RunResult:
        return self._explain(handle, self._poll(handle), with_logs=False)

    def _poll(self, handle: RunHandle) -> RunResult:
        # Children, the pipeline, then (once it has ended) the children again: the step statuses
        # reported at the end are never older than the pipeline's.
        children = self.azureml.children(handle.run_id)
        pipeline = to_status(self.azureml.status(handle.run_id))
        if pipeline.finished:
            children = self.azureml.children(handle.run_id)
        steps = _step_names(handle)
        order = {name: i for i, name in enumerate(steps.values())}
        reports = sorted(
            (_report(steps.get(child.display_name, child.display_name), child) for child in children),
            key=lambda r: order.get(r.step, len(order)),
        )
        return RunResult(pipeline, reports)

    def _explain(self, handle: RunHandle, result: RunResult, with_logs: bool) -> RunResult:
        """Give a failed step AzureML's error (and its log tail); a failure outside any step gets one too."""
        steps = []
        for report in result.steps:
            if report.status is Status.FAILED:
                child = self._child(handle, report.step)
                message = self.azureml.error(child.name) or report.message
                tail = self._log_tail(child) if with_logs else ""
                report = StepReport(report.step, Status.FAILED, message, tail)
            steps.append(report)
        if result.status in (Status.FAILED, Status.STOPPED) and not any(s.status is Status.FAILED for s in steps):
            error = self.azureml.error(handle.run_id) if result.status is Status.FAILED else ""
            message = (
                error
                or f"pipeline job {handle.run_id} {'was canceled' if result.status is Status.STOPPED else 'failed'}"
            )
            steps.append(StepReport("pipeline", Status.FAILED, message))
        return RunResult(result.status, steps)

    def _log_tail(self, child: ChildJob) -> str:
        """The end of a failed step's log; if it cannot be fetched, say so rather than hide the failure."""
        try:
            return _tail(self.azureml.log(child.name))
        except (AzureError, MlException) as exc:
            return f"(the log of {child.name} could not be fetched: {exc})"

    def _child(self, handle: RunHandle, step: str) -> ChildJob:
        steps = _step_names(handle)
        for child in self.azureml.children(handle.run_id):
            if steps.get(child.display_name, child.display_name) == step:
                return child
        raise AzureRunError(
            f"pipeline job {handle.run_id} has no step {step!r} (yet); steps: {', '.join(steps.values())}"
        )

    def logs(self, handle: RunHandle, step: str) -> str:
        child = self._child(handle, step)
        if not to_status(child.status).finished:
            raise AzureRunError(
                f"step {step} is {child.status}: AzureML hands out a step's log once it has ended; "
                f"watch it live in studio: {handle.details.get('studio_url', '')}"
            )
        return self.azureml.log(child.name)

    def stop(self, handle: RunHandle) -> None:
        self.azureml.cancel(handle.run_id)

    def outputs(self, handle: RunHandle, destination: Path) -> list[Path]:
        status = self.azureml.status(handle.run_id)
        if to_status(status) is not Status.SUCCEEDED:
            raise AzureRunError(f"pipeline job {handle.run_id} is {status}, not Completed: it has no results to fetch")
        output = handle.details.get("result_output", "predictions")
        with tempfile.TemporaryDirectory(prefix="gridcast-azure-out-") as tmp:
            folder = self.azureml.download_output(handle.run_id, output, Path(tmp))
            names = json.loads(handle.details.get("result_files", "null")) or RESULT_FILES
            missing = [name for name in names if not (folder / name).is_file()]
            if missing:
                raise AzureRunError(f"output {output!r} of pipeline job {handle.run_id} lacks {', '.join(missing)}")
            destination.mkdir(parents=True, exist_ok=True)
            return [Path(shutil.copy2(folder / name, destination / name)) for name in names]


def _step_names(handle: RunHandle) -> dict[str, str]:
    return json.loads(handle.details.get("steps", "{}"))


def _report(step: str, child: ChildJob) -> StepReport:
    status = to_status(child.status)
    # AzureML's status says more than ours while waiting (Queued vs Preparing) or when it is unusual.
    detailed = status is Status.PENDING or child.status in ("NotResponding", "CancelRequested")
    message = child.status if detailed else ""
    return StepReport(step, status, message)


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])
