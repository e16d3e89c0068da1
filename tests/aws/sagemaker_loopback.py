"""A loopback AWS for the aws backend's tests: moto's real HTTP server plus a stand-in pipeline engine.

What is real here: moto's S3, KMS, CloudWatch Logs and SageMaker control-plane records, reached
over HTTP by the backend's own boto3 clients; botocore's request validation of every job the
engine starts; and the step code itself (``python -m ml.steps``), run as the container would run it.

What is a TEST DOUBLE, because nothing here can run SageMaker (no containers, no cloud):

* moto 5.2 stores pipelines and executions but runs nothing: it marks each execution
  "Succeeded" at once, and it has no ListPipelineExecutionSteps or StopPipelineExecution at all.
  :func:`install` adds those two operations to moto's SageMaker handler (served from this
  engine's step table) and hooks StartPipelineExecution so the engine runs the execution.
  It also makes DescribePipeline of a missing pipeline fail with ``ResourceNotFound``, the error
  the SageMaker API defines (moto 5.2 answers ``ValidationException`` instead), and adds
  DescribeMlflowTrackingServer (moto 5.2 has no MLflow tracking servers), answering with the
  members, status values and ``ResourceNotFound`` error of botocore's SageMaker service model.
* :class:`PipelineEngine` plays the SageMaker Pipelines service: for each step of the stored
  definition it resolves the pipeline expressions (``Get``, ``Std:Join``, step properties), starts
  the job with a real CreateTrainingJob/CreateProcessingJob request to moto (so botocore checks
  the arguments against the SageMaker API model), then plays the job: it stages the S3 inputs
  into a folder that stands for ``/opt/ml``, runs the container's entrypoint and arguments with
  ``/opt/ml`` mapped to that folder, uploads the outputs where SageMaker would, and writes the
  job's output to CloudWatch Logs. The MLflow tracking server ARN the job receives cannot be
  reached from here, so the step processes use a local SQLite store instead (the ARN the job got is
  recorded in :attr:`PipelineEngine.tracking_uris` for the tests to check).
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ResourceNotFound
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import get_pipeline_execution_from_arn

from runners.aws.compile import IMAGE_ENTRYPOINT

OPT_ML = "/opt/ml"
PROCESSING_OUTPUTS = "/opt/ml/processing/output"
PROPERTY = re.compile(r"^(?P<name>[A-Za-z0-9]+)(?:\['(?P<key>[^']+)'\])?$")
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
LOG_EVERY_S = 0.5


@dataclass
class Execution:
    arn: str
    record: Any  # moto's FakePipelineExecution: its status is what DescribePipelineExecution returns
    definition: dict[str, Any]
    parameters: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


class PipelineEngine:
    """Runs the executions moto records, one thread each (see the module docstring)."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self.workdir = Path()
        self.executions: dict[str, Execution] = {}
        self.tracking_uris: list[str] = []
        self.tracking_servers: dict[str, dict[str, Any]] = {}
        self.denied: set[str] = set()
        """Operations answered with AccessDeniedException, as IAM would for a caller lacking the grant."""
        self.lock = threading.Lock()

    def add_tracking_server(self, arn: str, version: str, status: str = "Created", active: str = "Active") -> None:
        """A tracking server as DescribeMlflowTrackingServer describes it (moto 5.2 has none)."""
        name = arn.rsplit("/", 1)[-1]
        self.tracking_servers[name] = {
            "TrackingServerArn": arn,
            "TrackingServerName": name,
            "MlflowVersion": version,
            "TrackingServerStatus": status,
            "IsActive": active,
            "TrackingServerSize": "Small",
        }

    def reset(self, workdir: Path) -> None:
        for execution in list(self.executions.values()):
            execution.stop.set()
            if execution.thread:
                execution.thread.join(timeout=30)
        self.executions, self.tracking_uris, self.workdir = {}, [], workdir
        self.tracking_servers, self.denied = {}, set()

    def _client(self, service: str) -> Any:
        config = Config(s3={"addressing_style": "path"})
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint, config=config)

    # -- the three operations the backend calls that moto does not run ---------------------------

    def start(self, arn: str, record: Any) -> None:
        definition = json.loads(record.pipeline_definition_for_execution)
        parameters = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
        parameters |= {p["Name"]: p["Value"] for p in record.pipeline_parameters or []}
        execution = Execution(arn, record, definition, parameters)
        record.pipeline_execution_status = "Executing"
        with self.lock:
            self.executions[arn] = execution
        execution.thread = threading.Thread(target=self._run, args=(execution,), daemon=True)
        execution.thread.start()

    def list_steps(self, arn: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.executions[arn].steps)

    def stop(self, arn: str) -> None:
        execution = self.executions[arn]
        if execution.record.pipeline_execution_status == "Executing":
            execution.record.pipeline_execution_status = "Stopping"
        execution.stop.set()

    def wait(self, arn: str, timeout: float = 120) -> str:
        execution = self.executions[arn]
        if execution.thread:
            execution.thread.join(timeout)
        return str(execution.record.pipeline_execution_status)

    # -- playing the pipeline ---------------------------------------------------------------------

    def _run(self, execution: Execution) -> None:
        outcome = "Succeeded"
        for step in execution.definition["Steps"]:
            if execution.stop.is_set():
                outcome = "Stopped"
                break
            status = self._run_step(execution, step)
            if status != "Succeeded":
                outcome = status
                break
        execution.record.pipeline_execution_status = outcome

    def _set(self, entry: dict[str, Any], **changes: Any) -> None:
        with self.lock:
            entry.update(changes)

    def _run_step(self, execution: Execution, step: dict[str, Any]) -> str:
        entry: dict[str, Any] = {
            "StepName": step["Name"],
            "StepDescription": step.get("Description", ""),
            "StartTime": datetime.now(UTC),
            "StepStatus": "Starting",
            "AttemptCount": 1,
            "Metadata": {},
        }
        with self.lock:
            execution.steps.append(entry)
        try:
            arguments = self._resolve(step["Arguments"], execution)
            job = f"pipelines-{execution.id}-{step['Name']}-{secrets.token_hex(3)}"[:63]
            sagemaker = self._client("sagemaker")
            if step["Type"] == "Training":
                arn = sagemaker.create_training_job(TrainingJobName=job, **arguments)["TrainingJobArn"]
                metadata = {"TrainingJob": {"Arn": arn}}
            else:
                arn = sagemaker.create_processing_job(ProcessingJobName=job, **arguments)["ProcessingJobArn"]
                metadata = {"ProcessingJob": {"Arn": arn}}
            self._set(entry, StepStatus="Executing", Metadata=metadata)
            status, reason, properties = run_instances(self, job, step["Type"], arguments, execution.stop)
        except Exception as exc:  # an engine or validation error must show as a failed step, not a hang
            status, reason, properties = "Failed", f"engine: {type(exc).__name__}: {exc}", {}
        execution.properties[step["Name"]] = properties
        changes: dict[str, Any] = {"StepStatus": status, "EndTime": datetime.now(UTC)}
        if reason:
            changes["FailureReason"] = reason
        self._set(entry, **changes)
        return status

    def _resolve(self, value: Any, execution: Execution) -> Any:
        if isinstance(value, dict) and set(value) == {"Get"}:
            return self._get(value["Get"], execution)
        if isinstance(value, dict) and set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(self._resolve(v, execution)) for v in join["Values"])
        if isinstance(value, dict):
            return {k: self._resolve(v, execution) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v, execution) for v in value]
        return value

    def _get(self, path: str, execution: Execution) -> Any:
        root, _, rest = path.partition(".")
        if root == "Execution" and rest == "PipelineExecutionId":
            return execution.id
        if root == "Parameters":
            return execution.parameters[rest]
        if root == "Steps":
            step, _, prop = rest.partition(".")
            value: Any = execution.properties[step]
            for part in prop.split("."):
                match = PROPERTY.match(part)
                if match is None:
                    raise ValueError(f"cannot read property {path!r}")
                value = value[match["name"]]
                if match["key"] is not None:  # Outputs['name']: the list item with that OutputName
                    value = next(item for item in value if item.get("OutputName") == match["key"])
            return value
        raise ValueError(f"unknown pipeline expression {path!r}")


