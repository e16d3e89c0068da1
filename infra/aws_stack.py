"""``SageMakerStack``: the AWS twin of ``AzureMlStack`` with the same outputs and least privilege.

Two roles carry all access: the **execution role** SageMaker pipelines and their jobs run as (it
is the pipeline's ``RoleArn``, so it also starts the step jobs), and the **deploy role** GitHub
Actions assumes through OIDC to push images and run ``runner --backend aws`` (it may pass only the
execution role, and only to SageMaker). A third, the **MLflow role**, lets the
tracking server reach its artifact prefix. Policy documents come from :mod:`infra.aws_policies`
as pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from infra import aws_policies, github_oidc
from infra.outputs import StackOutputs
from infra.tags import merge_tags

#: Key prefixes of ``data_uri`` (staged inputs) and ``outputs_uri`` (step outputs) in the bucket; the
#: deploy role writes only the first and reads only these two (not, e.g., MLflow's artifacts).
DATA_PREFIX = "data"
OUTPUTS_PREFIX = "outputs"
#: MLflow version of the SageMaker tracking server (tests/infra holds it to the locked client's major).
SAGEMAKER_MLFLOW_VERSION = "3.0"


@dataclass(frozen=True)
class SageMakerStackArgs:
    """Inputs of :class:`SageMakerStack`; defaults are the secure choice."""

    region: str
    tags: Mapping[str, str]
    github_repository: str
    github_environment: str
    #: SageMaker instance type jobs request; exported as ``compute_target`` and ``compute_size``.
    instance_type: str = "ml.m5.xlarge"
    log_retention_days: int = 30
    kms_deletion_window_days: int = 30
    mlflow_server_size: str = "Small"
    #: The tracking server's MLflow line: the client's major version (requirements/*.lock pins mlflow 3.x);
    #: 3.0 is the newest 3.x line SageMaker documents (docs.aws.amazon.com/sagemaker/latest/dg/mlflow.html).
    mlflow_version: str = SAGEMAKER_MLFLOW_VERSION
    #: An account holds one GitHub OIDC provider; pass its ARN to reuse it instead of creating one.
    github_oidc_provider_arn: str = ""
    keep_images: int = 30
    artifact_prefix: str = "mlflow"


class _Where(TypedDict):
    """Partition, region and account: the parts of every ARN the policies name."""

    partition: pulumi.Output[str]
    region: str
    account_id: pulumi.Output[str]


def render_json(build: Callable[..., dict[str, Any]], **inputs: pulumi.Input[str]) -> pulumi.Output[str]:
    """``json.dumps(build(**resolved inputs))``: apply only renders text, it never creates resources."""
    return pulumi.Output.all(**inputs).apply(lambda values: json.dumps(build(**values), sort_keys=True))


class SageMakerStack(pulumi.ComponentResource):
    """KMS key, bucket, registry, logs, MLflow tracking server, execution role and deploy role."""

    outputs: StackOutputs

    def __init__(self, name: str, args: SageMakerStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gridcast:aws:SageMakerStack", name, None, opts)
        tags = merge_tags(args.tags, {"component": "sagemaker"})
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        where = _Where(partition=partition, region=args.region, account_id=account_id)

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: data, images and artifacts",
            enable_key_rotation=True,
            deletion_window_in_days=args.kms_deletion_window_days,
            tags=tags,
            opts=child,
        )
        self.key_alias = aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/{name}", target_key_id=self.key.key_id, opts=child
        )

        self.bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=False, tags=tags, opts=child)
        self.bucket_versioning = aws.s3.BucketVersioning(
            f"{name}-bucket-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        self.bucket_encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-encryption",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": self.key.arn,
                    },
                    # A bucket key cuts KMS calls (and cost) for every object written.
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        self.bucket_public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-bucket-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.bucket_ownership = aws.s3.BucketOwnershipControls(
            f"{name}-bucket-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=self.bucket.id,
            policy=render_json(aws_policies.tls_only_bucket_policy, bucket_arn=self.bucket.arn),
            # S3 rejects policy writes that race the public-access block.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket_public_access_block]),
        )

        self.repository = aws.ecr.Repository(
            f"{name}-images",
            name=name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=self.key.arn)
            ],
            force_delete=False,
            tags=tags,
            opts=child,
        )
        self.repository_lifecycle = aws.ecr.LifecyclePolicy(
            f"{name}-images-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(aws_policies.ecr_lifecycle_policy(keep_images=args.keep_images), sort_keys=True),
            opts=child,
        )

        # SageMaker writes job logs to /aws/sagemaker/TrainingJobs etc., which the service creates;
        # this group holds the runner's own pipeline logs, inside the same /aws/sagemaker/ scope.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/sagemaker/{name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )

        self.mlflow_role = aws.iam.Role(
            f"{name}-mlflow-role",
            description=f"{name}: SageMaker MLflow tracking server, artifact store access",
            assume_role_policy=render_json(aws_policies.sagemaker_trust_policy, account_id=account_id),
            tags=tags,
            opts=child,
        )
        self.mlflow_role_policy = aws.iam.RolePolicy(
            f"{name}-mlflow-role-policy",
            role=self.mlflow_role.id,
            policy=render_json(
                lambda bucket_arn, kms_key_arn: aws_policies.mlflow_server_role_policy(
                    bucket_arn=bucket_arn, kms_key_arn=kms_key_arn, artifact_prefix=args.artifact_prefix
                ),
                bucket_arn=self.bucket.arn,
                kms_key_arn=self.key.arn,
            ),
            opts=child,
        )
        self.tracking_server = aws.sagemaker.MlflowTrackingServer(
            f"{name}-mlflow",
            tracking_server_name=name,
            artifact_store_uri=pulumi.Output.concat("s3://", self.bucket.bucket, "/", args.artifact_prefix),
            role_arn=self.mlflow_role.arn,
            tracking_server_size=args.mlflow_server_size,
            # Pinned: AWS asks for client and server versions to match, and an unpinned server takes
            # whatever default SageMaker has today. `runner doctor` compares it with the client's.
            mlflow_version=args.mlflow_version,
            # Models reach the registry only through the project's MLflow gate, never automatically.
            automatic_model_registration=False,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.mlflow_role_policy]),
        )

        self.execution_role = aws.iam.Role(
            f"{name}-execution-role",
            description=f"{name}: role SageMaker pipelines and their jobs run as",
            assume_role_policy=render_json(aws_policies.sagemaker_trust_policy, account_id=account_id),
            tags=tags,
            opts=child,
        )
        self.execution_role_policy = aws.iam.RolePolicy(
            f"{name}-execution-role-policy",
            role=self.execution_role.id,
            policy=render_json(
                aws_policies.execution_role_policy,
                execution_role_arn=self.execution_role.arn,
                bucket_arn=self.bucket.arn,
                kms_key_arn=self.key.arn,
                repository_arn=self.repository.arn,
                tracking_server_arn=self.tracking_server.arn,
                **where,
            ),
            opts=child,
        )

        if args.github_oidc_provider_arn:
            self.github_oidc_provider: aws.iam.OpenIdConnectProvider | None = None
            provider_arn: pulumi.Input[str] = args.github_oidc_provider_arn
        else:
            self.github_oidc_provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=github_oidc.ISSUER,
                client_id_lists=[github_oidc.AWS_AUDIENCE],
                tags=tags,
                opts=child,
            )
            provider_arn = self.github_oidc_provider.arn
        self.deploy_role = aws.iam.Role(
            f"{name}-deploy-role",
            description=f"{name}: GitHub Actions ({args.github_repository}, {args.github_environment})",
            assume_role_policy=render_json(
                lambda provider_arn: aws_policies.github_oidc_trust_policy(
                    provider_arn, args.github_repository, args.github_environment
                ),
                provider_arn=provider_arn,
            ),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        self.deploy_role_policy = aws.iam.RolePolicy(
            f"{name}-deploy-role-policy",
            role=self.deploy_role.id,
            policy=render_json(
                aws_policies.deploy_role_policy,
                execution_role_arn=self.execution_role.arn,
                tracking_server_arn=self.tracking_server.arn,
                bucket_arn=self.bucket.arn,
                kms_key_arn=self.key.arn,
                repository_arn=self.repository.arn,
                pipeline_prefix=name,
                data_prefix=DATA_PREFIX,
                outputs_prefix=OUTPUTS_PREFIX,
                **where,
            ),
            opts=child,
        )

        self.outputs = StackOutputs(
            cloud="aws",
            region=args.region,
            name_prefix=name,
            image_repository=self.repository.repository_url,
            compute_target=args.instance_type,
            compute_size=args.instance_type,
            job_identity=self.execution_role.arn,
            mlflow_tracking_uri=self.tracking_server.arn,
            data_uri=pulumi.Output.concat("s3://", self.bucket.bucket, f"/{DATA_PREFIX}/"),
            outputs_uri=pulumi.Output.concat("s3://", self.bucket.bucket, f"/{OUTPUTS_PREFIX}/"),
            extras={
                "account_id": account_id,
                "bucket": self.bucket.bucket,
                "execution_role_arn": self.execution_role.arn,
                "tracking_server_arn": self.tracking_server.arn,
                "kms_key_arn": self.key.arn,
                "log_group": self.log_group.name,
                "deploy_role_arn": self.deploy_role.arn,
            },
        )
        self.register_outputs(self.outputs.as_dict())
