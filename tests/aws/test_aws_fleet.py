"""`runner fleet --backend aws`: the sharded step as one processing job over N instances, then the merge.

Against moto's server on loopback with the labelled pipeline engine (``sagemaker_loopback``), which
now plays a job's ``InstanceCount`` instances at once, each with its own ``/opt/ml`` and
``/opt/ml/config`` (resourceconfig.json, processingjobconfig.json) and its share of a
``ShardedByS3Key`` input, streaming each instance's output to its own CloudWatch stream.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fake_stack import BUCKET, IMAGE
from sagemaker_loopback import PipelineEngine
from typer.testing import CliRunner

from runners import cli
from tests.fleet.fleet_data import LIMITS, transformer_frame

pytestmark = pytest.mark.slow
FLEET_PIPELINE = "gridcast-test-transformer-fleet"


@pytest.fixture(autouse=True)
def fast_polls_wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCAST_POLL_MAX_S", "0.1")
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("aws-fleet")
    folder = root / "folder"
    folder.mkdir()
    frames = []
    for tid in LIMITS:
        frame = transformer_frame(tid)
        frame.to_csv(folder / f"{tid}.csv", index=False)
        frames.append(frame.assign(transformer_id=tid)[["transformer_id", "timestamp", "kw"]])
    pd.concat(frames).to_csv(root / "long.csv", index=False)
    limits = root / "limits.csv"
    pd.DataFrame({"transformer_id": list(LIMITS), "limit_kw": list(LIMITS.values())}).to_csv(limits, index=False)
    return {"folder": folder, "long": root / "long.csv", "limits": limits}


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def fleet_args(data: Path, limits: Path, stack_file: Path, endpoint: str, *more: Any) -> list[Any]:
    return [
        *("fleet", "--backend", "aws", "--data", data, "--limits", limits, "--stack-outputs", stack_file),
        *("--image", IMAGE, "--endpoint-url", endpoint, "--shards", "2", "--jobs", "1", *more),
    ]


def handle(state: Path, output: str) -> dict[str, Any]:
    run_id = re.search(r"^\s+run (\w+)$", output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    return json.loads((state / "handles" / f"{run_id}.json").read_text())


def test_fleet_runs_as_one_job_over_two_instances_each_with_its_files(
    fleet: dict[str, Path], stack_file: Path, aws: dict, engine: PipelineEngine, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke(*fleet_args(fleet["folder"], fleet["limits"], stack_file, aws["endpoint"], "--output-dir", out))

    assert result.exit_code == 0, result.output
    assert re.search(r"running  fleet \(\d+/7 transformers, \d+ failed, [\d.]+/s", result.output), result.output
    assert "6 of 7 transformers forecast" in result.output and "1 could not be forecast" in result.output
    report = pd.read_csv(out / "fleet_report.csv")
    assert set(report["transformer_id"]) == set(LIMITS) - {"BAD"} and report.iloc[0]["transformer_id"] == "FAST"
    assert list(pd.read_csv(out / "fleet_errors.csv")["transformer_id"]) == ["BAD"]
    run = handle(state, result.output)
    prefix = f"outputs/{FLEET_PIPELINE}/{run['run_id']}/fleet-merge/report"
    body = aws["s3"].get_object(Bucket=BUCKET, Key=f"{prefix}/fleet_report.csv")["Body"].read()
    assert (out / "fleet_report.csv").read_bytes() == body  # what the merge job wrote is what came home

    stored = json.loads(aws["sagemaker"].describe_pipeline(PipelineName=FLEET_PIPELINE)["PipelineDefinition"])
    sharded = stored["Steps"][0]["Arguments"]
    assert sharded["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    command = sharded["AppSpecification"]["ContainerArguments"]
    assert command[command.index("--shard-index") + 1 :][:3] == ["auto", "--shard-count", "2"]
    parameters = aws["sagemaker"].list_pipeline_parameters_for_execution(
        PipelineExecutionArn=run["details"]["execution_arn"]
    )["PipelineParameters"]
    assert {"Name": "data_distribution", "Value": "ShardedByS3Key"} in parameters
    # Each instance received about half of the files, together all of them, none twice.
    staged = [
        sorted(p.name for p in (engine.workdir / job).glob(f"algo-{h}/opt/ml/processing/input/data/*.csv"))
        for job in {p.name for p in engine.workdir.iterdir() if "-fleet-" in p.name and "merge" not in p.name}
        for h in (1, 2)
    ]
    assert sorted(name for names in staged for name in names) == sorted(f"{t}.csv" for t in LIMITS) and all(staged)
    streams = aws["logs"].describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs")["logStreams"]
    assert {s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams} >= {"algo-1", "algo-2"}


def test_a_long_file_is_replicated_to_every_instance_which_keeps_its_own_ids(
    fleet: dict[str, Path], stack_file: Path, aws: dict, engine: PipelineEngine, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke(*fleet_args(fleet["long"], fleet["limits"], stack_file, aws["endpoint"], "--output-dir", out))

    assert result.exit_code == 0, result.output
    run = handle(state, result.output)
    parameters = aws["sagemaker"].list_pipeline_parameters_for_execution(
        PipelineExecutionArn=run["details"]["execution_arn"]
    )["PipelineParameters"]
    assert {"Name": "data_distribution", "Value": "FullyReplicated"} in parameters
    assert set(pd.read_csv(out / "fleet_report.csv")["transformer_id"]) == set(LIMITS) - {"BAD"}
    log = invoke("logs", run["run_id"], "--step", "fleet", "--backend", "aws", "--endpoint-url", aws["endpoint"])
    assert "shard 1 of 2 (SageMaker job)" in log.output and "shard 2 of 2 (SageMaker job)" in log.output


def test_fleet_dry_run_shows_the_sharded_job_and_uploads_nothing(
    fleet: dict[str, Path], stack_file: Path, aws: dict, state: Path
) -> None:
    result = invoke(*fleet_args(fleet["folder"], fleet["limits"], stack_file, aws["endpoint"], "--dry-run"))

    assert result.exit_code == 0, result.output
    assert re.search(r"upload   \S+folder \(7 files, sha256 [0-9a-f]{64}\) to s3://", result.output)
    assert "data_distribution=ShardedByS3Key" in result.output
    assert aws["calls"] == []
