"""The fleet pipeline compiles to the definition the official SageMaker Python SDK generates for
the same steps (``sdk_reference/fleet_definition.json``, made by ``generate_fleet_definition.py``
with sagemaker 2.257.7 in a scratch venv; the SDK is not a project dependency).

Two things the SDK adds are left out on purpose, both the service's defaults when absent:
``PipelineExperimentConfig`` (experiment = pipeline name, trial = execution id) and
``S3CompressionType: "None"`` on each processing input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fake_stack import IMAGE, stack_outputs

from runners.aws.compile import compile_definition
from runners.aws.settings import load_settings
from runners.spec import FLEET_SPEC, load_spec

REFERENCE = Path(__file__).with_name("sdk_reference") / "fleet_definition.json"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SDK_DEFAULTS = {"S3CompressionType": "None"}


def without_sdk_defaults(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: without_sdk_defaults(v)
            for k, v in value.items()
            if k != "PipelineExperimentConfig" and SDK_DEFAULTS.get(k, object()) != v
        }
    if isinstance(value, list):
        return [without_sdk_defaults(v) for v in value]
    return value


def test_fleet_definition_is_what_the_sagemaker_sdk_generates() -> None:
    unsized = stack_outputs(KMS) | {"compute_target": None}  # the spec's instance types, as in the reference
    ours = compile_definition(load_spec(FLEET_SPEC), load_settings(unsized, IMAGE))
    reference = json.loads(REFERENCE.read_text())

    assert ours == without_sdk_defaults(reference)
    fleet = reference["Steps"][0]["Arguments"]
    assert fleet["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 4  # the SDK's instance_count
    assert fleet["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] == {"Get": "Parameters.data_distribution"}


def test_with_shards_changes_the_instance_count_and_the_count_each_instance_is_told() -> None:
    spec = load_spec(FLEET_SPEC).with_shards(25)
    definition = compile_definition(spec, load_settings(stack_outputs(KMS), IMAGE))
    fleet = definition["Steps"][0]["Arguments"]
    assert fleet["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 25
    assert fleet["AppSpecification"]["ContainerArguments"][-4:] == ["--shard-index", "auto", "--shard-count", "25"]
    assert definition["Steps"][1]["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
