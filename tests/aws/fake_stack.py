"""The AWS stack the tests pretend to have deployed: names and ARNs in moto's account."""

from __future__ import annotations

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account for any fake credentials
BUCKET = "gridcast-test-bucket"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gridcast-test"
IMAGE = f"{REPOSITORY}@sha256:{'a' * 64}"
#: Images the fake registry holds, tag -> digest (IMAGE and the one a re-run test switches to).
PUSHED = {"commit-a": f"sha256:{'a' * 64}", "commit-b": f"sha256:{'b' * 64}"}
TRACKING_SERVER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/gridcast-test"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gridcast-test-execution-role"
PIPELINE = "gridcast-test-transformer-load"


def stack_outputs(kms_key_arn: str | None) -> dict[str, str | None]:
    """What `pulumi stack output --json` prints for the AWS stack (keys from infra/outputs.py)."""
    return {
        "cloud": "aws",
        "region": REGION,
        "name_prefix": "gridcast-test",
        "image_repository": REPOSITORY,
        "compute_target": "ml.m5.large",
        "job_identity": ROLE,
        "mlflow_tracking_uri": TRACKING_SERVER,
        "data_uri": f"s3://{BUCKET}/data/",
        "outputs_uri": f"s3://{BUCKET}/outputs/",
        "account_id": ACCOUNT,
        "bucket": BUCKET,
        "execution_role_arn": ROLE,
        "tracking_server_arn": TRACKING_SERVER,
        "kms_key_arn": kms_key_arn,
        "log_group": "/aws/sagemaker/gridcast-test",
        "deploy_role_arn": f"arn:aws:iam::{ACCOUNT}:role/gridcast-test-deploy-role",
    }
