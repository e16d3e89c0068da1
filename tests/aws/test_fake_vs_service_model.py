"""The SageMaker stand-in answers in the shapes botocore's SageMaker service model defines.

moto lacks ListPipelineExecutionSteps, StopPipelineExecution and DescribeMlflowTrackingServer, so
``sagemaker_loopback`` serves them. botocore validates requests but not responses, so here each
answer the stand-in gives is walked against the operation's output shape from
botocore/data/sagemaker/*/service-2.json: no member the API does not define, every enum value one of
the API's, every type the API's (timestamps as datetimes, integers as ints), errors the operation's own.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from fake_stack import IMAGE, PIPELINE, TRACKING_SERVER
from sagemaker_loopback import PipelineEngine
from typer.testing import CliRunner

from runners import cli
from runners.aws.compile import IMAGE_ENTRYPOINT

MODEL = botocore.session.get_session().get_service_model("sagemaker")
PRIMITIVES = {"string": str, "integer": int, "long": int, "boolean": bool, "double": float, "float": float}


def problems(value: Any, shape: Any, where: str = "") -> list[str]:
    """Where ``value`` leaves ``shape`` (an empty list when it conforms)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a structure"]
        found = [f"{where}.{key}: not a member of {shape.name}" for key in value if key not in shape.members]
        for key, item in value.items():
            if key in shape.members:
                found += problems(item, shape.members[key], f"{where}.{key}")
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [p for i, item in enumerate(value) for p in problems(item, shape.member, f"{where}[{i}]")]
    if kind == "map":
        return [p for k, v in value.items() for p in problems(v, shape.value, f"{where}[{k}]")]
    if kind == "timestamp":
        return [] if isinstance(value, datetime) else [f"{where}: {value!r} is not a timestamp"]
    if not isinstance(value, PRIMITIVES[kind]):
        return [f"{where}: {value!r} is not {kind}"]
    enum = getattr(shape, "enum", None)  # only StringShape carries one
    return [f"{where}: {value!r} not in {shape.name} {list(enum)}"] if enum and value not in enum else []


@pytest.fixture
def bad_csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("time,load\n2024-01-01 00:00,3\n")
    return path


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCAST_POLL_MAX_S", "0.1")
    monkeypatch.setenv("COLUMNS", "400")


def output_of(operation: str) -> Any:
    return MODEL.operation_model(operation).output_shape


def test_the_check_itself_catches_what_the_api_does_not_define() -> None:
    step = {"StepName": "train", "StepStatus": "Running", "Made": 1, "StartTime": "now"}
    assert problems(step, MODEL.shape_for("PipelineExecutionStep")) == [
        ".Made: not a member of PipelineExecutionStep",
        ".StepStatus: 'Running' not in StepStatus ['Starting', 'Executing', 'Stopping', 'Stopped', 'Failed', "
        "'Succeeded']",
        ".StartTime: 'now' is not a timestamp",
    ]


@pytest.mark.slow
def test_execution_steps_of_a_failed_run_conform(
    bad_csv_path: Path, stack_file: Path, aws: dict, engine: PipelineEngine, state: Path
) -> None:
    args = ["--backend", "aws", "--data", str(bad_csv_path), "--stack-outputs", str(stack_file), "--image", IMAGE]
    CliRunner().invoke(cli.app, [*args, "--endpoint-url", aws["endpoint"], "--detach"])
    (arn,) = list(engine.executions)
    assert engine.wait(arn) == "Failed"
    answer = {"PipelineExecutionSteps": engine.list_steps(arn)}
    assert answer["PipelineExecutionSteps"][0]["FailureReason"]
    assert problems(answer, output_of("ListPipelineExecutionSteps")) == []
    stopped = aws["sagemaker"].stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="t" * 32)
    assert problems({"PipelineExecutionArn": stopped["PipelineExecutionArn"]}, output_of("StopPipelineExecution")) == []


def test_tracking_server_answer_and_error_conform(aws: dict, engine: PipelineEngine) -> None:
    name = TRACKING_SERVER.rsplit("/", 1)[-1]
    (served,) = engine.tracking_servers.values()
    assert problems(served, output_of("DescribeMlflowTrackingServer")) == []
    assert aws["sagemaker"].describe_mlflow_tracking_server(TrackingServerName=name)["MlflowVersion"] == "3.0"
    with pytest.raises(ClientError) as missing:
        aws["sagemaker"].describe_mlflow_tracking_server(TrackingServerName="nope")
    errors = [shape.name for shape in MODEL.operation_model("DescribeMlflowTrackingServer").error_shapes]
    assert missing.value.response["Error"]["Code"] in errors == ["ResourceNotFound"]


def test_missing_pipeline_answers_the_apis_own_error(aws: dict) -> None:
    with pytest.raises(ClientError) as missing:
        aws["sagemaker"].describe_pipeline(PipelineName="gridcast-test-nothing")
    errors = [shape.name for shape in MODEL.operation_model("DescribePipeline").error_shapes]
    assert missing.value.response["Error"]["Code"] in errors == ["ResourceNotFound"]


@pytest.mark.slow
def test_a_job_that_bypasses_the_image_entrypoint_fails_on_the_root_owned_mounts(
    synthetic_csv: Path, stack_file: Path, aws: dict, engine: PipelineEngine, state: Path, monkeypatch: Any
) -> None:
    """SageMaker's output mounts are root-owned: without the hand-over in the entrypoint the job cannot write."""
    import runners.aws.compile as compile_module

    real = compile_module._step

    def without_entrypoint(*args: Any, **kwargs: Any) -> dict[str, Any]:
        step = real(*args, **kwargs)
        spec = step["Arguments"].get("AlgorithmSpecification") or step["Arguments"]["AppSpecification"]
        spec["ContainerEntrypoint"] = [e for e in spec["ContainerEntrypoint"] if e != IMAGE_ENTRYPOINT]
        return step

    monkeypatch.setattr(compile_module, "_step", without_entrypoint)
    args = ["--backend", "aws", "--data", str(synthetic_csv), "--stack-outputs", str(stack_file), "--image", IMAGE]
    result = CliRunner().invoke(cli.app, [*args, "--endpoint-url", aws["endpoint"]])
    assert result.exit_code == 1
    assert "step train failed: AlgorithmError: PermissionError: [Errno 13] Permission denied: '/opt/ml/model'" in (
        " ".join(result.output.split())
    )
    stored = json.loads(aws["sagemaker"].describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"])
    assert stored["Steps"][0]["Arguments"]["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python"]
