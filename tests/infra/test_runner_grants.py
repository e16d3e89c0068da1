"""The deploy role grants exactly what ``runner --backend aws`` calls: code, README table and policy agree.

``runners/aws/README.md`` keeps one row per boto3 call the backend makes, with the IAM actions the
call needs. Here the code is scanned for boto3 calls (any ``.<operation>(`` or ``get_paginator("<op>")``
whose name is an operation of the S3, SageMaker or CloudWatch Logs API, plus S3's transfer methods),
and the three are compared: no call without a row, no row without a call, and the deploy role's
actions are the table's plus the ECR push of the image build - nothing missing, nothing unused.
(Resource ARNs are checked call by call against moto in ``tests/aws``; see ``iam_check.py`` there.)
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

from infra import aws_policies

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "runners" / "aws"
SERVICES = ("s3", "sagemaker", "logs", "sts", "ecr", "iam")  # the clients runners/aws/clients.py makes
#: Actions AWS does not authorize by policy (answered for any valid credentials): a row, never a grant.
UNGATED = {"sts:GetCallerIdentity"}
#: boto3's S3 transfer methods: not API operations, each sends several (see the README table).
TRANSFER_METHODS = {"upload_file", "download_file", "upload_fileobj", "download_fileobj"}
ROW = re.compile(r"^\|\s*`(?P<service>[a-z0-9]+)\.(?P<method>[a-z0-9_]+)`\s*\|[^|]*\|(?P<actions>[^|]*)\|")
ACTION = re.compile(r"`([a-z0-9-]+:[A-Za-z]+)`")


@cache
def operations() -> dict[str, dict[str, str]]:
    """service -> {snake_case method: OperationName} from botocore's own API models."""
    session = botocore.session.get_session()
    return {
        service: {xform_name(op): op for op in session.get_service_model(service).operation_names}
        for service in SERVICES
    }


def calls_in_code() -> set[str]:
    """``service.method`` for every boto3 call in runners/aws/*.py."""
    found: set[str] = set()
    for path in sorted(RUNNER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                name = str(node.args[0].value)
            services = [s for s in SERVICES if name in operations()[s]]
            if name in TRANSFER_METHODS and node.func.attr != "get_paginator":
                services.append("s3")
            assert len(services) <= 1, f"{path.name}: {name} is an operation of {services}; name the client"
            found.update(f"{service}.{name}" for service in services)
    return found


def table() -> dict[str, set[str]]:
    """``service.method`` -> IAM actions, from the IAM table in runners/aws/README.md."""
    rows: dict[str, set[str]] = {}
    for line in (RUNNER / "README.md").read_text().splitlines():
        row = ROW.match(line)
        if row:
            call = f"{row['service']}.{row['method']}"
            assert call not in rows, f"two rows for {call}"
            rows[call] = set(ACTION.findall(row["actions"]))
            assert rows[call], f"the row for {call} names no IAM action"
    return rows


def deploy_actions() -> set[str]:
    document = aws_policies.deploy_role_policy(
        execution_role_arn="arn:aws:iam::123456789012:role/exec",
        tracking_server_arn="arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/t",
        bucket_arn="arn:aws:s3:::bucket",
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
        repository_arn="arn:aws:ecr:eu-west-1:123456789012:repository/r",
        partition="aws",
        region="eu-west-1",
        account_id="123456789012",
        pipeline_prefix="p",
        data_prefix="data",
        outputs_prefix="outputs",
    )
    return {action for statement in document["Statement"] for action in statement["Action"]}


def test_the_scan_finds_the_backends_calls() -> None:
    """Guards the scan itself: a scan that found nothing would make the next tests pass vacuously."""
    calls = calls_in_code()
    assert {"s3.upload_file", "sagemaker.start_pipeline_execution", "logs.get_log_events"} <= calls
    assert "sagemaker.describe_pipeline" in calls, "the upsert probes with DescribePipeline"
    assert "sagemaker.list_pipelines" not in calls, "ListPipelines can only be granted on '*'"


def test_every_boto3_call_has_a_row_and_every_row_a_call() -> None:
    calls, rows = calls_in_code(), set(table())
    assert calls - rows == set(), "calls in runners/aws/*.py missing from the README's IAM table"
    assert rows - calls == set(), "README IAM rows for calls the code no longer makes"


def test_each_row_grants_the_operations_own_action() -> None:
    """SageMaker and CloudWatch Logs authorize each operation by the action of the same name."""
    for call, actions in table().items():
        service, method = call.split(".")
        if service in ("sagemaker", "logs", "ecr", "iam", "sts"):
            assert f"{service}:{operations()[service][method]}" in actions, call


def test_deploy_role_grants_exactly_the_table_plus_the_image_push() -> None:
    needed = set().union(*table().values()) - UNGATED
    granted = deploy_actions()
    image_push = {"ecr:GetAuthorizationToken", *aws_policies.ECR_PUSH_ACTIONS}
    assert needed - granted == set(), "the runner calls these but the deploy role lacks them"
    assert granted - needed - image_push == set(), "the deploy role grants these but nothing calls them"
    assert {a for a in granted if a.startswith("ecr:")} == image_push | {"ecr:DescribeImages"}  # doctor's check
