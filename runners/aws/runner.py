"""Run the pipeline as one SageMaker Pipeline execution: upload, upsert, start, follow, fetch.

The pipeline is upserted on every submission, so SageMaker Studio always shows the definition
the spec compiles to today, and each execution records the parameters it ran with.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_result, stop_never, wait_exponential

from runners.aws import compile as sm
from runners.aws.clients import AwsClients
from runners.aws.fleet import FolderUpload, shard_progress, upload_folder_once
from runners.aws.inputs import plan_inputs
from runners.aws.logs import job_of, log_text
from runners.aws.settings import AwsSettings, load_settings
from runners.aws.staging import download, read_text, upload_once
from runners.base import RESULT_FILES, Check, OnStatus, RunHandle, Runner, RunRequest, RunResult, Status, StepReport
from runners.spec import PipelineSpec

VERDICT_FILE = "decision.json"  # the promote step's verdict; SageMaker saw exit 0 either way
LOG_TAIL_LINES = 20
STEP_STATUS = {
    "Starting": Status.RUNNING,
    "Executing": Status.RUNNING,
    "Stopping": Status.RUNNING,
    "Stopped": Status.STOPPED,
    "Failed": Status.FAILED,
    "Succeeded": Status.SUCCEEDED,
}
EXECUTION_STATUS = STEP_STATUS | {"CompletedWithFailures": Status.FAILED}
NOTED = ("Starting", "Stopping")  # "running", with this as its note
PIPELINE_NOT_FOUND = "ResourceNotFound"  # DescribePipeline's one modelled error: no pipeline by that name


@dataclass(frozen=True)
class PollPolicy:
    """Exponential backoff between status polls: quick feedback early, few API calls on long runs."""

    initial_s: float = 2.0
    max_s: float = 30.0


def poll_policy_from_env() -> PollPolicy:
    """``GRIDCAST_POLL_MAX_S`` caps the wait between polls (default 30 s; tests make it short)."""
    cap = float(os.environ.get("GRIDCAST_POLL_MAX_S", PollPolicy.max_s))
    return PollPolicy(min(PollPolicy.initial_s, cap), cap)


@dataclass(frozen=True)
class Plan:
    """Everything a submission does, computed without calling AWS (``--dry-run`` prints it)."""

    settings: AwsSettings
    pipeline: str
    data: Path
    data_sha256: str
    data_prefix: str
    data_object: str
    definition: dict[str, Any]
    parameters: list[dict[str, str]]
    files: list[tuple[Path, str]] = field(default_factory=list)
    """Further file inputs (the fleet's limits): ``(local file, object URI)``."""
    folders: list[FolderUpload] = field(default_factory=list)
    """Folder inputs (the fleet's data), uploaded object by object."""


class SageMakerRunner(Runner):
    name = "aws"

    def __init__(
        self, stack_outputs: dict[str, Any], image: str | None, endpoint_url: str | None, poll: PollPolicy | None = None
    ) -> None:
        self.stack_outputs = stack_outputs
        self.image = image
        self.endpoint_url = endpoint_url
        self.poll = poll or PollPolicy()
        self._clients: dict[str | None, AwsClients] = {}
        self._verdicts: dict[tuple[str, str], StepReport] = {}

    def _aws(self, region: str | None) -> AwsClients:
        if region not in self._clients:
            self._clients[region] = AwsClients(region, self.endpoint_url)
        return self._clients[region]

    def plan(self, spec: PipelineSpec, request: RunRequest) -> Plan:
        settings = load_settings(self.stack_outputs, self.image)
        spec = spec.with_shards(request.shards)
        values = spec.parameter_values(request.parameters)
        inputs = plan_inputs(spec, settings, request.input_paths(spec))
        first = inputs.files[0] if inputs.files else None
        return Plan(
            settings=settings,
            pipeline=sm.pipeline_name(spec, settings),
            data=first.local if first else inputs.folders[0].local,
            data_sha256=first.sha256 if first else inputs.folders[0].sha256,
            data_prefix=first.prefix if first else inputs.folders[0].prefix,
            data_object=first.uri if first else inputs.folders[0].prefix,
            definition=sm.compile_definition(spec, settings, request.tracking_uri),
            parameters=sm.execution_parameters(spec, values, inputs.prefixes) + inputs.parameters,
            files=[(f.local, f.uri) for f in inputs.files[1:]],
            folders=inputs.folders,
        )

    def machine_size(self) -> str | None:
        return load_settings(self.stack_outputs, self.image).compute_target  # what compile gives every job

    def doctor(self, spec: PipelineSpec) -> list[Check]:
        from runners.aws.doctor import run_checks

        return run_checks(self._aws, self.stack_outputs, self.image, spec)

    def describe(self, spec: PipelineSpec, request: RunRequest) -> str:
        plan = self.plan(spec, request)
        result = sm.result_uri(spec, plan.settings, plan.pipeline, "<execution id>")
        lines = ["dry run: nothing is uploaded or submitted"]
        if plan.data.is_file():
            lines += [
                f"upload   {plan.data} ({plan.data.stat().st_size:,} bytes, sha256 {plan.data_sha256})",
                f"         to {plan.data_object} (skipped when already there)",
            ]
        lines += [f"upload   {local} to {uri} (skipped when already there)" for local, uri in plan.files]
        lines += [
            f"upload   {f.local} ({len(f.files):,} files, sha256 {f.sha256}) to {f.prefix} (files there skipped)"
            for f in plan.folders
        ]
        lines += [
            f"upsert   SageMaker pipeline {plan.pipeline} in {plan.settings.region}, "
            f"role {plan.settings.execution_role_arn}",
            "start    an execution with parameters " + ", ".join(f"{p['Name']}={p['Value']}" for p in plan.parameters),
            f"results  {result}/",
            "pipeline definition:",
            json.dumps(plan.definition, indent=2),
        ]
        return "\n".join(lines)

    def submit(self, spec: PipelineSpec, request: RunRequest) -> RunHandle:
        plan = self.plan(spec, request)
        aws = self._aws(plan.settings.region)
        kms = plan.settings.kms_key_arn
        uploaded = plan.data.is_file() and upload_once(aws.s3, plan.data, plan.data_object, kms)
        for local, uri in plan.files:
            uploaded = upload_once(aws.s3, local, uri, kms) or uploaded
        for folder in plan.folders:
            uploaded = upload_folder_once(aws.s3, folder, kms) > 0 or uploaded
        action = self._upsert(aws.sagemaker, plan, spec.description)
        arn = aws.sagemaker.start_pipeline_execution(
            PipelineName=plan.pipeline,
            PipelineExecutionDisplayName=f"data-{plan.data_sha256[:12]}",
            PipelineExecutionDescription=f"gridcast run on data sha256 {plan.data_sha256}",
            PipelineParameters=plan.parameters,
        )["PipelineExecutionArn"]
        execution_id = arn.rsplit("/", 1)[-1]
        details = {
            "execution_arn": arn,
            "region": plan.settings.region,
            "pipeline": plan.pipeline,
            "pipeline_action": action,
            "data_uri": plan.data_object,
            "data_uploaded": str(uploaded).lower(),
            "result_uri": sm.result_uri(spec, plan.settings, plan.pipeline, execution_id),
            "verdict_uris": json.dumps(sm.verdict_uris(spec, plan.settings, plan.pipeline, execution_id)),
            "steps": json.dumps([step.name for step in spec.steps]),
            "result_files": json.dumps(list(spec.result_files)),
            "shards": json.dumps(
                {s.name: s.shards.count for s in spec.with_shards(request.shards).steps if s.shards is not None}
            ),
        }
        return RunHandle(self.name, execution_id, details)

    def _upsert(self, client: Any, plan: Plan, description: str) -> str:
        """Create the pipeline, or update it in place so its executions stay together in Studio."""
        arguments = {
            "PipelineName": plan.pipeline,
            "PipelineDefinition": json.dumps(plan.definition),
            "PipelineDescription": description[:3072],
            "RoleArn": plan.settings.execution_role_arn,
        }
        if _pipeline_exists(client, plan.pipeline):
            client.update_pipeline(**arguments)
            return "updated"
        client.create_pipeline(**arguments, Tags=[{"Key": "project", "Value": "gridcast"}])
        return "created"

    def wait(self, handle: RunHandle, on_status: OnStatus) -> RunResult:
        seen: dict[str, tuple[Status, str]] = {}

        def poll() -> RunResult:
            result = self._poll(handle)
            for report in result.steps:
                status, message = seen.get(report.step, (Status.PENDING, ""))
                progressed = report.status is Status.RUNNING and report.message not in ("", message)
                if status is not report.status or progressed:  # progress of a sharded step is news too
                    seen[report.step] = (report.status, report.message)
                    on_status(report)
            return result

        retrying = Retrying(
            retry=retry_if_result(lambda result: not result.status.finished),
            wait=wait_exponential(multiplier=self.poll.initial_s, max=self.poll.max_s),
            stop=stop_never,
            reraise=True,
        )
        return retrying(poll)

    def status(self, handle: RunHandle) -> RunResult:
        return self._poll(handle)

    def _poll(self, handle: RunHandle) -> RunResult:
        client = self._aws(handle.details.get("region")).sagemaker
        arn = handle.details["execution_arn"]
        execution = client.describe_pipeline_execution(PipelineExecutionArn=arn)
        listed = self._listed_steps(handle)
        names = json.loads(handle.details.get("steps", "[]"))
        names += [name for name in listed if name not in names]
        reports = [self._report(handle, name, listed.get(name)) for name in names]
        status = EXECUTION_STATUS.get(execution["PipelineExecutionStatus"], Status.RUNNING)
        if status is Status.FAILED and not any(r.status is Status.FAILED for r in reports):
            reason = execution.get("FailureReason") or "the pipeline execution failed before any step did"
            reports.append(StepReport("pipeline", Status.FAILED, reason))
        return RunResult(status, reports)

    def _listed_steps(self, handle: RunHandle) -> dict[str, dict[str, Any]]:
        """The latest attempt of every step SageMaker has started, by step name."""
        client = self._aws(handle.details.get("region")).sagemaker
        pages = client.get_paginator("list_pipeline_execution_steps").paginate(
            PipelineExecutionArn=handle.details["execution_arn"], SortOrder="Ascending"
        )
        return {step["StepName"]: step for page in pages for step in page["PipelineExecutionSteps"]}

    def _report(self, handle: RunHandle, name: str, listed: dict[str, Any] | None) -> StepReport:
        if listed is None:
            return StepReport(name, Status.PENDING)
        status = STEP_STATUS.get(listed["StepStatus"], Status.RUNNING)
        if status is Status.FAILED:
            tail = self._log_tail(handle, listed)
            return StepReport(name, status, listed.get("FailureReason") or "failed without a reason", tail)
        if status is Status.SUCCEEDED:
            verdict = self._verdict(handle, name)
            if verdict is not None:
                return verdict
            return StepReport(name, status, _elapsed(listed.get("StartTime"), listed.get("EndTime")))
        instances = json.loads(handle.details.get("shards", "{}")).get(name)
        job = job_of(listed.get("Metadata", {}))
        if instances and job is not None and listed["StepStatus"] == "Executing":  # a sharded step: how far along
            progress = shard_progress(self._aws(handle.details.get("region")).logs, job, instances)
            return StepReport(name, status, progress)
        return StepReport(name, status, listed["StepStatus"].lower() if listed["StepStatus"] in NOTED else "")

    def _verdict(self, handle: RunHandle, step: str) -> StepReport | None:
        """A gate that said no exits 0 on SageMaker; its decision.json tells a rejection from a pass."""
        uri = json.loads(handle.details.get("verdict_uris", "{}")).get(step)
        if uri is None:
            return None
        key = (handle.run_id, step)
        if key not in self._verdicts:
            text = read_text(self._aws(handle.details.get("region")).s3, f"{uri}/{VERDICT_FILE}")
            decision = json.loads(text) if text else {}
            if decision.get("promoted") is False:
                self._verdicts[key] = StepReport(step, Status.REJECTED, decision.get("reason", ""))
            else:
                self._verdicts[key] = StepReport(step, Status.SUCCEEDED, decision.get("reason", ""))
        return self._verdicts[key]

    def _log_tail(self, handle: RunHandle, listed: dict[str, Any]) -> str:
        job = job_of(listed.get("Metadata", {}))
        if job is None:
            return ""
        return log_text(self._aws(handle.details.get("region")).logs, job, tail=LOG_TAIL_LINES)

    def logs(self, handle: RunHandle, step: str) -> str:
        listed = self._listed_steps(handle).get(step)
        if listed is None:
            return f"step {step} has not started in execution {handle.run_id}"
        job = job_of(listed.get("Metadata", {}))
        if job is None:
            return f"step {step} started no job (status {listed['StepStatus']})"
        return log_text(self._aws(handle.details.get("region")).logs, job)

    def stop(self, handle: RunHandle) -> None:
        """StopPipelineExecution: SageMaker stops the running job and starts no further step."""
        client = self._aws(handle.details.get("region")).sagemaker
        client.stop_pipeline_execution(PipelineExecutionArn=handle.details["execution_arn"])

    def outputs(self, handle: RunHandle, destination: Path) -> list[Path]:
        s3 = self._aws(handle.details.get("region")).s3
        names = tuple(json.loads(handle.details.get("result_files", "null")) or RESULT_FILES)
        return download(s3, handle.details["result_uri"], names, destination)


def _pipeline_exists(client: Any, name: str) -> bool:
    """DescribePipeline, not ListPipelines: it is granted on ``pipeline/<name_prefix>-*``, listing only on ``*``."""
    try:
        client.describe_pipeline(PipelineName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == PIPELINE_NOT_FOUND:
            return False
        raise
    return True


def _elapsed(start: datetime | None, end: datetime | None) -> str:
    return f"{(end - start).total_seconds():.1f} s" if start and end else ""
