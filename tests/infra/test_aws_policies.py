"""The IAM, bucket and lifecycle documents, read as plain data (no Pulumi involved)."""

from __future__ import annotations

from typing import Any

import pytest

from infra import aws_policies

ACCOUNT = "123456789012"
BUCKET = "arn:aws:s3:::gridcast-aws-bucket"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REPO = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/gridcast-aws"
SERVER = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:mlflow-tracking-server/gridcast-aws"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/gridcast-aws-execution-role"
OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
WHERE = {"partition": "aws", "region": "eu-west-1", "account_id": ACCOUNT}
LOGS = aws_policies.sagemaker_log_resources("aws", "eu-west-1", ACCOUNT)


def execution() -> dict[str, Any]:
    return aws_policies.execution_role_policy(
        execution_role_arn=EXEC_ROLE,
        bucket_arn=BUCKET,
        kms_key_arn=KEY,
        repository_arn=REPO,
        tracking_server_arn=SERVER,
        **WHERE,
    )


def deploy() -> dict[str, Any]:
    return aws_policies.deploy_role_policy(
        execution_role_arn=EXEC_ROLE,
        tracking_server_arn=SERVER,
        bucket_arn=BUCKET,
        kms_key_arn=KEY,
        repository_arn=REPO,
        pipeline_prefix="gridcast-aws",
        data_prefix="data",
        outputs_prefix="/outputs/",
        **WHERE,
    )


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids)), sids
    return {statement["Sid"]: statement for statement in document["Statement"]}


def resources_by_action(document: dict[str, Any]) -> dict[str, set[str]]:
    """action -> every resource an Allow statement grants it on."""
    granted: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            granted.setdefault(action, set()).update(statement["Resource"])
    return granted


@pytest.mark.parametrize("build", [execution, deploy], ids=["execution", "deploy"])
def test_only_ecr_login_uses_a_star_resource(build: Any) -> None:
    granted = resources_by_action(build())
    assert {action for action, resources in granted.items() if "*" in resources} == {"ecr:GetAuthorizationToken"}
    assert granted["ecr:GetAuthorizationToken"] == {"*"}