def run_instances(
    engine: PipelineEngine, job: str, kind: str, arguments: dict[str, Any], stop: threading.Event
) -> tuple[str, str, dict[str, Any]]:
    """A job's instances (``InstanceCount``) at once, as SageMaker runs them; the job fails if one fails."""
    cluster = arguments.get("ResourceConfig") or arguments["ProcessingResources"]["ClusterConfig"]
    count = int(cluster["InstanceCount"])
    containers = [Container(engine, job, kind, arguments, host, count) for host in range(count)]
    results: list[tuple[str, str, dict[str, Any]]] = [("Failed", "engine: instance did not finish", {})] * count

    def play(host: int) -> None:
        results[host] = containers[host].run(stop)

    threads = [threading.Thread(target=play, args=(host,), daemon=True) for host in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for status in ("Stopped", "Failed"):
        for result in results:
            if result[0] == status:
                return result
    return results[0]


class Container:
    """One instance of a job played on this machine, with ``/opt/ml`` mapped to a folder of its own."""

    def __init__(
        self, engine: PipelineEngine, job: str, kind: str, arguments: dict[str, Any], host: int = 0, hosts: int = 1
    ) -> None:
        self.engine, self.job, self.kind, self.arguments = engine, job, kind, arguments
        self.host, self.hosts = host, hosts
        self.stream: str | None = None
        self.sent = 0
        self.root = engine.workdir / job / f"algo-{host + 1}"
        self.s3 = engine._client("s3")

    def local(self, path: str) -> Path:
        return Path(str(self.root) + path) if path.startswith(OPT_ML) else Path(path)

    def run(self, stop: threading.Event) -> tuple[str, str, dict[str, Any]]:
        training = self.kind == "Training"
        spec = self.arguments["AlgorithmSpecification"] if training else self.arguments["AppSpecification"]
        for channel in self.arguments.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self._stage(source, self.local(f"{OPT_ML}/input/data/{channel['ChannelName']}"))
        for item in self.arguments.get("ProcessingInputs", []):
            sharded = item["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
            self._stage(item["S3Input"]["S3Uri"], self.local(item["S3Input"]["LocalPath"]), sharded)
        for folder in (f"{OPT_ML}/model", f"{OPT_ML}/output", f"{OPT_ML}/config"):
            self.local(folder).mkdir(parents=True, exist_ok=True)
        self._write_config()
        environment = self.arguments.get("Environment", {})
        self.engine.tracking_uris.append(environment.get("MLFLOW_TRACKING_URI", ""))
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ} | environment
        env |= {
            "MLFLOW_TRACKING_URI": f"sqlite:///{self.engine.workdir / 'mlflow' / 'mlflow.db'}",
            "GRIDCAST_HOME": str(self.engine.workdir / "mlflow"),
            "GRIDCAST_FAILURE_FILE": str(self.local(f"{OPT_ML}/output/failure")),
            "GRIDCAST_SAGEMAKER_CONFIG_DIR": str(self.local(f"{OPT_ML}/config")),
            "PYTHONWARNINGS": "ignore",
        }
        refused = self._unwritable_mounts(spec["ContainerEntrypoint"])
        if refused is not None:
            self._write_logs_text([refused])
            return "Failed", f"AlgorithmError: {refused}, exit code: 1", {}
        command = [*spec["ContainerEntrypoint"][1:], *spec.get("ContainerArguments", [])]
        command = [sys.executable if arg == "python" else str(self.local(arg)) for arg in command]
        log_path = self.root / "container.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT)
            last = time.monotonic()
            while process.poll() is None:
                if time.monotonic() - last > LOG_EVERY_S:
                    self._write_logs(log_path, final=False)
                    last = time.monotonic()
                if stop.wait(0.05):
                    process.terminate()
                    process.wait()
                    self._write_logs(log_path)
                    return "Stopped", "", {}
        self._write_logs(log_path)
        if process.returncode != 0:
            failure = self.local(f"{OPT_ML}/output/failure")
            message = failure.read_text().strip() if failure.is_file() else ""
            if training:  # SageMaker reports a training container's /opt/ml/output/failure
                return "Failed", f"AlgorithmError: {message}, exit code: {process.returncode}", {}
            return "Failed", "AlgorithmError: See job logs for more information", {}
        return "Succeeded", "", self._upload_outputs(training)

    def _unwritable_mounts(self, entrypoint: list[str]) -> str | None:
        """SageMaker mounts the output folders root-owned at run time (aws/sagemaker-python-sdk#4764).

        The image's entrypoint, started as root, hands them to the job user before dropping root
        (proven with real root-owned mounts in tests/container). Played here, not run: the step runs
        with the entrypoint left out, and a job that bypasses it fails the way it would on SageMaker,
        as the image's user refused its first write (these tests may run as root, which no mode bit stops).
        """
        if entrypoint[:1] == [IMAGE_ENTRYPOINT]:
            return None
        folder = f"{OPT_ML}/model" if self.kind == "Training" else f"{PROCESSING_OUTPUTS}/..."
        return f"PermissionError: [Errno 13] Permission denied: '{folder}' (root-owned SageMaker mount)"

    def _stage(self, uri: str, folder: Path, sharded: bool = False) -> None:
        """Copy the objects under ``uri``; ShardedByS3Key: about 1/N of them per instance (here: every
        N-th key in key order, an assumption: SageMaker documents the share, not which objects)."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        folder.mkdir(parents=True, exist_ok=True)
        for key in keys[self.host :: self.hosts] if sharded else keys:
            target = folder / key[len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, key, str(target))

    def _write_config(self) -> None:
        """What SageMaker puts in /opt/ml/config of a processing container: its place and the job request."""
        hosts = [f"algo-{i + 1}" for i in range(self.hosts)]
        config = self.local(f"{OPT_ML}/config")
        resources = {"current_host": hosts[self.host], "hosts": hosts, "network_interface_name": "eth0"}
        (config / "resourceconfig.json").write_text(json.dumps(resources))
        if self.kind != "Training":  # the request as SageMaker stores it, its /opt/ml paths mapped like all others
            request = json.loads(json.dumps(self.arguments | {"ProcessingJobName": self.job}))
            for item in request.get("ProcessingInputs", []):
                item["S3Input"]["LocalPath"] = str(self.local(item["S3Input"]["LocalPath"]))
            (config / "processingjobconfig.json").write_text(json.dumps(request))

    def _put_folder(self, folder: Path, uri: str, kms_key: str | None) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}"
            self.s3.upload_file(str(path), bucket, key, ExtraArgs=extra)

    def _upload_outputs(self, training: bool) -> dict[str, Any]:
        """Upload where SageMaker would and return the step properties later steps may read."""
        if training:
            config = self.arguments["OutputDataConfig"]
            # CompressionType NONE: the model folder's files, uncompressed, under <path>/<job>/output/model/.
            assert config.get("CompressionType") == "NONE", "the engine plays uncompressed model output only"
            artifacts = f"{config['S3OutputPath'].rstrip('/')}/{self.job}/output/model/"
            self._put_folder(self.local(f"{OPT_ML}/model"), artifacts, config.get("KmsKeyId"))
            return {"ModelArtifacts": {"S3ModelArtifacts": artifacts}}
        config = self.arguments["ProcessingOutputConfig"]
        for output in config["Outputs"]:
            self._put_folder(self.local(output["S3Output"]["LocalPath"]), output["S3Output"]["S3Uri"], None)
        return {"ProcessingOutputConfig": config}

    def _write_logs_text(self, lines: list[str]) -> None:
        """A container that never ran: its one line goes to its stream as SageMaker's would."""
        log_path = self.root / "container.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("".join(f"{line}\n" for line in lines))
        self._write_logs(log_path)

    def _write_logs(self, log_path: Path, final: bool = True) -> None:
        """Send the container's new output lines to its CloudWatch stream (SageMaker streams them live)."""
        logs = self.engine._client("logs")
        group = "/aws/sagemaker/TrainingJobs" if self.kind == "Training" else "/aws/sagemaker/ProcessingJobs"
        if self.stream is None:
            self.stream = f"{self.job}/algo-{self.host + 1}-{int(time.time())}"
            with self.engine.lock:
                if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
                    logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=self.stream)
        text = log_path.read_text(errors="replace")
        complete = text if final else text[: text.rfind("\n") + 1]
        lines = complete.splitlines()[self.sent :]
        if final and not lines and self.sent == 0:
            lines = ["(no output)"]
        if lines:
            now = int(time.time() * 1000)
            events = [{"timestamp": now, "message": line} for line in lines]
            logs.put_log_events(logGroupName=group, logStreamName=self.stream, logEvents=events)
            self.sent += len(lines)


