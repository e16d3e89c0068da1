"""What the AWS backend needs to know, read from the AWS stack's outputs plus ``--image``.

Checked once, before any AWS call, so a missing or mistyped key fails with its name instead of as
an AccessDenied or a ValidationException from SageMaker halfway through a submission.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from runners.base import BackendError

DIGEST = re.compile(r"^(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}$")
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/\S+$")
PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
HOW_TO_PASS = "pass --stack NAME or --stack-outputs FILE (from `pulumi stack output --json`)"


class AwsSettingsError(BackendError, ValueError):
    """The stack outputs or flags cannot drive a SageMaker submission; the message names each bad key."""


class AwsSettings(BaseModel):
    """The keys of the AWS stack's outputs a submission uses (see ``infra/outputs.py``), plus ``--image``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cloud: Literal["aws"] = "aws"
    region: str
    name_prefix: str
    bucket: str
    execution_role_arn: str
    """Role the pipeline and its jobs run as (S3 data, ECR pull, MLflow, CloudWatch Logs)."""
    mlflow_tracking_uri: str
    """The SageMaker managed MLflow tracking server ARN; the containers resolve it with sagemaker-mlflow."""
    data_uri: str
    """``s3://<bucket>/<prefix>``: content-addressed input data goes below it."""
    outputs_uri: str
    """``s3://<bucket>/<prefix>``: every execution writes below ``<prefix>/<pipeline>/<execution id>/``."""
    compute_target: str | None = None
    """The stack's instance type (``gridcast:computeSize``): every job runs on it; the spec's is the fallback."""
    kms_key_arn: str | None = None
    """When set, the upload and every job output and volume are encrypted with this key."""
    image_repository: str | None = None
    image: str
    """Container image every step runs in, pinned by digest."""

    @field_validator("data_uri", "outputs_uri")
    @classmethod
    def _s3_uri(cls, value: str) -> str:
        if not S3_URI.match(value):
            raise ValueError(f"{value!r} is not an s3://BUCKET/PREFIX URI")
        return value

    @field_validator("execution_role_arn")
    @classmethod
    def _role_arn(cls, value: str) -> str:
        if not ROLE_ARN.match(value):
            raise ValueError(f"{value!r} is not an IAM role ARN")
        return value

    @model_validator(mode="after")
    def _in_stack_bucket(self) -> AwsSettings:
        """The execution role may read and write only the stack's bucket, so refuse any other early."""
        for key in ("data_uri", "outputs_uri"):
            bucket = S3_URI.match(getattr(self, key)).group("bucket")  # type: ignore[union-attr]
            if bucket != self.bucket:
                raise ValueError(f"{key} {getattr(self, key)!r} is not in the stack's bucket {self.bucket!r}")
        return self

    def prefix(self, key: str) -> str:
        """The key prefix (no bucket, no trailing slash) of ``data_uri`` or ``outputs_uri``."""
        return (S3_URI.match(getattr(self, key)).group("key") or "").strip("/")  # type: ignore[union-attr]

    @field_validator("image")
    @classmethod
    def _pinned_by_digest(cls, value: str) -> str:
        if not DIGEST.match(value):
            raise ValueError(f"{value!r} is not pinned by digest; pass REPOSITORY@sha256:<64 hex>")
        return value

    @model_validator(mode="after")
    def _image_from_stack_repository(self) -> AwsSettings:
        """The execution role may pull only from the stack's repository, so refuse any other image early."""
        repository = DIGEST.match(self.image).group("repository")  # type: ignore[union-attr]
        if self.image_repository and repository.split(":")[0] != self.image_repository:
            raise ValueError(f"image {self.image!r} is not in the stack's repository {self.image_repository!r}")
        return self


def load_settings(stack_outputs: dict[str, Any], image: str | None) -> AwsSettings:
    """Validate the stack outputs and image; raise :class:`AwsSettingsError` naming every bad key."""
    if not stack_outputs:
        raise AwsSettingsError(f"the aws backend needs the AWS stack's outputs: {HOW_TO_PASS}")
    if not image:
        raise AwsSettingsError("the aws backend needs --image REPOSITORY@sha256:<digest> (the image every step runs)")
    try:
        return AwsSettings.model_validate({**stack_outputs, "image": image})
    except ValidationError as exc:
        raise AwsSettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"missing key {key!r}")
        elif key:
            problems.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(error["msg"].removeprefix("Value error, "))
    return f"aws stack outputs: {'; '.join(problems)}; {HOW_TO_PASS}"
