"""Generate the SageMaker Python SDK's own definition of the fleet pipeline (the reference
``fleet_definition.json`` the compiler is compared with in ``test_aws_fleet_sdk.py``).

Not part of the project (the SDK is not a dependency): run it in a scratch venv, no AWS access needed::

    python3 -m venv /tmp/smvenv && /tmp/smvenv/bin/pip install "sagemaker==2.257.7"
    /tmp/smvenv/bin/python tests/aws/sdk_reference/generate_fleet_definition.py

It builds the same two steps the compiler makes from ``runners/fleet.yaml`` (stack values of
``tests/aws/fake_stack.py``, KMS key ``KMS``): a ``Processor`` with ``instance_count=4`` whose data
input's ``s3_data_distribution_type`` is a pipeline parameter, then the merge reading its output.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.steps import ProcessingStep

REGION, ACCOUNT = "eu-west-1", "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gridcast-test@sha256:{'a' * 64}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gridcast-test-execution-role"
TRACKING = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/gridcast-test"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT = "s3://gridcast-test-bucket/outputs/gridcast-test-transformer-fleet"
IN, OUT = "/opt/ml/processing/input", "/opt/ml/processing/output"

session = PipelineSession(
    boto_session=boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"),
    default_bucket="gridcast-test-bucket",
)
data, limits = ParameterString("data"), ParameterString("limits")
horizon = ParameterFloat("horizon_years", default_value=5.0)
default_limit = ParameterFloat("default_limit_kw", default_value=0)
jobs = ParameterInteger("jobs", default_value=0)
fleet_name = ParameterString("fleet", default_value="fleet")
distribution = ParameterString("data_distribution", default_value="ShardedByS3Key")
environment = {
    "MLFLOW_TRACKING_URI": TRACKING,
    "GRIDCAST_PIPELINE_RUN_ID": ExecutionVariables.PIPELINE_EXECUTION_ID,
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def processor(instance_type: str, count: int, runtime: int) -> Processor:
    return Processor(
        role=ROLE,
        image_uri=IMAGE,
        instance_count=count,
        instance_type=instance_type,
        entrypoint=["/usr/local/bin/gridcast-entrypoint", "python"],
        volume_size_in_gb=30,
        volume_kms_key=KMS,
        output_kms_key=KMS,
        max_runtime_in_seconds=runtime,
        env=environment,
        sagemaker_session=session,
    )


def output(step: str, name: str) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        source=f"{OUT}/{name}",
        destination=Join(on="/", values=[ROOT, ExecutionVariables.PIPELINE_EXECUTION_ID, step, name]),
    )


fleet = ProcessingStep(
    name="fleet",
    description="Forecast transformer fleet (sharded)",
    step_args=processor("ml.m5.xlarge", 4, 3600).run(
        inputs=[
            ProcessingInput(
                source=data, destination=f"{IN}/data", input_name="data", s3_data_distribution_type=distribution
            ),
            ProcessingInput(source=limits, destination=f"{IN}/limits", input_name="limits"),
        ],
        outputs=[output("fleet", "parts")],
        arguments=[
            *("-m", "ml.steps", "fleet", "--data", f"{IN}/data", "--limits", f"{IN}/limits/limits.csv"),
            *("--out", f"{OUT}/parts", "--horizon-years", horizon.to_string()),
            *("--default-limit-kw", default_limit.to_string(), "--jobs", jobs.to_string()),
            *("--fleet", fleet_name),
            *("--shard-index", "auto", "--shard-count", "4"),
        ],
    ),
)
merge = ProcessingStep(
    name="fleet-merge",
    description="Merge fleet shards into one ranking",
    step_args=processor("ml.m5.large", 1, 1800).run(
        inputs=[
            ProcessingInput(
                source=fleet.properties.ProcessingOutputConfig.Outputs["parts"].S3Output.S3Uri,
                destination=f"{IN}/parts",
                input_name="parts",
            )
        ],
        outputs=[output("fleet-merge", "report")],
        arguments=["-m", "ml.steps", "fleet-merge", "--parts", f"{IN}/parts", "--out", f"{OUT}/report"],
    ),
)
pipeline = Pipeline(
    name="gridcast-test-transformer-fleet",
    parameters=[data, limits, horizon, default_limit, jobs, fleet_name, distribution],
    steps=[fleet, merge],
    sagemaker_session=session,
)
# The SDK prints its config notes on stdout, so the definition goes to a file.
target = Path(__file__).with_name("fleet_definition.json")
target.write_text(json.dumps(json.loads(pipeline.definition()), indent=2, sort_keys=True) + "\n")
