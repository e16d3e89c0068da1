"""The aws backend refuses incomplete or inconsistent settings up front, naming the key at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_stack import BUCKET, IMAGE, REPOSITORY, stack_outputs
from typer.testing import CliRunner

from runners import cli
from runners.aws.settings import AwsSettingsError, load_settings

HOW = "pass --stack NAME or --stack-outputs FILE (from `pulumi stack output --json`)"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def outputs(**changes: Any) -> dict[str, Any]:
    values = stack_outputs(KMS) | changes
    return {k: v for k, v in values.items() if v is not None}


def test_reads_the_stack_outputs_it_needs() -> None:
    settings = load_settings(outputs(), IMAGE)
    assert (settings.bucket, settings.prefix("data_uri"), settings.prefix("outputs_uri")) == (BUCKET, "data", "outputs")
    assert (settings.region, settings.kms_key_arn, settings.image) == ("eu-west-1", KMS, IMAGE)


@pytest.mark.parametrize(
    ("stack", "image", "message"),
    [
        ({}, IMAGE, f"the aws backend needs the AWS stack's outputs: {HOW}"),
        (outputs(), None, "the aws backend needs --image REPOSITORY@sha256:<digest> (the image every step runs)"),
        (
            outputs(bucket=None, execution_role_arn=None),
            IMAGE,
            f"aws stack outputs: missing key 'bucket'; missing key 'execution_role_arn'; {HOW}",
        ),
        (
            outputs(),
            f"{REPOSITORY}:latest",
            f"aws stack outputs: image: '{REPOSITORY}:latest' is not pinned by digest; "
            f"pass REPOSITORY@sha256:<64 hex>; {HOW}",
        ),
        (
            outputs(),
            f"docker.io/library/python@sha256:{'c' * 64}",
            f"aws stack outputs: image 'docker.io/library/python@sha256:{'c' * 64}' is not in the stack's "
            f"repository '{REPOSITORY}'; {HOW}",
        ),
        (
            outputs(data_uri="s3://someone-elses-bucket/data/"),
            IMAGE,
            f"aws stack outputs: data_uri 's3://someone-elses-bucket/data/' is not in the stack's bucket "
            f"'{BUCKET}'; {HOW}",
        ),
        (
            outputs(outputs_uri="https://example.com/outputs"),
            IMAGE,
            f"aws stack outputs: outputs_uri: 'https://example.com/outputs' is not an s3://BUCKET/PREFIX URI; {HOW}",
        ),
        (
            outputs(execution_role_arn="gridcast-role"),
            IMAGE,
            f"aws stack outputs: execution_role_arn: 'gridcast-role' is not an IAM role ARN; {HOW}",
        ),
        (
            outputs(cloud="azure"),
            IMAGE,
            f"aws stack outputs: cloud: Input should be 'aws'; {HOW}",
        ),
    ],
)
def test_bad_settings_fail_naming_the_key(stack: dict[str, Any], image: str | None, message: str) -> None:
    with pytest.raises(AwsSettingsError) as caught:
        load_settings(stack, image)
    assert str(caught.value) == message


def test_the_cli_stops_before_any_call_when_a_key_is_missing(tmp_path: Path, synthetic_csv: Path, state: Path) -> None:
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(json.dumps(outputs(mlflow_tracking_uri=None)))
    args = ["--backend", "aws", "--data", str(synthetic_csv), "--stack-outputs", str(stack_file), "--image", IMAGE]

    result = CliRunner().invoke(cli.app, [*args, "--endpoint-url", "http://127.0.0.1:9"])

    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert f"FAIL stack outputs: aws stack outputs: missing key 'mlflow_tracking_uri'; {HOW}" in flat
    assert "error: 1 preflight check(s) failed; nothing was submitted" in flat
    assert "Traceback" not in result.output
    assert not (state / "handles").exists()
