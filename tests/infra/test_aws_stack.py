"""SageMakerStack under mocks: every security property, resource by resource."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pulumi_harness import ACCOUNT_ID, Recorded, StackRun, run_main, run_pulumi

from infra.aws_stack import SAGEMAKER_MLFLOW_VERSION, SageMakerStack, SageMakerStackArgs
from infra.tags import REQUIRED_TAG_KEYS
from runners.aws.doctor import compatible

ROOT = Path(__file__).resolve().parents[2]

NAME = "gridcast-aws"


def doc(resource: Recorded, key: str) -> dict[str, Any]:
    return json.loads(resource.inputs[key])


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["Statement"]


def test_kms_key_rotates(aws_run: StackRun) -> None:
    key = aws_run.named(f"{NAME}-key").inputs
    assert key["enableKeyRotation"] is True
    assert key["deletionWindowInDays"] == 30


def test_bucket_is_versioned_kms_encrypted_private_owner_enforced_and_tls_only(aws_run: StackRun) -> None:
    bucket = aws_run.named(f"{NAME}-bucket")
    name, arn, key_arn = (
        bucket.state["bucket"],
        bucket.state["arn"],
        aws_run.named(f"{NAME}-key").state["arn"],
    )
    assert bucket.inputs["forceDestroy"] is False

    versioning = aws_run.named(f"{NAME}-bucket-versioning").inputs
    assert versioning == {"bucket": name, "versioningConfiguration": {"status": "Enabled"}}

    (rule,) = aws_run.named(f"{NAME}-bucket-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key_arn,
    }
    assert rule["bucketKeyEnabled"] is True

    block = aws_run.named(f"{NAME}-bucket-public-access-block").inputs
    assert block == {
        "bucket": name,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = aws_run.named(f"{NAME}-bucket-ownership").inputs
    assert ownership == {"bucket": name, "rule": {"objectOwnership": "BucketOwnerEnforced"}}

    policy = aws_run.named(f"{NAME}-bucket-policy")
    assert policy.inputs["bucket"] == name
    (deny,) = statements(doc(policy, "policy"))
    assert deny["Effect"] == "Deny" and deny["Resource"] == [arn, f"{arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_repository_is_immutable_scanned_kms_encrypted_and_pruned(aws_run: StackRun) -> None:
    repo = aws_run.named(f"{NAME}-images").inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": aws_run.named(f"{NAME}-key").state["arn"]}
    ]
    assert repo["forceDelete"] is False
    lifecycle = aws_run.named(f"{NAME}-images-lifecycle")
    assert lifecycle.inputs["repository"] == repo["name"]
    assert [r["action"]["type"] for r in doc(lifecycle, "policy")["rules"]] == ["expire", "expire"]


def test_log_group_has_retention_inside_the_sagemaker_scope(aws_run: StackRun) -> None:
    logs = aws_run.named(f"{NAME}-logs").inputs
    assert logs["retentionInDays"] == 30
    assert logs["name"].startswith("/aws/sagemaker/")


def test_mlflow_server_keeps_artifacts_in_the_bucket_under_its_own_role(aws_run: StackRun) -> None:
    server = aws_run.named(f"{NAME}-mlflow").inputs
    bucket = aws_run.named(f"{NAME}-bucket").state["bucket"]
    assert server["artifactStoreUri"] == f"s3://{bucket}/mlflow"
    assert server["roleArn"] == aws_run.named(f"{NAME}-mlflow-role").state["arn"]
    assert server["automaticModelRegistration"] is False
    # Pinned, and to the client's major version: AWS asks for client and server versions to match.
    assert server["mlflowVersion"] == SAGEMAKER_MLFLOW_VERSION == "3.0"
    locked = re.search(r"^mlflow==([\d.]+)", (ROOT / "requirements" / "image.lock").read_text(), re.MULTILINE)
    assert locked is not None and compatible(locked.group(1), server["mlflowVersion"]), locked
    mlflow_policy = doc(aws_run.named(f"{NAME}-mlflow-role-policy"), "policy")
    resources = {r for s in statements(mlflow_policy) for r in s["Resource"]}
    assert f"arn:aws:s3:::{bucket}/mlflow/*" in resources
    assert f"arn:aws:s3:::{bucket}/*" not in resources


def test_sagemaker_roles_trust_only_sagemaker_for_this_account(aws_run: StackRun) -> None:
    for role in (f"{NAME}-execution-role", f"{NAME}-mlflow-role"):
        (trust,) = statements(doc(aws_run.named(role), "assumeRolePolicy"))
        assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def test_execution_role_policy_names_the_stack_resources_only(aws_run: StackRun) -> None:
    policy = aws_run.named(f"{NAME}-execution-role-policy")
    assert policy.inputs["role"] == aws_run.named(f"{NAME}-execution-role").state["name"]
    bucket = aws_run.named(f"{NAME}-bucket").state["arn"]
    allowed = {
        bucket,
        f"{bucket}/*",
        aws_run.named(f"{NAME}-key").state["arn"],
        aws_run.named(f"{NAME}-images").state["arn"],
        aws_run.named(f"{NAME}-mlflow").state["arn"],
        f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/aws/sagemaker/*",
        f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/aws/sagemaker/*:log-stream:*",
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:training-job/pipelines-*",
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:processing-job/pipelines-*",
        aws_run.named(f"{NAME}-execution-role").state["arn"],
    }
    for statement in statements(doc(policy, "policy")):
        if statement["Resource"] == ["*"]:
            assert statement["Action"] == ["ecr:GetAuthorizationToken"]
        else:
            assert set(statement["Resource"]) <= allowed, statement["Sid"]
    by_sid = {s["Sid"]: s for s in statements(doc(policy, "policy"))}
    assert by_sid["PassSelfToStepJobs"]["Resource"] == [aws_run.named(f"{NAME}-execution-role").state["arn"]]
    assert by_sid["RunTrainingSteps"]["Resource"] == [
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:training-job/pipelines-*"
    ]
    assert by_sid["RunProcessingSteps"]["Resource"] == [
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:processing-job/pipelines-*"
    ]


def test_no_managed_policies_are_attached_anywhere(aws_run: StackRun) -> None:
    assert not aws_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert all(not r.inputs.get("managedPolicyArns") for r in aws_run.of_type("aws:iam/role:Role"))


def test_deploy_role_trusts_one_repository_environment_via_the_github_provider(aws_run: StackRun) -> None:
    provider = aws_run.named(f"{NAME}-github-oidc")
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    (trust,) = statements(doc(aws_run.named(f"{NAME}-deploy-role"), "assumeRolePolicy"))
    assert trust["Principal"] == {"Federated": provider.state["arn"]}
    assert trust["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:gridcast/gridcast:environment:aws",
        }
    }


def test_deploy_role_passes_only_the_execution_role_to_sagemaker(aws_run: StackRun) -> None:
    policy = doc(aws_run.named(f"{NAME}-deploy-role-policy"), "policy")
    passing = [s for s in statements(policy) if "iam:PassRole" in s["Action"]]
    assert passing == [
        {
            "Sid": "PassExecutionRoleToSageMakerOnly",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [aws_run.named(f"{NAME}-execution-role").state["arn"]],
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        }
    ]


def test_deploy_role_reaches_exactly_what_the_stack_outputs_point_the_runner_at(aws_run: StackRun) -> None:
    """The runner stages under ``data_uri``, reads under ``outputs_uri``, names pipelines ``<name_prefix>-*``."""
    out = aws_run.outputs
    bucket = aws_run.named(f"{NAME}-bucket").state
    assert (out["data_uri"], out["outputs_uri"]) == (
        f"s3://{bucket['bucket']}/data/",
        f"s3://{bucket['bucket']}/outputs/",
    )
    policy = {s["Sid"]: s for s in statements(doc(aws_run.named(f"{NAME}-deploy-role-policy"), "policy"))}
    pipelines = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:pipeline/{out['name_prefix']}-*"
    logs = f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/aws/sagemaker"
    groups = [f"{logs}/TrainingJobs", f"{logs}/ProcessingJobs"]
    assert {sid: s["Resource"] for sid, s in policy.items()} == {
        "PassExecutionRoleToSageMakerOnly": [out["execution_role_arn"]],
        "EcrLogin": ["*"],
        "PushImage": [aws_run.named(f"{NAME}-images").state["arn"]],
        "ListBucket": [bucket["arn"]],
        "StageData": [f"{bucket['arn']}/data/*"],
        "ReadDataAndResults": [f"{bucket['arn']}/data/*", f"{bucket['arn']}/outputs/*"],
        "UseBucketKey": [out["kms_key_arn"]],
        "ManagePipelines": [pipelines],
        "FollowExecutions": [f"{pipelines}/execution/*"],
        "ReadStepLogs": [arn for group in groups for arn in (group, f"{group}:log-stream:*")],
        "CheckImage": [aws_run.named(f"{NAME}-images").state["arn"]],
        "CheckTrackingServer": [out["mlflow_tracking_uri"]],
        "CheckExecutionRole": [out["execution_role_arn"]],
    }


def test_everything_is_tagged_named_and_parented_by_the_component(aws_run: StackRun) -> None:
    taggable = [r for r in aws_run.custom if "tags" in r.inputs]
    assert {r.type.rsplit(":", 1)[1] for r in taggable} == {
        "Key",
        "Bucket",
        "Repository",
        "LogGroup",
        "MlflowTrackingServer",
        "Role",
        "OpenIdConnectProvider",
    }
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert {k: tags[k] for k in REQUIRED_TAG_KEYS} == {
            "project": "gridcast",
            "stack": "aws",
            "owner": "ml-platform",
            "cost-center": "grid-analytics",
        }, resource.name
    for resource in aws_run.custom:
        assert resource.name.startswith(f"{NAME}-")
        assert any(u.endswith(f"gridcast:aws:SageMakerStack${resource.type}::{resource.name}") for u in aws_run.urns)


def test_up_is_idempotent_every_input_is_the_same_on_a_second_run(aws_run: StackRun) -> None:
    again = run_main("aws")
    assert {r.name: (r.type, r.inputs) for r in again.resources} == {
        r.name: (r.type, r.inputs) for r in aws_run.resources
    }


def test_an_existing_github_provider_is_reused_not_duplicated() -> None:
    existing = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"
    args = SageMakerStackArgs(
        region="us-east-1",
        tags={"project": "gridcast", "stack": "dev", "owner": "me", "cost-center": "cc"},
        github_repository="grid/forecast",
        github_environment="dev",
        instance_type="ml.c5.2xlarge",
        github_oidc_provider_arn=existing,
    )

    def program() -> tuple[SageMakerStack, dict[str, Any]]:
        stack = SageMakerStack("gc-dev", args)
        return stack, stack.outputs.as_dict()

    run = run_pulumi(program, stack="dev", config={}, region="us-east-1")
    assert not run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    (trust,) = statements(doc(run.named("gc-dev-deploy-role"), "assumeRolePolicy"))
    assert trust["Principal"] == {"Federated": existing}
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:grid/forecast:environment:dev"
    )
    assert run.outputs["compute_target"] == run.outputs["compute_size"] == "ml.c5.2xlarge"
    assert run.outputs["region"] == "us-east-1"
