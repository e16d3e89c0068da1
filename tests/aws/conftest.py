"""Fixtures for the aws backend: moto's server on loopback, a stand-in pipeline engine, a fake stack.

No real credentials anywhere: every test runs with fake ones in the environment and the endpoint
pointed at 127.0.0.1, so a request that escaped to AWS would be refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import iam_check
import pytest
import requests
from fake_stack import ACCOUNT, BUCKET, PUSHED, REGION, REPOSITORY, ROLE, TRACKING_SERVER, stack_outputs
from moto.server import ThreadedMotoServer
from sagemaker_loopback import PipelineEngine, install, uninstall

from infra import aws_policies
from infra.aws_stack import SAGEMAKER_MLFLOW_VERSION
from runners.aws.clients import AwsClients


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake keys for botocore to sign with; no profile, config file or instance metadata is read."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's HTTP server on a free loopback port, taught the pipeline operations it lacks."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def _engine(moto_endpoint: str) -> Iterator[PipelineEngine]:
    engine = PipelineEngine(moto_endpoint, REGION)
    saved = install(engine)
    yield engine
    engine.reset(Path())
    uninstall(saved)


@pytest.fixture
def engine(_engine: PipelineEngine, tmp_path: Path) -> PipelineEngine:
    _engine.reset(tmp_path / "engine")
    return _engine


@pytest.fixture
def aws(moto_endpoint: str, engine: PipelineEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A fresh moto account holding what the AWS stack would have made: bucket (versioned), KMS key.

    ``aws["calls"]`` records every API call the backend's own clients make; when the test ends, each
    must be one the stack's deploy role allows (``iam_check``), since moto enforces no IAM.
    """
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = boto3.client("kms", region_name=REGION, endpoint_url=moto_endpoint).create_key()["KeyMetadata"]["Arn"]
    deployed(moto_endpoint, engine)
    clients = {
        name: boto3.client(name, region_name=REGION, endpoint_url=moto_endpoint)
        for name in ("sagemaker", "logs", "ecr", "iam")
    }
    calls: list[iam_check.Call] = []
    make_client = AwsClients._client

    def recording_client(self: AwsClients, service: str) -> Any:
        client = make_client(self, service)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append(iam_check.Call(service, model.name, dict(params)))

        client.meta.events.register("provide-client-params", record)
        return client

    monkeypatch.setattr(AwsClients, "_client", recording_client)
    yield {"endpoint": moto_endpoint, "s3": s3, "kms_key_arn": key, "calls": calls, **clients}
    denied = iam_check.denied(iam_check.deploy_policy(stack_outputs(key)), calls, key)
    assert not denied, "the deploy role would refuse:\n" + "\n".join(dict.fromkeys(denied))


def deployed(endpoint: str, engine: PipelineEngine) -> None:
    """What else `pulumi up` and the image build leave behind: the execution role, the repository with
    the test images pushed (by digest), and the tracking server at the pinned MLflow version."""
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    trust = aws_policies.sagemaker_trust_policy(ACCOUNT)
    iam.create_role(RoleName=ROLE.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(trust))
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=endpoint)
    name = REPOSITORY.split("/", 1)[1]
    ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    for tag, digest in PUSHED.items():
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"digest": digest}, "layers": []}  # fmt: skip
        ecr.put_image(repositoryName=name, imageManifest=json.dumps(manifest), imageTag=tag, imageDigest=digest)
    engine.add_tracking_server(TRACKING_SERVER, SAGEMAKER_MLFLOW_VERSION)


@pytest.fixture(name="stack_outputs")
def stack_outputs_fixture(aws: dict[str, Any]) -> dict[str, Any]:
    return stack_outputs(aws["kms_key_arn"])


@pytest.fixture
def stack_file(stack_outputs: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "aws-stack.json"
    path.write_text(json.dumps(stack_outputs))
    return path
