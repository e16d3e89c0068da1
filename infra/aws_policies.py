"""IAM, bucket and ECR lifecycle documents for the SageMaker stack, as pure functions of strings.

Nothing here imports Pulumi: the component renders these with ``Output.all(...).apply(json.dumps)``
and tests read them directly. Every statement names its resources; the only ``"*"`` resource is
``ecr:GetAuthorizationToken``, which AWS defines on no resource at all.
"""

from __future__ import annotations

from typing import Any

from infra import github_oidc

PolicyDocument = dict[str, Any]

VERSION = "2012-10-17"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
#: The one action that cannot be scoped to a resource.
UNSCOPABLE_ACTIONS = frozenset({"ecr:GetAuthorizationToken"})

ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
ECR_PUSH_ACTIONS = [
    *ECR_PULL_ACTIONS,
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]
KMS_DATA_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]


def _statement(sid: str, actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources, **extra}


def sagemaker_log_resources(partition: str, region: str, account_id: str) -> list[str]:
    """Log groups (and their streams) under ``/aws/sagemaker/``, where SageMaker jobs write."""
    group = f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/sagemaker/*"
    return [group, f"{group}:log-stream:*"]


def sagemaker_trust_policy(account_id: str) -> PolicyDocument:
    """Only SageMaker, acting for this account (confused-deputy guard), may assume the role."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": SAGEMAKER_SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def github_oidc_trust_policy(provider_arn: str, repository: str, environment: str) -> PolicyDocument:
    """Only workflow jobs of one repository in one deployment environment may assume the role."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{github_oidc.ISSUER_HOST}:aud": github_oidc.AWS_AUDIENCE,
                        f"{github_oidc.ISSUER_HOST}:sub": github_oidc.subject(repository, environment),
                    }
                },
            }
        ],
    }


def execution_role_policy(
    *,
    execution_role_arn: str,
    bucket_arn: str,
    kms_key_arn: str,
    repository_arn: str,
    tracking_server_arn: str,
    partition: str,
    region: str,
    account_id: str,
) -> PolicyDocument:
    """What a pipeline and its jobs need: their data, key, image, logs and MLflow server.

    The runner submits SageMaker Pipelines whose ``RoleArn`` is this role, so the role also starts
    the step jobs (which SageMaker names ``pipelines-*``) and passes itself to them.
    """
    sagemaker = f"arn:{partition}:sagemaker:{region}:{account_id}"
    return {
        "Version": VERSION,
        "Statement": [
            _statement("ListBucket", ["s3:GetBucketLocation", "s3:ListBucket"], [bucket_arn]),
            _statement(
                "ReadWriteObjects",
                ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                [f"{bucket_arn}/*"],
            ),
            _statement("UseBucketKey", KMS_DATA_ACTIONS, [kms_key_arn]),
            # Jobs encrypt their ML storage volumes with the key; SageMaker does so through a grant.
            _statement(
                "GrantKeyToSageMakerVolumes",
                ["kms:CreateGrant"],
                [kms_key_arn],
                Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            _statement(
                "RunPipelineSteps",
                [
                    "sagemaker:AddTags",
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:StopTrainingJob",
                ],
                [f"{sagemaker}:training-job/pipelines-*", f"{sagemaker}:processing-job/pipelines-*"],
            ),
            _statement(
                "PassSelfToStepJobs",
                ["iam:PassRole"],
                [execution_role_arn],
                Condition={"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
            ),
            _statement("PullImage", ECR_PULL_ACTIONS, [repository_arn]),
            # GetAuthorizationToken has no resource type; AWS only accepts "*" for it.
            _statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            _statement(
                "WriteJobLogs",
                [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                sagemaker_log_resources(partition, region, account_id),
            ),
            # Every sagemaker-mlflow action is scoped to this one tracking server: jobs log runs and
            # register models through the MLflow REST API, which maps one-to-one onto these actions.
            _statement("UseTrackingServer", ["sagemaker-mlflow:*"], [tracking_server_arn]),
        ],
    }


def mlflow_server_role_policy(*, bucket_arn: str, artifact_prefix: str, kms_key_arn: str) -> PolicyDocument:
    """The tracking server reads and writes artifacts under one prefix of the bucket, nothing else."""
    prefix = artifact_prefix.strip("/")
    return {
        "Version": VERSION,
        "Statement": [
            _statement("ListArtifacts", ["s3:GetBucketLocation", "s3:ListBucket"], [bucket_arn]),
            _statement("ReadWriteArtifacts", ["s3:GetObject", "s3:PutObject"], [f"{bucket_arn}/{prefix}/*"]),
            _statement("UseBucketKey", KMS_DATA_ACTIONS, [kms_key_arn]),
        ],
    }


def deploy_role_policy(
    *,
    execution_role_arn: str,
    bucket_arn: str,
    kms_key_arn: str,
    repository_arn: str,
    tracking_server_arn: str,
    partition: str,
    region: str,
    account_id: str,
    pipeline_prefix: str,
) -> PolicyDocument:
    """What CI needs: push an image, stage data, run pipelines named ``pipeline_prefix-*``, read results."""
    pipeline = f"arn:{partition}:sagemaker:{region}:{account_id}:pipeline/{pipeline_prefix}-*"
    return {
        "Version": VERSION,
        "Statement": [
            _statement(
                "PassExecutionRoleToSageMakerOnly",
                ["iam:PassRole"],
                [execution_role_arn],
                Condition={"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
            ),
            # GetAuthorizationToken has no resource type; AWS only accepts "*" for it.
            _statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            _statement("PushImage", ECR_PUSH_ACTIONS, [repository_arn]),
            _statement("ListBucket", ["s3:GetBucketLocation", "s3:ListBucket"], [bucket_arn]),
            _statement("StageDataReadResults", ["s3:GetObject", "s3:PutObject"], [f"{bucket_arn}/*"]),
            _statement("UseBucketKey", KMS_DATA_ACTIONS, [kms_key_arn]),
            _statement(
                "ManagePipelines",
                [
                    "sagemaker:AddTags",
                    "sagemaker:CreatePipeline",
                    "sagemaker:DescribePipeline",
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:UpdatePipeline",
                ],
                [pipeline],
            ),
            _statement(
                "FollowExecutions",
                [
                    "sagemaker:DescribePipelineExecution",
                    "sagemaker:ListPipelineExecutionSteps",
                    "sagemaker:StopPipelineExecution",
                ],
                [f"{pipeline}/execution/*"],
            ),
            _statement(
                "ReadJobLogs",
                ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"],
                sagemaker_log_resources(partition, region, account_id),
            ),
            _statement(
                "UseTrackingServer",
                [
                    "sagemaker-mlflow:*",
                    "sagemaker:CreatePresignedMlflowTrackingServerUrl",
                    "sagemaker:DescribeMlflowTrackingServer",
                ],
                [tracking_server_arn],
            ),
        ],
    }


def tls_only_bucket_policy(bucket_arn: str) -> PolicyDocument:
    """Deny every request to the bucket that does not arrive over TLS."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def ecr_lifecycle_policy(*, keep_images: int = 30, untagged_days: int = 14) -> PolicyDocument:
    """Expire untagged layers after ``untagged_days`` and keep only the newest ``keep_images`` images."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {keep_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }
