"""`runner doctor --backend aws` against moto on loopback: all checks pass on the deployed fake, and
each check fails in turn, alone, with its fix, when what it checks is broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_stack import BUCKET, IMAGE, REPOSITORY, ROLE, stack_outputs
from sagemaker_loopback import PipelineEngine
from typer.testing import CliRunner

from runners import cli
from runners.aws.doctor import compatible

EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
CHECKS = [
    "stack outputs",
    "identity",
    "data bucket",
    "SageMaker API",
    "MLflow tracking server",
    "image",
    "execution role",
]


def doctor(stack_file: Path, endpoint: str, image: str | None = IMAGE) -> Any:
    args = ["doctor", "--backend", "aws", "--stack-outputs", str(stack_file), "--endpoint-url", endpoint]
    return CliRunner().invoke(cli.app, args + (["--image", image] if image else []))


def lines(output: str) -> dict[str, str]:
    """check name -> 'ok ...' or 'FAIL ... fix: ...' from the printed checklist."""
    found: dict[str, str] = {}
    current = ""
    for line in output.splitlines():
        text = " ".join(line.split())
        for mark in ("ok", "FAIL"):
            if text.startswith(f"{mark} ") and ":" in text:
                current = text.split(" ", 1)[1].split(":", 1)[0]
                found[current] = text
        if text.startswith("fix:") and current:
            found[current] += " " + text
    return found


def test_all_checks_pass_on_the_deployed_stack(stack_file: Path, aws: dict) -> None:
    result = doctor(stack_file, aws["endpoint"])
    assert result.exit_code == 0, result.output
    assert list(lines(result.output)) == CHECKS
    assert all(line.startswith("ok ") for line in lines(result.output).values())
    assert "MLflow 3.0 (client 3." in result.output and "all 7 checks passed" in result.output


def _no_credentials(ctx: dict[str, Any]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        ctx["monkeypatch"].delenv(name)


def _other_account(ctx: dict[str, Any]) -> None:
    outputs = json.loads(ctx["stack_file"].read_text())
    outputs["execution_role_arn"] = ROLE.replace("123456789012", "210987654321")
    ctx["stack_file"].write_text(json.dumps(outputs))


def _stopped_server(ctx: dict[str, Any]) -> None:
    for server in ctx["engine"].tracking_servers.values():
        server.update(TrackingServerStatus="Stopped", IsActive="Inactive")


def _old_server(ctx: dict[str, Any]) -> None:
    for server in ctx["engine"].tracking_servers.values():
        server["MlflowVersion"] = "2.16.2"


BREAKS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("stack outputs", lambda c: c["stack_file"].write_text(json.dumps(stack_outputs(None) | {"bucket": None})),
     "bucket", "pass --stack NAME or --stack-outputs FILE"),
    ("identity", _no_credentials, "no AWS credentials found", "configure-aws-credentials"),
    ("identity", _other_account, "the stack is in 210987654321", "use credentials for account 210987654321"),
    ("data bucket", lambda c: c["aws"]["s3"].delete_bucket(Bucket=BUCKET), "404", "s3:ListBucket"),
    ("SageMaker API", lambda c: c["engine"].denied.add("DescribePipeline"), "AccessDeniedException",
     "sagemaker:DescribePipeline on pipeline/gridcast-test-*"),
    ("MLflow tracking server", lambda c: c["engine"].tracking_servers.clear(), "ResourceNotFound",
     "sagemaker:DescribeMlflowTrackingServer"),
    ("MLflow tracking server", _stopped_server, "is Stopped (Inactive)", "start-mlflow-tracking-server"),
    ("MLflow tracking server", _old_server, "runs MLflow 2.16.2; the steps' client is MLflow 3.",
     "pin the server's mlflow_version"),
    ("image", lambda c: c.update(image=f"{REPOSITORY}@sha256:{'c' * 64}"), "ImageNotFoundException",
     "push the image"),
    ("image", lambda c: c.update(image=None), "no --image given", "pass --image"),
    ("execution role", lambda c: c["aws"]["iam"].delete_role(RoleName=ROLE.rsplit("/", 1)[-1]), "NoSuchEntity",
     "iam:GetRole"),
    ("execution role", lambda c: c["aws"]["iam"].update_assume_role_policy(
        RoleName=ROLE.rsplit("/", 1)[-1], PolicyDocument=json.dumps(EC2_TRUST)),
     "does not trust sagemaker.amazonaws.com", "pulumi up"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "breaks", "detail", "fix"), BREAKS, ids=[f"{b[0]}: {b[2][:30]}" for b in BREAKS])
def test_each_check_fails_alone_with_its_fix(
    check: str,
    breaks: Callable[[dict[str, Any]], None],
    detail: str,
    fix: str,
    stack_file: Path,
    aws: dict,
    engine: PipelineEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx: dict[str, Any] = {"stack_file": stack_file, "aws": aws, "engine": engine, "monkeypatch": monkeypatch,
                           "image": IMAGE}  # fmt: skip
    breaks(ctx)

    result = doctor(stack_file, aws["endpoint"], ctx["image"])

    assert result.exit_code == 1, result.output
    found = lines(result.output)
    failed = {name: text for name, text in found.items() if text.startswith("FAIL")}
    assert list(failed) == [check], result.output
    assert detail in failed[check] and "fix: " in failed[check] and fix in failed[check], failed[check]
    assert "Traceback" not in result.output


def test_the_preflight_stops_a_submission_before_anything_is_uploaded(
    stack_file: Path, aws: dict, engine: PipelineEngine, synthetic_csv: Path, state: Path
) -> None:
    engine.tracking_servers.clear()
    args = ["--backend", "aws", "--data", str(synthetic_csv), "--stack-outputs", str(stack_file), "--image", IMAGE]
    result = CliRunner().invoke(cli.app, [*args, "--endpoint-url", aws["endpoint"]])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "MLflow tracking server" in result.output
    assert "nothing was submitted" in result.output
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=BUCKET)  # no upload, no pipeline, no execution
    assert aws["sagemaker"].list_pipelines()["PipelineSummaries"] == []


@pytest.mark.parametrize(
    ("client", "server", "ok"),
    [("3.17.2", "3.0", True), ("3.17.2", "3.0.0", True), ("3.17.2", "2.16.2", False), ("4.0.0", "3.0", False),
     ("unknown", "3.0", False)],
)  # fmt: skip
def test_client_and_server_versions_must_share_the_major(client: str, server: str, ok: bool) -> None:
    assert compatible(client, server) is ok