def test_execution_role_reaches_only_its_bucket_key_image_logs_and_server() -> None:
    granted = resources_by_action(execution())
    sagemaker = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}"
    step_jobs = {f"{sagemaker}:training-job/pipelines-*", f"{sagemaker}:processing-job/pipelines-*"}
    allowed = {BUCKET, f"{BUCKET}/*", KEY, REPO, SERVER, EXEC_ROLE, "*", *LOGS, *step_jobs}
    assert set().union(*granted.values()) <= allowed
    assert granted["s3:GetObject"] == {f"{BUCKET}/*"}
    assert granted["kms:Decrypt"] == {KEY}
    assert granted["ecr:BatchGetImage"] == {REPO}
    assert granted["sagemaker-mlflow:*"] == {SERVER}
    assert granted["logs:PutLogEvents"] == set(LOGS)
    assert all(r.startswith(f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/sagemaker/") for r in LOGS)
    assert "ecr:PutImage" not in granted, "jobs pull images, they never push them"


def test_execution_role_runs_pipeline_steps_as_itself_only() -> None:
    """The execution role is the pipeline's RoleArn: SageMaker Pipelines starts the step jobs as it."""
    statements = by_sid(execution())
    sagemaker = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}"
    assert statements["RunTrainingSteps"] == {
        "Sid": "RunTrainingSteps",
        "Effect": "Allow",
        "Action": [
            "sagemaker:AddTags",
            "sagemaker:CreateTrainingJob",
            "sagemaker:DescribeTrainingJob",
            "sagemaker:StopTrainingJob",
        ],
        "Resource": [f"{sagemaker}:training-job/pipelines-*"],
    }
    assert statements["RunProcessingSteps"] == {
        "Sid": "RunProcessingSteps",
        "Effect": "Allow",
        "Action": [
            "sagemaker:AddTags",
            "sagemaker:CreateProcessingJob",
            "sagemaker:DescribeProcessingJob",
            "sagemaker:StopProcessingJob",
        ],
        "Resource": [f"{sagemaker}:processing-job/pipelines-*"],
    }
    assert statements["PassSelfToStepJobs"] == {
        "Sid": "PassSelfToStepJobs",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": [EXEC_ROLE],
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    }
    grants = [s for s in execution()["Statement"] if any(a.startswith(("sagemaker:", "iam:")) for a in s["Action"])]
    assert [s["Sid"] for s in grants] == ["RunTrainingSteps", "RunProcessingSteps", "PassSelfToStepJobs"]
    grant = statements["GrantKeyToSageMakerVolumes"]
    assert grant["Action"] == ["kms:CreateGrant"] and grant["Resource"] == [KEY]
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_deploy_role_may_pass_only_the_execution_role_and_only_to_sagemaker() -> None:
    (pass_role,) = [s for s in deploy()["Statement"] if "iam:PassRole" in s["Action"]]
    assert pass_role["Action"] == ["iam:PassRole"]
    assert pass_role["Resource"] == [EXEC_ROLE]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


#: Every deploy statement except PassRole (above): (actions, resources), exactly.
PIPELINES = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:pipeline/gridcast-aws-*"
GROUPS = [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/sagemaker/{g}" for g in ("TrainingJobs", "ProcessingJobs")]
DEPLOY_STATEMENTS = {
    "EcrLogin": (["ecr:GetAuthorizationToken"], ["*"]),
    "PushImage": (
        [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:CompleteLayerUpload",
            "ecr:InitiateLayerUpload",
            "ecr:PutImage",
            "ecr:UploadLayerPart",
        ],
        [REPO],
    ),
    "ListBucket": (["s3:ListBucket"], [BUCKET]),
    "StageData": (["s3:AbortMultipartUpload", "s3:PutObject"], [f"{BUCKET}/data/*"]),
    "ReadDataAndResults": (["s3:GetObject"], [f"{BUCKET}/data/*", f"{BUCKET}/outputs/*"]),
    "UseBucketKey": (["kms:Decrypt", "kms:GenerateDataKey"], [KEY]),
    "ManagePipelines": (
        [
            "sagemaker:AddTags",
            "sagemaker:CreatePipeline",
            "sagemaker:DescribePipeline",
            "sagemaker:StartPipelineExecution",
            "sagemaker:UpdatePipeline",
        ],
        [PIPELINES],
    ),
    "FollowExecutions": (
        [
            "sagemaker:DescribePipelineExecution",
            "sagemaker:ListPipelineExecutionSteps",
            "sagemaker:StopPipelineExecution",
        ],
        [f"{PIPELINES}/execution/*"],
    ),
    "ReadStepLogs": (
        ["logs:DescribeLogStreams", "logs:GetLogEvents"],
        [arn for group in GROUPS for arn in (group, f"{group}:log-stream:*")],
    ),
    # runner doctor's read-only preflight, each on the one resource it checks
    "CheckImage": (["ecr:DescribeImages"], [REPO]),
    "CheckTrackingServer": (["sagemaker:DescribeMlflowTrackingServer"], [SERVER]),
    "CheckExecutionRole": (["iam:GetRole"], [EXEC_ROLE]),
}


def test_deploy_role_grants_exactly_what_ci_and_the_runner_use() -> None:
    statements = by_sid(deploy())
    assert set(statements) == {"PassExecutionRoleToSageMakerOnly", *DEPLOY_STATEMENTS}
    for sid, (actions, resources) in DEPLOY_STATEMENTS.items():
        assert statements[sid] == {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}, sid


def test_deploy_role_runs_only_pipelines_named_after_the_stack() -> None:
    granted = resources_by_action(deploy())
    assert "sagemaker:ListPipelines" not in granted, "listing has no resource type; it would need '*'"
    assert not any(a.endswith(("TrainingJob", "ProcessingJob")) for a in granted), (
        "jobs are started by the pipeline, as the execution role"
    )
    assert not any(a.startswith("sagemaker-mlflow:") for a in granted), "the runner never calls MLflow itself"
    assert [a for a in granted if "Mlflow" in a] == ["sagemaker:DescribeMlflowTrackingServer"]  # doctor's version check
    assert granted["sagemaker:DescribeMlflowTrackingServer"] == {SERVER}
    assert "s3:DeleteObject" not in granted
    assert granted["s3:PutObject"] == {f"{BUCKET}/data/*"}, "CI stages inputs; only jobs write outputs"


def test_pipeline_arns_are_matched_in_lowercase() -> None:
    """SageMaker lowercases names in ARNs and IAM compares ARNs case-sensitively."""
    document = aws_policies.deploy_role_policy(
        execution_role_arn=EXEC_ROLE,
        tracking_server_arn=SERVER,
        bucket_arn=BUCKET,
        kms_key_arn=KEY,
        repository_arn=REPO,
        pipeline_prefix="GridCast-AWS",
        data_prefix="",
        outputs_prefix="",
        **WHERE,
    )
    statements = by_sid(document)
    assert statements["ManagePipelines"]["Resource"] == [PIPELINES]
    assert statements["ReadDataAndResults"]["Resource"] == [f"{BUCKET}/*"]


def test_job_log_groups_are_the_ones_the_runner_reads() -> None:
    from runners.aws.logs import LOG_GROUPS

    assert set(aws_policies.SAGEMAKER_JOB_LOG_GROUPS) == set(LOG_GROUPS.values())


def test_sagemaker_trust_is_bound_to_the_account() -> None:
    (statement,) = aws_policies.sagemaker_trust_policy(ACCOUNT)["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_github_trust_pins_audience_and_subject_exactly() -> None:
    (statement,) = aws_policies.github_oidc_trust_policy(OIDC, "gridcast/gridcast", "aws")["Statement"]
    assert statement["Principal"] == {"Federated": OIDC}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:gridcast/gridcast:environment:aws",
        }
    }


@pytest.mark.parametrize(("repository", "environment"), [("gridcast/*", "aws"), ("gridcast/gridcast", "*")])
def test_github_trust_refuses_wildcards(repository: str, environment: str) -> None:
    with pytest.raises(ValueError):
        aws_policies.github_oidc_trust_policy(OIDC, repository, environment)


def test_mlflow_server_role_is_confined_to_its_artifact_prefix() -> None:
    granted = resources_by_action(
        aws_policies.mlflow_server_role_policy(bucket_arn=BUCKET, artifact_prefix="/mlflow/", kms_key_arn=KEY)
    )
    assert granted["s3:PutObject"] == {f"{BUCKET}/mlflow/*"}
    assert set().union(*granted.values()) == {BUCKET, f"{BUCKET}/mlflow/*", KEY}


def test_bucket_policy_denies_plain_http_for_bucket_and_objects() -> None:
    (statement,) = aws_policies.tls_only_bucket_policy(BUCKET)["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Resource"] == [BUCKET, f"{BUCKET}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lifecycle_expires_untagged_first_and_caps_the_image_count() -> None:
    rules = aws_policies.ecr_lifecycle_policy(keep_images=5, untagged_days=7)["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    # ECR requires the tagStatus=any rule to have the lowest priority (highest number).
    assert rules[-1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}
    assert all(r["action"] == {"type": "expire"} for r in rules)
