"""`runner --backend aws` end to end against moto's server on loopback (real HTTP, real boto3).

moto runs no containers and lacks the pipeline-step APIs; ``sagemaker_loopback`` (a labelled test
double) plays SageMaker Pipelines by running the real step code on the definition the backend
submitted. Everything the backend does itself (upload, upsert, start, poll, logs, stop, download)
goes over HTTP to moto.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from fake_stack import BUCKET, IMAGE, PIPELINE, REPOSITORY, TRACKING_SERVER
from sagemaker_loopback import PipelineEngine
from typer.testing import CliRunner

from runners import cli
from runners.aws import create
from runners.aws.compile import compile_definition
from runners.aws.settings import load_settings
from runners.base import RESULT_FILES, BackendOptions, RunHandle
from runners.spec import load_spec

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fast_polls_wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCAST_POLL_MAX_S", "0.1")
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at the terminal width; keep each message on one line


@pytest.fixture
def bad_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("time,load\n2024-01-01 00:00,3\n")
    return path


def invoke(*args: Any, input: str | None = None) -> Any:
    return CliRunner().invoke(cli.app, [str(a) for a in args], input=input)


def submit(data: Path, stack_file: Path, endpoint: str, image: str = IMAGE) -> list[Any]:
    return [
        "--backend",
        "aws",
        "--data",
        data,
        "--stack-outputs",
        stack_file,
        "--image",
        image,
        "--endpoint-url",
        endpoint,
    ]


def flat(text: str) -> str:
    return " ".join(text.split())


def handle(state: Path, output: str) -> dict[str, Any]:
    run_id = re.search(r"^\s+run (\w+)$", output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    return json.loads((state / "handles" / f"{run_id}.json").read_text())


def test_runs_on_sagemaker_and_reuses_upload_and_pipeline_on_rerun(
    synthetic_csv: Path, stack_file: Path, stack_outputs: dict, aws: dict, engine: PipelineEngine, state: Path, tmp_path
) -> None:
    endpoint = aws["endpoint"]
    out = tmp_path / "out"
    first = invoke(*submit(synthetic_csv, stack_file, endpoint), "--output-dir", out)

    assert first.exit_code == 0, first.output
    for step in ("train", "promote", "predict"):  # each step seen running, then finished, in order
        assert re.search(rf"running  {step}( \(starting\))?\n(.*\n)*\s+succeeded  {step} \(", first.output)
    assert "first overload" in first.output and "v1 promoted to champion" in first.output
    run = handle(state, first.output)
    assert run["details"]["pipeline_action"] == "created" and run["details"]["data_uploaded"] == "true"
    result_prefix = f"outputs/{PIPELINE}/{run['run_id']}/predict/predictions"
    for name in RESULT_FILES:  # downloaded what the predict job wrote to its S3 output
        body = aws["s3"].get_object(Bucket=BUCKET, Key=f"{result_prefix}/{name}")["Body"].read()
        assert (out / name).read_bytes() == body
    assert json.loads((out / "overload_report.json").read_text())["first_overload_at"]
    # Data went to its content address, encrypted with the stack's key.
    data_key = run["details"]["data_uri"].removeprefix(f"s3://{BUCKET}/")
    assert re.fullmatch(r"data/sha256/[0-9a-f]{64}/data\.csv", data_key)
    head = aws["s3"].head_object(Bucket=BUCKET, Key=data_key)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", stack_outputs["kms_key_arn"])
    # The server holds exactly the definition the spec compiles to, and the jobs got the tracking server.
    stored = json.loads(aws["sagemaker"].describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"])
    assert stored == compile_definition(load_spec(), load_settings(stack_outputs, IMAGE))
    assert engine.tracking_uris == [TRACKING_SERVER] * 3

    new_image = f"{REPOSITORY}@sha256:{'b' * 64}"
    second = invoke(
        *submit(synthetic_csv, stack_file, endpoint, image=new_image),
        *("--output-dir", tmp_path / "out2", "--threshold-kw", "0.5"),
    )

    assert second.exit_code == 0, second.output
    assert re.search(r"rejected  promote \(test RMSE [\d.]+ kW is above the cap 0\.500 kW\)", second.output)
    assert "REJECTED, champion kept" in second.output
    rerun = handle(state, second.output)
    assert rerun["details"]["pipeline_action"] == "updated" and rerun["details"]["data_uploaded"] == "false"
    versions = aws["s3"].list_object_versions(Bucket=BUCKET, Prefix="data/")["Versions"]
    assert [v["Key"] for v in versions] == [data_key]  # the same bytes were not uploaded again
    assert [p["PipelineName"] for p in aws["sagemaker"].list_pipelines()["PipelineSummaries"]] == [PIPELINE]
    stored = json.loads(aws["sagemaker"].describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"])
    assert stored["Steps"][0]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == new_image
    parameters = aws["sagemaker"].list_pipeline_parameters_for_execution(
        PipelineExecutionArn=rerun["details"]["execution_arn"]
    )["PipelineParameters"]
    assert {"Name": "threshold_kw", "Value": "0.5"} in parameters
    # Every call the backend made is one the deploy role allows (checked when the `aws` fixture ends).
    made = {f"{c.service}:{c.operation}" for c in aws["calls"]}
    assert made == {
        *("s3:HeadObject", "s3:PutObject", "s3:GetObject"),
        *("sagemaker:DescribePipeline", "sagemaker:CreatePipeline", "sagemaker:UpdatePipeline"),
        *("sagemaker:StartPipelineExecution", "sagemaker:DescribePipelineExecution"),
        "sagemaker:ListPipelineExecutionSteps",
        # the preflight (runner doctor) before each submission
        *("sts:GetCallerIdentity", "s3:HeadBucket", "sagemaker:DescribeMlflowTrackingServer"),
        *("ecr:DescribeImages", "iam:GetRole"),
    }


def test_failed_step_shows_reason_and_log_tail_and_exits_non_zero(
    bad_csv: Path, stack_file: Path, aws: dict, engine: PipelineEngine, state: Path, tmp_path: Path
) -> None:
    endpoint = aws["endpoint"]
    result = invoke(*submit(bad_csv, stack_file, endpoint), "--output-dir", tmp_path / "out")

    assert result.exit_code == 1
    run = handle(state, result.output)
    steps = aws["sagemaker"].list_pipeline_execution_steps(PipelineExecutionArn=run["details"]["execution_arn"])
    (train,) = steps["PipelineExecutionSteps"]  # promote and predict never started
    reason = train["FailureReason"]
    expected = (
        "/opt/ml/input/data/data/data.csv: missing column 'timestamp', 'kw'; expected a header with "
        "'timestamp' and 'kw' (found: time, load)."
    )
    assert reason.startswith("AlgorithmError: ") and reason.endswith(f"{expected}, exit code: 2")
    assert f"step train failed: {reason}\n--- last lines of the train log ---\n" in result.stderr
    message = reason.removeprefix("AlgorithmError: ").removesuffix(", exit code: 2")
    assert f"error: {message}" in result.stderr.splitlines()  # the container's own stderr, from CloudWatch
    assert not (tmp_path / "out").exists()  # nothing downloaded

    status = invoke("status", run["run_id"], "--backend", "aws", "--endpoint-url", endpoint)
    assert status.exit_code == 0, status.output
    assert re.search(r"failed  train \(AlgorithmError: ", status.output)
    assert "pending  promote" in status.output and f"run {run['run_id']}: failed" in status.output

    log = invoke("logs", run["run_id"], "--step", "train", "--backend", "aws", "--endpoint-url", endpoint)
    assert log.exit_code == 0, log.output
    events = aws["logs"].filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs")["events"]
    assert log.output.strip() == "\n".join(e["message"] for e in events).strip()
    assert "missing column 'timestamp', 'kw'" in log.output


def test_detach_returns_at_once_and_status_follows_the_execution(
    bad_csv: Path, stack_file: Path, aws: dict, engine: PipelineEngine, state: Path
) -> None:
    endpoint = aws["endpoint"]
    result = invoke(*submit(bad_csv, stack_file, endpoint), "--detach")

    assert result.exit_code == 0, result.output
    run = handle(state, result.output)
    assert f"submitted; follow it with: runner status --backend aws {run['run_id']}" in result.output
    arn = run["details"]["execution_arn"]
    assert arn.endswith(f":pipeline/{PIPELINE}/execution/{run['run_id']}")
    assert engine.wait(arn) == "Failed"
    status = invoke("status", run["run_id"], "--backend", "aws", "--endpoint-url", endpoint)
    assert f"run {run['run_id']}: failed" in status.output


def test_ctrl_c_offers_to_stop_and_stops_the_execution(
    synthetic_csv: Path, stack_file: Path, aws: dict, engine: PipelineEngine, state: Path, monkeypatch
) -> None:
    endpoint = aws["endpoint"]
    shown = cli._show

    def ctrl_c_once_train_runs(report: Any) -> None:  # stands in for the user pressing Ctrl-C
        shown(report)
        if report.step == "train":
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_show", ctrl_c_once_train_runs)
    result = invoke(*submit(synthetic_csv, stack_file, endpoint), input="y\n")

    assert result.exit_code == 130, result.output
    run = handle(state, result.output)
    assert f"stop requested for {run['run_id']}" in result.stderr
    assert engine.wait(run["details"]["execution_arn"]) == "Stopped"
    monkeypatch.setattr(cli, "_show", shown)
    status = invoke("status", run["run_id"], "--backend", "aws", "--endpoint-url", endpoint)
    assert "stopped  train" in status.output and "pending  predict" in status.output
    assert f"run {run['run_id']}: stopped" in status.output


def test_dry_run_prints_the_plan_and_makes_no_http_call(
    synthetic_csv: Path, stack_file: Path, stack_outputs: dict, state: Path
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[Any] = []
    threading.Thread(target=lambda: connections.append(listener.accept()), daemon=True).start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"

    result = invoke(*submit(synthetic_csv, stack_file, endpoint), "--dry-run")
    listener.close()

    assert result.exit_code == 0, result.output
    assert connections == []  # nothing connected to the endpoint: no upload, no API call
    assert "dry run: nothing is uploaded or submitted" in result.output
    assert re.search(
        rf"to s3://{BUCKET}/data/sha256/[0-9a-f]{{64}}/data\.csv \(skipped when already there\)", result.output
    )
    assert f"upsert   SageMaker pipeline {PIPELINE} in eu-west-1" in result.output
    assert "limit_kw=85.0, horizon_years=5.0, threshold_kw=0.0, transformer_id=synthetic" in result.output
    printed = json.loads(result.output.split("pipeline definition:\n", 1)[1])
    assert printed == compile_definition(load_spec(), load_settings(stack_outputs, IMAGE))
    assert not (state / "handles").exists()


def test_missing_result_file_is_named(aws: dict, stack_outputs: dict, tmp_path: Path) -> None:
    runner = create(BackendOptions(tmp_path, "", stack_outputs, IMAGE, aws["endpoint"]))
    prefix = f"s3://{BUCKET}/outputs/{PIPELINE}/0123456789ab/predict/predictions"
    handle = RunHandle("aws", "0123456789ab", {"region": "eu-west-1", "result_uri": prefix})

    with pytest.raises(FileNotFoundError) as caught:
        runner.outputs(handle, tmp_path / "out")
    assert str(caught.value) == f"{prefix}/predictions.csv does not exist"