class AccessDenied(JsonRESTError):
    """SageMaker's answer when IAM refuses the call (moto enforces no IAM; the engine's ``denied`` plays it)."""

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


def install(engine: PipelineEngine) -> list[tuple[str, Any]]:
    """Teach moto's SageMaker handler the missing operations; returns what to restore afterwards."""
    original_start = SageMakerResponse.start_pipeline_execution
    original_describe = SageMakerResponse.describe_pipeline

    def start_pipeline_execution(self: SageMakerResponse) -> ActionResult:
        result = original_start(self)
        arn = result.result["PipelineExecutionArn"]  # type: ignore[index]
        engine.start(arn, get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn))
        return result

    def list_pipeline_execution_steps(self: SageMakerResponse) -> ActionResult:
        steps = engine.list_steps(self._get_param("PipelineExecutionArn"))
        if self._get_param("SortOrder", "Descending") == "Descending":
            steps.reverse()
        return ActionResult({"PipelineExecutionSteps": steps})

    def stop_pipeline_execution(self: SageMakerResponse) -> ActionResult:
        arn = self._get_param("PipelineExecutionArn")
        engine.stop(arn)
        return ActionResult({"PipelineExecutionArn": arn})

    def describe_pipeline(self: SageMakerResponse) -> ActionResult:
        if "DescribePipeline" in engine.denied:
            raise AccessDenied("not authorized to perform: sagemaker:DescribePipeline")
        name = self._get_param("PipelineName")
        if name not in self.sagemaker_backend.pipelines:
            raise ResourceNotFound(f"Pipeline '{name}' does not exist.")
        return original_describe(self)

    def describe_mlflow_tracking_server(self: SageMakerResponse) -> ActionResult:
        name = self._get_param("TrackingServerName")
        if name not in engine.tracking_servers:
            raise ResourceNotFound(f"Tracking server {name} does not exist.")
        return ActionResult(dict(engine.tracking_servers[name]))

    saved = [(name, getattr(SageMakerResponse, name, None)) for name in _ADDED]
    SageMakerResponse.describe_mlflow_tracking_server = describe_mlflow_tracking_server  # type: ignore[attr-defined]
    SageMakerResponse.describe_pipeline = describe_pipeline  # type: ignore[method-assign]
    SageMakerResponse.start_pipeline_execution = start_pipeline_execution  # type: ignore[method-assign]
    SageMakerResponse.list_pipeline_execution_steps = list_pipeline_execution_steps  # type: ignore[attr-defined]
    SageMakerResponse.stop_pipeline_execution = stop_pipeline_execution  # type: ignore[attr-defined]
    return saved


def uninstall(saved: list[tuple[str, Any]]) -> None:
    for name, value in saved:
        if value is None:
            delattr(SageMakerResponse, name)
        else:
            setattr(SageMakerResponse, name, value)


_ADDED = (
    "describe_pipeline",
    "start_pipeline_execution",
    "list_pipeline_execution_steps",
    "stop_pipeline_execution",
    "describe_mlflow_tracking_server",
)
