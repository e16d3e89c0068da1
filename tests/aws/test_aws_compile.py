"""The spec compiles to a SageMaker pipeline definition of the right shape, wired like the spec.

Shape is checked twice: the definition against a JSON-schema subset of the pipeline format
(sagemaker_pipeline_definition.schema.json, sources cited in it), and every step's Arguments,
once its expressions are resolved, against SageMaker's own API model (botocore's request
validator for CreateTrainingJob/CreateProcessingJob, the calls the pipeline makes for it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import jsonschema
import pytest
from botocore.validate import ParamValidator
from fake_stack import IMAGE, ROLE, TRACKING_SERVER, stack_outputs

from runners.aws.compile import IMAGE_ENTRYPOINT, CompileError, compile_definition, result_uri, verdict_uris
from runners.aws.settings import AwsSettings, load_settings
from runners.spec import PipelineSpec, load_spec

SCHEMA = json.loads(Path(__file__).with_name("sagemaker_pipeline_definition.schema.json").read_text())
KMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXECUTION_ID = "a1b2c3d4e5f6"
PIPELINE = "gridcast-test-transformer-load"


@pytest.fixture
def spec() -> PipelineSpec:
    return load_spec()


def settings(kms: str | None = KMS) -> AwsSettings:
    return load_settings(stack_outputs(kms), IMAGE)


def resolve(value: Any, parameters: dict[str, Any], properties: dict[str, str]) -> Any:
    """Evaluate the pipeline expressions the way SageMaker does at run time (sample values)."""
    if isinstance(value, dict) and set(value) == {"Get"}:
        root, _, rest = value["Get"].partition(".")
        return {"Execution": {"PipelineExecutionId": EXECUTION_ID}, "Parameters": parameters, "Steps": properties}[
            root
        ][rest]
    if isinstance(value, dict) and set(value) == {"Std:Join"}:
        join = value["Std:Join"]
        return join["On"].join(str(resolve(v, parameters, properties)) for v in join["Values"])
    if isinstance(value, dict):
        return {k: resolve(v, parameters, properties) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters, properties) for v in value]
    return value


def resolved_steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    parameters = {
        p["Name"]: p.get("DefaultValue", "s3://gridcast-test-bucket/data/sha256/0f/") for p in definition["Parameters"]
    }
    properties = {
        "train.ModelArtifacts.S3ModelArtifacts": "s3://bucket/train-job/output/model/",
        "promote.ProcessingOutputConfig.Outputs['decision'].S3Output.S3Uri": "s3://bucket/promote/decision",
    }
    return {step["Name"]: resolve(step["Arguments"], parameters, properties) for step in definition["Steps"]}


def test_definition_matches_the_pipeline_format_schema(spec: PipelineSpec) -> None:
    jsonschema.validate(compile_definition(spec, settings()), SCHEMA)


def test_schema_subset_rejects_what_sagemaker_would(spec: PipelineSpec) -> None:
    """The schema is not vacuous: a malformed expression and a job name the pipeline must pick both fail."""
    broken = compile_definition(spec, settings())
    broken["Steps"][1]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = {"Get": "Nowhere.data"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    named = compile_definition(spec, settings())
    named["Steps"][0]["Arguments"]["TrainingJobName"] = "my-job"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(named, SCHEMA)


@pytest.mark.parametrize("kms", [KMS, None])
def test_every_step_is_a_valid_sagemaker_job_request(spec: PipelineSpec, kms: str | None) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    operations = {"train": ("CreateTrainingJob", "TrainingJobName"), "promote": ("CreateProcessingJob", "")}
    operations |= {"predict": ("CreateProcessingJob", "")}
    for name, arguments in resolved_steps(compile_definition(spec, settings(kms))).items():
        operation, name_key = operations[name]
        request = arguments | {name_key or "ProcessingJobName": f"pipelines-{EXECUTION_ID}-{name}-x1y2z3"}
        report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()


def test_steps_are_the_spec_commands_with_container_paths(spec: PipelineSpec) -> None:
    steps = resolved_steps(compile_definition(spec, settings()))
    values = spec.parameter_values()
    train = steps["train"]["AlgorithmSpecification"]
    # Every job starts in the image's entrypoint, which drops root after handing over SageMaker's mounts.
    for job in (train, steps["promote"]["AppSpecification"], steps["predict"]["AppSpecification"]):
        assert job["ContainerEntrypoint"][0] == IMAGE_ENTRYPOINT == "/usr/local/bin/gridcast-entrypoint"
    assert [*train["ContainerEntrypoint"][1:], *train["ContainerArguments"]] == spec.step("train").render(
        {"data": "/opt/ml/input/data/data/data.csv"}, {"model": "/opt/ml/model"}, values
    )
    promote = steps["promote"]["AppSpecification"]
    assert [*promote["ContainerEntrypoint"][1:], *promote["ContainerArguments"]] == [
        *spec.step("promote").render(
            {"data": "/opt/ml/processing/input/data/data.csv", "candidate": "/opt/ml/processing/input/candidate"},
            {"decision": "/opt/ml/processing/output/decision"},
            values,
        ),
        *("--rejected-exit-code", "0"),  # a gate rejection must not fail the SageMaker job
    ]
    predict = steps["predict"]["AppSpecification"]
    assert [*predict["ContainerEntrypoint"][1:], *predict["ContainerArguments"]] == spec.step("predict").render(
        {"data": "/opt/ml/processing/input/data/data.csv", "decision": "/opt/ml/processing/input/decision"},
        {"predictions": "/opt/ml/processing/output/predictions"},
        values,
    )


def test_steps_are_wired_by_step_properties_in_spec_order(spec: PipelineSpec) -> None:
    definition = compile_definition(spec, settings())
    text = json.dumps(definition)
    declared = {p["Name"] for p in definition["Parameters"]}
    assert set(re.findall(r'"Parameters\.(\w+)"', text)) == declared == {"data", *spec.parameters}
    names = [step["Name"] for step in definition["Steps"]]
    for position, step in enumerate(definition["Steps"]):  # a step reads only steps before it
        assert set(re.findall(r'"Steps\.(\w+)\.', json.dumps(step))) <= set(names[:position])
    promote, predict = definition["Steps"][1]["Arguments"], definition["Steps"][2]["Arguments"]
    sources = {i["InputName"]: i["S3Input"]["S3Uri"] for i in promote["ProcessingInputs"]}
    assert sources == {
        "data": {"Get": "Parameters.data"},
        "candidate": {"Get": "Steps.train.ModelArtifacts.S3ModelArtifacts"},
    }
    sources = {i["InputName"]: i["S3Input"]["S3Uri"] for i in predict["ProcessingInputs"]}
    assert sources["decision"] == {"Get": "Steps.promote.ProcessingOutputConfig.Outputs['decision'].S3Output.S3Uri"}
    # The model folder must reach promote as files, not as model.tar.gz.
    assert definition["Steps"][0]["Arguments"]["OutputDataConfig"]["CompressionType"] == "NONE"


def test_jobs_get_role_image_instances_tracking_server_and_run_id(spec: PipelineSpec) -> None:
    steps = resolved_steps(compile_definition(spec, settings()))
    for name, arguments in steps.items():
        resources = spec.step(name).resources["aws"]
        cluster = arguments.get("ResourceConfig") or arguments["ProcessingResources"]["ClusterConfig"]
        assert (cluster["InstanceType"], cluster["InstanceCount"]) == (resources["instance_type"], 1)
        assert arguments["StoppingCondition"] == {"MaxRuntimeInSeconds": resources["max_runtime_s"]}
        assert arguments["RoleArn"] == ROLE
        assert arguments["Environment"]["MLFLOW_TRACKING_URI"] == TRACKING_SERVER
        assert arguments["Environment"]["GRIDCAST_PIPELINE_RUN_ID"] == EXECUTION_ID
    assert steps["train"]["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert {steps[s]["AppSpecification"]["ImageUri"] for s in ("promote", "predict")} == {IMAGE}
    override = compile_definition(spec, settings(), tracking_uri="https://mlflow.internal")
    assert override["Steps"][2]["Arguments"]["Environment"]["MLFLOW_TRACKING_URI"] == "https://mlflow.internal"


def test_outputs_are_encrypted_with_the_stack_key_when_it_has_one(spec: PipelineSpec) -> None:
    steps = resolved_steps(compile_definition(spec, settings()))
    assert steps["train"]["OutputDataConfig"]["KmsKeyId"] == KMS
    assert steps["train"]["ResourceConfig"]["VolumeKmsKeyId"] == KMS
    assert steps["predict"]["ProcessingOutputConfig"]["KmsKeyId"] == KMS
    assert steps["predict"]["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS
    plain = json.dumps(compile_definition(spec, settings(None)))
    assert "KmsKeyId" not in plain


def test_runner_reads_results_and_verdicts_where_the_definition_writes_them(spec: PipelineSpec) -> None:
    steps = resolved_steps(compile_definition(spec, settings()))
    written = {
        (step, output["OutputName"]): output["S3Output"]["S3Uri"]
        for step in ("promote", "predict")
        for output in steps[step]["ProcessingOutputConfig"]["Outputs"]
    }
    assert result_uri(spec, settings(), PIPELINE, EXECUTION_ID) == written[("predict", "predictions")]
    assert verdict_uris(spec, settings(), PIPELINE, EXECUTION_ID) == {"promote": written[("promote", "decision")]}
    assert written[("predict", "predictions")] == (
        f"s3://gridcast-test-bucket/outputs/{PIPELINE}/{EXECUTION_ID}/predict/predictions"
    )


def _variant(spec: PipelineSpec, step: str, **changes: Any) -> PipelineSpec:
    data = spec.model_dump()
    data["steps"] = [s | changes if s["name"] == step else s for s in data["steps"]]
    return PipelineSpec.model_validate(data)


@pytest.mark.parametrize(
    ("step", "changes", "message"),
    [
        (
            "train",
            {"outputs": {"model": {"type": "mlflow_model"}, "extra": {"type": "uri_folder"}}},
            "step 'train': a training job has exactly one output (/opt/ml/model), the spec declares 2",
        ),
        (
            "promote",
            {"resources": {"aws": {"job": "processing", "instance_count": 1}}},
            "step 'promote' has no resources.aws.instance_type and the stack no compute_target",
        ),
        (
            "promote",
            {"resources": {"aws": {"job": "transform", "instance_type": "ml.m5.large"}}},
            "step 'promote': resources.aws.job must be 'training' or 'processing', not 'transform'",
        ),
        (
            "predict",
            {"resources": {"aws": {"job": "training", "instance_type": "ml.m5.large"}}},
            "result 'steps.predict.outputs.predictions' must be the output of a processing step",
        ),
    ],
)
def test_what_a_sagemaker_pipeline_cannot_express_is_refused(
    spec: PipelineSpec, step: str, changes: dict[str, Any], message: str
) -> None:
    without_stack_size = settings().model_copy(update={"compute_target": None})
    with pytest.raises(CompileError) as caught:
        compile_definition(_variant(spec, step, **changes), without_stack_size)
    assert str(caught.value) == message


def test_the_stacks_compute_size_sizes_every_job(spec: PipelineSpec) -> None:
    """``gridcast:computeSize`` -> the stack output compute_target -> every job's instance type."""
    sized = load_settings(stack_outputs(KMS) | {"compute_target": "ml.c5.2xlarge"}, IMAGE)
    for arguments in resolved_steps(compile_definition(spec, sized)).values():
        cluster = arguments.get("ResourceConfig") or arguments["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == "ml.c5.2xlarge"
    unsized = settings().model_copy(update={"compute_target": None})  # other deployments: the spec's size
    for name, arguments in resolved_steps(compile_definition(spec, unsized)).items():
        cluster = arguments.get("ResourceConfig") or arguments["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == spec.step(name).resources["aws"]["instance_type"]
