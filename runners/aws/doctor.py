"""``runner doctor --backend aws``: check from the caller what a SageMaker submission needs, each with its fix.

Read-only calls only, in the order a submission depends on them: valid settings, who the caller is
(and that it is the stack's account), the bucket and the SageMaker API, the MLflow tracking server
(running, and an MLflow version this client works with), the image in ECR by digest, and the
execution role the pipeline passes. A check that cannot run because an earlier one failed is not
reported as passing.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from runners.aws.clients import AwsClients
from runners.aws.compile import pipeline_name
from runners.aws.runner import _pipeline_exists
from runners.aws.settings import DIGEST, AwsSettings, AwsSettingsError, load_settings
from runners.base import Check
from runners.spec import PipelineSpec

#: Statuses in which a tracking server answers the jobs (DescribeMlflowTrackingServer's TrackingServerStatus).
TRACKING_SERVER_READY = {"Created", "Updated", "Started", "MaintenanceComplete"}
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
LOGIN_FIX = (
    "sign in as the stack's deploy role: in CI aws-actions/configure-aws-credentials with role-to-assume = "
    "the stack output deploy_role_arn; on a laptop `aws sso login` or AWS_PROFILE"
)


def client_mlflow_version() -> str:
    """The MLflow the steps run with: the image installs the same pin as this environment (requirements/*.lock)."""
    try:
        return importlib.metadata.version("mlflow")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def compatible(client: str, server: str) -> bool:
    """Same major version. Within it, the steps call only run, metric, artifact and model-registry APIs
    (no logged-models API), which every 3.x tracking server serves."""
    return _major(client) is not None and _major(client) == _major(server)


def _major(version: str) -> int | None:
    match = re.match(r"^(\d+)\.", version)
    return int(match.group(1)) if match else None


def run_checks(aws: Callable[[str | None], AwsClients], stack_outputs: dict[str, Any], image: str | None,
               spec: PipelineSpec) -> list[Check]:  # fmt: skip
    settings, checks = _settings(stack_outputs, image)
    if settings is None:
        return checks
    clients = aws(settings.region)
    identity = _identity(clients, settings)
    checks.append(identity)
    if not identity.ok:
        return checks
    checks += [
        _bucket(clients, settings),
        _sagemaker(clients, settings, spec),
        _tracking_server(clients, settings),
    ]
    if image:
        checks.append(_image(clients, settings))
    checks.append(_role(clients, settings))
    return checks


def _settings(stack_outputs: dict[str, Any], image: str | None) -> tuple[AwsSettings | None, list[Check]]:
    checks = []
    if not image:
        checks.append(
            Check(
                "image",
                False,
                "no --image given",
                "pass --image <image_repository>@sha256:<digest> (deploy.yml's build job prints it)",
            )
        )
    repository = str(stack_outputs.get("image_repository") or "registry/repository")
    try:
        settings = load_settings(stack_outputs, image or f"{repository}@{PLACEHOLDER_DIGEST}")
    except AwsSettingsError as exc:
        fix = "pass --stack NAME or --stack-outputs FILE with the AWS stack's `pulumi stack output --json`"
        return None, [Check("stack outputs", False, str(exc), fix), *checks]
    return settings, [Check("stack outputs", True, f"stack {settings.name_prefix} in {settings.region}"), *checks]


def _identity(clients: AwsClients, settings: AwsSettings) -> Check:
    try:
        caller = clients.probe_caller()
    except NoCredentialsError:
        return Check("identity", False, "no AWS credentials found", LOGIN_FIX)
    except (ClientError, BotoCoreError) as exc:
        return Check("identity", False, f"the credentials were refused: {_reason(exc)}", LOGIN_FIX)
    account = settings.execution_role_arn.split(":")[4]
    if caller.get("Account") != account:
        return Check(
            "identity",
            False,
            f"signed in to account {caller.get('Account')} as {caller.get('Arn')}; the stack is in {account}",
            f"use credentials for account {account}",
        )
    return Check("identity", True, f"{caller.get('Arn')} in account {account}")


def _bucket(clients: AwsClients, settings: AwsSettings) -> Check:
    try:
        clients.probe_bucket(settings.bucket)
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "data bucket",
            False,
            f"s3://{settings.bucket}: {_reason(exc)}",
            "the caller needs s3:ListBucket on the stack's bucket (the deploy role has it); check the region",
        )
    return Check("data bucket", True, f"s3://{settings.bucket} reachable")


def _sagemaker(clients: AwsClients, settings: AwsSettings, spec: PipelineSpec) -> Check:
    name = pipeline_name(spec, settings)
    try:
        exists = _pipeline_exists(clients.sagemaker, name)
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "SageMaker API",
            False,
            f"DescribePipeline {name}: {_reason(exc)}",
            f"the caller needs sagemaker:DescribePipeline on pipeline/{settings.name_prefix.lower()}-* "
            "(the stack's deploy role has it)",
        )
    return Check("SageMaker API", True, f"pipeline {name} {'exists' if exists else 'will be created'}")


def _tracking_server(clients: AwsClients, settings: AwsSettings) -> Check:
    name = settings.mlflow_tracking_uri.rsplit("/", 1)[-1]
    try:
        server = clients.probe_tracking_server(name)
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "MLflow tracking server",
            False,
            f"{name}: {_reason(exc)}",
            "the caller needs sagemaker:DescribeMlflowTrackingServer on the stack's tracking server; "
            "is mlflow_tracking_uri this stack's server ARN?",
        )
    status, version = server.get("TrackingServerStatus", "?"), server.get("MlflowVersion", "?")
    if status not in TRACKING_SERVER_READY or server.get("IsActive") == "Inactive":
        return Check(
            "MLflow tracking server",
            False,
            f"{name} is {status} ({server.get('IsActive', '?')}): the jobs could not log or register models",
            f"aws sagemaker start-mlflow-tracking-server --tracking-server-name {name} (or wait for it)",
        )
    client = client_mlflow_version()
    if not compatible(client, version):
        return Check(
            "MLflow tracking server",
            False,
            f"{name} runs MLflow {version}; the steps' client is MLflow {client} (major versions differ)",
            "pin the server's mlflow_version to the client's major version (infra/aws_stack.py) and "
            "`pulumi up`, or run the image whose requirements lock matches the server",
        )
    return Check("MLflow tracking server", True, f"{name} {status}, MLflow {version} (client {client})")


def _image(clients: AwsClients, settings: AwsSettings) -> Check:
    match = DIGEST.match(settings.image)
    repository_url, digest = (match.group("repository") if match else ""), settings.image.rpartition("@")[2]
    host, _, repository = repository_url.partition("/")
    registry_id = host.split(".", 1)[0]
    try:
        clients.probe_image(registry_id, repository.split(":")[0], digest)
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "image",
            False,
            f"{settings.image}: {_reason(exc)}",
            "push the image and pass the digest the push printed (deploy.yml's build job), "
            "or check --image names the stack's repository",
        )
    return Check("image", True, f"{repository}@{digest[:19]}... is in ECR")


def _role(clients: AwsClients, settings: AwsSettings) -> Check:
    name = settings.execution_role_arn.rsplit("/", 1)[-1]
    try:
        role = clients.probe_role(name)
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "execution role",
            False,
            f"{settings.execution_role_arn}: {_reason(exc)}",
            "the caller needs iam:GetRole on the execution role; is execution_role_arn this stack's role?",
        )
    trust = str(role.get("AssumeRolePolicyDocument", ""))
    if "sagemaker.amazonaws.com" not in trust:
        return Check(
            "execution role",
            False,
            f"{name} does not trust sagemaker.amazonaws.com: SageMaker could not run the jobs as it",
            "restore the stack's trust policy with `pulumi up` (infra/aws_policies.sagemaker_trust_policy)",
        )
    return Check("execution role", True, f"{name} exists and trusts SageMaker (iam:PassRole is checked at upsert)")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)
