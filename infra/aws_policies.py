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
#: What ``docker push`` / ``podman push`` needs on the repository (after ``ecr:GetAuthorizationToken``):
#: check and upload layers, then read back and put the manifest.
ECR_PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]
KMS_DATA_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
#: SSE-KMS through S3: a write asks for a data key, a read (and a multipart write) decrypts one.
KMS_S3_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
#: The log groups SageMaker training and processing jobs write to; the runner reads step logs here.
SAGEMAKER_JOB_LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/ProcessingJobs")
#: SageMaker Pipelines names every job it starts ``pipelines-<execution id>-<step>-<suffix>``.
PIPELINE_JOB_PREFIX = "pipelines-"
#: The API calls of the pipeline role when SageMaker Pipelines starts, follows and stops step jobs.
#: AddTags: Pipelines tags each job with its pipeline and execution ARNs at creation.
TRAINING_STEP_ACTIONS = [
    "sagemaker:AddTags",
    "sagemaker:CreateTrainingJob",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
]
PROCESSING_STEP_ACTIONS = [
    "sagemaker:AddTags",
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
]
#: What ``runner --backend aws`` calls on a pipeline (runners/aws/runner.py). AddTags: create_pipeline
#: passes Tags. No ListPipelines: it has no resource type (it would need "*"); the runner describes
#: the pipeline instead and treats ResourceNotFound as "create".
PIPELINE_ACTIONS = [
    "sagemaker:AddTags",
    "sagemaker:CreatePipeline",
    "sagemaker:DescribePipeline",
    "sagemaker:StartPipelineExecution",
    "sagemaker:UpdatePipeline",
]
#: What the runner calls on an execution it started (ARN ``pipeline/<name>/execution/<id>``).
PIPELINE_EXECUTION_ACTIONS = [
    "sagemaker:DescribePipelineExecution",
    "sagemaker:ListPipelineExecutionSteps",
    "sagemaker:StopPipelineExecution",
]
#: What the runner calls to show a step's log (runners/aws/logs.py).
LOG_READ_ACTIONS = ["logs:DescribeLogStreams", "logs:GetLogEvents"]
#: What ``runner doctor`` reads before a submission (runners/aws/clients.py, ``probe_*``): the image by
#: digest, the tracking server's status and MLflow version, the execution role's trust. Read-only.
#: (sts:GetCallerIdentity needs no grant: AWS answers it for any valid credentials.)
PREFLIGHT_IMAGE_ACTIONS = ["ecr:DescribeImages"]
PREFLIGHT_TRACKING_ACTIONS = ["sagemaker:DescribeMlflowTrackingServer"]
PREFLIGHT_ROLE_ACTIONS = ["iam:GetRole"]


def _statement(sid: str, actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources, **extra}


def _objects(bucket_arn: str, prefix: str) -> str:
    """Every object under ``prefix`` (the whole bucket for an empty prefix)."""
    prefix = prefix.strip("/")
    return f"{bucket_arn}/{prefix}/*" if prefix else f"{bucket_arn}/*"


def sagemaker_log_resources(partition: str, region: str, account_id: str) -> list[str]:
    """Log groups (and their streams) under ``/aws/sagemaker/``, where SageMaker jobs write."""
    group = f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/sagemaker/*"
    return [group, f"{group}:log-stream:*"]


def job_log_resources(partition: str, region: str, account_id: str) -> list[str]:
    """The training and processing job log groups and their streams: all the runner reads."""
    groups = [f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}" for name in SAGEMAKER_JOB_LOG_GROUPS]
    return [arn for group in groups for arn in (group, f"{group}:log-stream:*")]


def pipeline_arn(partition: str, region: str, account_id: str, pipeline_prefix: str) -> str:
    """Every pipeline named ``<pipeline_prefix>-*``. SageMaker lowercases names in its ARNs, and IAM
    matches ARNs case-sensitively, so the pattern is lowercase too."""
    return f"arn:{partition}:sagemaker:{region}:{account_id}:pipeline/{pipeline_prefix.lower()}-*"


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
            # SageMaker Pipelines starts each step's job as the pipeline's role (this one).
            _statement(
                "RunTrainingSteps",
                TRAINING_STEP_ACTIONS,
                [f"{sagemaker}:training-job/{PIPELINE_JOB_PREFIX}*"],
            ),
            _statement(
                "RunProcessingSteps",
                PROCESSING_STEP_ACTIONS,
                [f"{sagemaker}:processing-job/{PIPELINE_JOB_PREFIX}*"],
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
    tracking_server_arn: str,
    bucket_arn: str,
    kms_key_arn: str,
    repository_arn: str,
    partition: str,
    region: str,
    account_id: str,
    pipeline_prefix: str,
    data_prefix: str,
    outputs_prefix: str,
) -> PolicyDocument:
    """What CI needs: push the image, then ``runner --backend aws``: stage data, run pipelines named
    ``pipeline_prefix-*``, read step logs and results. Exactly the calls in runners/aws/*.py (the
    table in runners/aws/README.md; ``tests/infra/test_runner_grants.py`` holds both to the code).
    """
    pipeline = pipeline_arn(partition, region, account_id, pipeline_prefix)
    data, outputs = (_objects(bucket_arn, prefix) for prefix in (data_prefix, outputs_prefix))
    return {
        "Version": VERSION,
        "Statement": [
            # CreatePipeline/UpdatePipeline name the execution role as the pipeline's RoleArn.
            _statement(
                "PassExecutionRoleToSageMakerOnly",
                ["iam:PassRole"],
                [execution_role_arn],
                Condition={"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
            ),
            # CI builds and pushes the image that `runner --image` names (by digest).
            # GetAuthorizationToken has no resource type; AWS only accepts "*" for it.
            _statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            _statement("PushImage", ECR_PUSH_ACTIONS, [repository_arn]),
            # HeadObject of a missing key answers 404 only with ListBucket (403 without), and the
            # upload skips existing content by that 404.
            _statement("ListBucket", ["s3:ListBucket"], [bucket_arn]),
            # upload_file: PutObject, or multipart (all s3:PutObject) with AbortMultipartUpload on failure.
            _statement("StageData", ["s3:AbortMultipartUpload", "s3:PutObject"], [data]),
            # HeadObject of the staged input; GetObject of verdicts and results.
            _statement("ReadDataAndResults", ["s3:GetObject"], list(dict.fromkeys([data, outputs]))),
            _statement("UseBucketKey", KMS_S3_ACTIONS, [kms_key_arn]),
            _statement("ManagePipelines", PIPELINE_ACTIONS, [pipeline]),
            _statement("FollowExecutions", PIPELINE_EXECUTION_ACTIONS, [f"{pipeline}/execution/*"]),
            _statement("ReadStepLogs", LOG_READ_ACTIONS, job_log_resources(partition, region, account_id)),
            # runner doctor, before every submission: read-only, each on the one resource it checks.
            _statement("CheckImage", PREFLIGHT_IMAGE_ACTIONS, [repository_arn]),
            _statement("CheckTrackingServer", PREFLIGHT_TRACKING_ACTIONS, [tracking_server_arn]),
            _statement("CheckExecutionRole", PREFLIGHT_ROLE_ACTIONS, [execution_role_arn]),
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
