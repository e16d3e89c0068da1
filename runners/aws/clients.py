"""The one place the AWS backend makes boto3 clients, so one endpoint override reaches every call.

It also holds the read-only probes ``runner doctor`` makes (``AwsClients.probe_*``); the
submission's own calls live with the code that needs them (runner, staging, logs).

Credentials come from the default chain (OIDC web identity in CI, the instance or execution role in
AWS, a profile on a laptop); nothing here reads or stores a secret. Throttling and transient errors
are retried by botocore's standard retry mode, with its capped exponential backoff.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

RETRIES = {"mode": "standard", "max_attempts": 8}


class AwsClients:
    """Lazily made S3, SageMaker and CloudWatch Logs clients for one region (and optional endpoint)."""

    def __init__(self, region: str | None, endpoint_url: str | None = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url

    def _client(self, service: str) -> Any:
        config = Config(retries=RETRIES, user_agent_extra="gridcast-runner")  # type: ignore[arg-type]
        if self.endpoint_url and service == "s3":
            # A loopback or private endpoint has no per-bucket DNS names.
            config = config.merge(Config(s3={"addressing_style": "path"}))
        session = boto3.session.Session(region_name=self.region)
        return session.client(service, endpoint_url=self.endpoint_url, config=config)

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def sagemaker(self) -> Any:
        return self._client("sagemaker")

    @cached_property
    def logs(self) -> Any:
        return self._client("logs")

    @cached_property
    def sts(self) -> Any:
        return self._client("sts")

    @cached_property
    def ecr(self) -> Any:
        return self._client("ecr")

    @cached_property
    def iam(self) -> Any:
        return self._client("iam")

    # -- read-only probes for ``runner doctor`` ------------------------------------------------------

    def probe_caller(self) -> dict[str, Any]:
        """Who the credentials are (``Account``, ``Arn``); needs no IAM grant, only valid credentials."""
        return dict(self.sts.get_caller_identity())

    def probe_bucket(self, bucket: str) -> None:
        """HeadBucket: reachable, and the caller may list it (``s3:ListBucket``)."""
        self.s3.head_bucket(Bucket=bucket)

    def probe_tracking_server(self, name: str) -> dict[str, Any]:
        """DescribeMlflowTrackingServer: its ``MlflowVersion``, ``TrackingServerStatus`` and ``IsActive``."""
        return dict(self.sagemaker.describe_mlflow_tracking_server(TrackingServerName=name))

    def probe_image(self, registry_id: str, repository: str, digest: str) -> None:
        """DescribeImages by digest; raises ``ImageNotFoundException`` when the registry does not hold it."""
        self.ecr.describe_images(registryId=registry_id, repositoryName=repository, imageIds=[{"imageDigest": digest}])

    def probe_role(self, name: str) -> dict[str, Any]:
        """GetRole: the role and its trust policy (``AssumeRolePolicyDocument``)."""
        return dict(self.iam.get_role(RoleName=name)["Role"])
