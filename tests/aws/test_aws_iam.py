"""The deploy role against the backend's calls: the checker itself, and the pipeline upsert's probe.

The end-to-end tests record every call the backend makes and check each against the deploy role
(``conftest.aws``); these tests show that check refuses what the role must not allow, and that the
upsert tells "no such pipeline" from any other error.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from fake_stack import ACCOUNT, BUCKET, PIPELINE, REGION, ROLE, stack_outputs
from iam_check import Call, denied, deploy_policy

from runners.aws.runner import _pipeline_exists

KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXECUTION = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}/execution/abc123"
POLICY = deploy_policy(stack_outputs(KEY))
DATA = "data/sha256/" + "0" * 64 + "/data.csv"


@pytest.mark.parametrize(
    "call",
    [
        Call("sagemaker", "DescribePipeline", {"PipelineName": PIPELINE}),
        Call("sagemaker", "CreatePipeline", {"PipelineName": PIPELINE, "RoleArn": ROLE, "Tags": [{"Key": "k"}]}),
        Call("sagemaker", "UpdatePipeline", {"PipelineName": PIPELINE, "RoleArn": ROLE}),
        Call("sagemaker", "StartPipelineExecution", {"PipelineName": PIPELINE}),
        Call("sagemaker", "StopPipelineExecution", {"PipelineExecutionArn": EXECUTION}),
        Call("s3", "HeadObject", {"Bucket": BUCKET, "Key": DATA}),
        Call("s3", "CreateMultipartUpload", {"Bucket": BUCKET, "Key": DATA}),
        Call("s3", "AbortMultipartUpload", {"Bucket": BUCKET, "Key": DATA}),
        Call("s3", "GetObject", {"Bucket": BUCKET, "Key": f"outputs/{PIPELINE}/abc123/predict/x/predictions.csv"}),
        Call("logs", "GetLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "pipelines-a/1"}),
    ],
    ids=lambda call: call.operation,
)
def test_the_deploy_role_allows_the_backends_calls(call: Call) -> None:
    assert denied(POLICY, [call], KEY) == []


@pytest.mark.parametrize(
    ("call", "refused"),
    [
        (Call("sagemaker", "ListPipelines", {"PipelineNamePrefix": PIPELINE}), "sagemaker:ListPipelines on *"),
        (Call("sagemaker", "DescribePipeline", {"PipelineName": "other-team-pipeline"}), "DescribePipeline on"),
        (Call("sagemaker", "CreatePipeline", {"PipelineName": PIPELINE, "RoleArn": ROLE[:-4]}), "iam:PassRole"),
        (Call("s3", "PutObject", {"Bucket": BUCKET, "Key": "outputs/forged.csv"}), "s3:PutObject"),
        (Call("s3", "GetObject", {"Bucket": BUCKET, "Key": "mlflow/1/model.pkl"}), "s3:GetObject"),
        (Call("s3", "DeleteObject", {"Bucket": BUCKET, "Key": DATA}), "not mapped"),
        (Call("logs", "GetLogEvents", {"logGroupName": "/aws/sagemaker/Endpoints/x", "logStreamName": "s"}), "logs:"),
        (Call("sagemaker", "CreateTrainingJob", {"TrainingJobName": "pipelines-x"}), "CreateTrainingJob on *"),
    ],
    ids=lambda value: value.operation if isinstance(value, Call) else "",
)
def test_the_check_refuses_what_the_deploy_role_does_not_grant(call: Call, refused: str) -> None:
    (problem,) = denied(POLICY, [call], KEY)
    assert refused in problem


def stubbed_sagemaker() -> tuple[Any, Stubber]:
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_a_missing_pipeline_is_created_any_other_error_propagates() -> None:
    client, stub = stubbed_sagemaker()
    stub.add_client_error("describe_pipeline", "ResourceNotFound", "Pipeline does not exist", 400)
    stub.add_client_error("describe_pipeline", "AccessDeniedException", "not authorized", 400)
    stub.add_response("describe_pipeline", {"PipelineArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/p"})
    with stub:
        assert _pipeline_exists(client, PIPELINE) is False
        with pytest.raises(ClientError, match="AccessDenied"):  # never "create" on a refusal
            _pipeline_exists(client, PIPELINE)
        assert _pipeline_exists(client, PIPELINE) is True
    stub.assert_no_pending_responses()
