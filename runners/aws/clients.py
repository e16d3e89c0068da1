"""The one place the AWS backend makes boto3 clients, so one endpoint override reaches every call.

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
