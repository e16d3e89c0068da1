"""Compile the pipeline spec into a SageMaker Pipeline definition (JSON, schema version 2020-12-01).

Pure functions, no AWS calls: the same dict is printed by ``--dry-run``, checked by the tests and
sent to CreatePipeline/UpdatePipeline. Each step's ``Arguments`` is the request body of the job it
starts (CreateTrainingJob or CreateProcessingJob, without the job name, which SageMaker picks),
with pipeline expressions where a value is known only at run time:

* ``{"Get": "Parameters.X"}`` for a pipeline input (an S3 prefix) or a spec parameter;
* ``{"Get": "Execution.PipelineExecutionId"}`` to give every execution its own output prefix;
* ``{"Get": "Steps.S.<property>"}`` to feed one step's output to the next; this is also what
  orders the steps, exactly like the spec's ``steps.S.outputs.X`` bindings;
* ``{"Std:Join": {"On": ..., "Values": [...]}}`` to build strings from those.

Reference: https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html and
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html (and
CreateTrainingJob).
"""

from __future__ import annotations

import re
from typing import Any

from runners.aws.fleet import distribution_parameters, shard_argument, split_inputs
from runners.aws.settings import PIPELINE_NAME, AwsSettings
from runners.base import BackendError
from runners.spec import PLACEHOLDER, Binding, PipelineSpec, Step

DEFINITION_VERSION = "2020-12-01"
EXECUTION_ID: dict[str, str] = {"Get": "Execution.PipelineExecutionId"}
VOLUME_GB = 30
PARAMETER_TYPES = {"number": "Float", "integer": "Integer", "string": "String"}
TRAINING_CHANNELS = "/opt/ml/input/data"
TRAINING_MODEL = "/opt/ml/model"
PROCESSING_INPUTS = "/opt/ml/processing/input"
PROCESSING_OUTPUTS = "/opt/ml/processing/output"
IMAGE_ENTRYPOINT = "/usr/local/bin/gridcast-entrypoint"
"""``ContainerEntrypoint`` replaces the image's ENTRYPOINT, so name it: it hands SageMaker's root-owned
output mounts to the job user and drops root before the step runs (docker/entrypoint.sh)."""


class CompileError(BackendError, ValueError):
    """The spec asks for something a SageMaker pipeline cannot express; the message says what."""


def pipeline_name(spec: PipelineSpec, settings: AwsSettings) -> str:
    name = f"{settings.name_prefix}-{spec.name}"
    if not PIPELINE_NAME.match(name):
        raise CompileError(f"{name!r} is not a valid SageMaker pipeline name (letters, digits and '-')")
    return name


def input_file(input_name: str) -> str:
    """The file name a pipeline input has inside its content-addressed S3 prefix."""
    return f"{input_name}.csv"


def data_prefix(settings: AwsSettings, sha256: str) -> str:
    """``s3://bucket/<data prefix>/sha256/<digest>/``: same bytes, same place, uploaded once."""
    return f"s3://{settings.bucket}/{_join_key(settings.prefix('data_uri'), 'sha256', sha256)}/"


def executions_root(settings: AwsSettings, pipeline: str) -> str:
    return f"s3://{settings.bucket}/{_join_key(settings.prefix('outputs_uri'), pipeline)}"


def output_uri(settings: AwsSettings, pipeline: str, execution_id: str, step: str, output: str) -> str:
    """Where a processing step's output lands for one execution (the definition builds the same path)."""
    return "/".join([executions_root(settings, pipeline), execution_id, step, output])


def result_uri(spec: PipelineSpec, settings: AwsSettings, pipeline: str, execution_id: str) -> str:
    binding = spec.result_binding()
    return output_uri(settings, pipeline, execution_id, binding.step or "", binding.name)


def verdict_uris(spec: PipelineSpec, settings: AwsSettings, pipeline: str, execution_id: str) -> dict[str, str]:
    """Output folders of steps whose exit code may mean 'rejected' (SageMaker sees exit 0 there)."""
    return {
        step.name: output_uri(settings, pipeline, execution_id, step.name, next(iter(step.outputs)))
        for step in spec.steps
        if "rejected" in step.exit_codes.values() and step.outputs
    }


def compile_definition(spec: PipelineSpec, settings: AwsSettings, tracking_uri: str | None = None) -> dict[str, Any]:
    """The whole pipeline definition; ``tracking_uri`` overrides the stack's MLflow tracking server."""
    clash = set(spec.inputs) & set(spec.parameters)
    if clash:
        raise CompileError(f"pipeline inputs and parameters share names: {', '.join(sorted(clash))}")
    pipeline = pipeline_name(spec, settings)
    if _kind(spec.step(spec.result_binding().step or ""), settings) != "processing":
        raise CompileError(f"result {spec.result!r} must be the output of a processing step")
    parameters = [{"Name": name, "Type": "String"} for name in spec.inputs] + [
        {"Name": name, "Type": PARAMETER_TYPES[param.type], "DefaultValue": param.default}
        for name, param in spec.parameters.items()
    ]
    parameters += distribution_parameters(spec)
    environment = {
        "MLFLOW_TRACKING_URI": tracking_uri or settings.mlflow_tracking_uri,
        "GRIDCAST_PIPELINE_RUN_ID": EXECUTION_ID,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    kinds = {step.name: _kind(step, settings) for step in spec.steps}
    steps = [_step(spec, step, kinds, settings, pipeline, environment) for step in spec.steps]
    return {"Version": DEFINITION_VERSION, "Metadata": {}, "Parameters": parameters, "Steps": steps}


def execution_parameters(spec: PipelineSpec, values: dict[str, Any], inputs: dict[str, str]) -> list[dict[str, str]]:
    """StartPipelineExecution's ``PipelineParameters``: every input's S3 prefix and every parameter's value."""
    return [{"Name": name, "Value": inputs[name]} for name in spec.inputs] + [
        {"Name": name, "Value": str(values[name])} for name in spec.parameters
    ]


def _kind(step: Step, settings: AwsSettings) -> str:
    kind = step.resources.get("aws", {}).get("job", "processing")
    if kind not in ("training", "processing"):
        raise CompileError(f"step {step.name!r}: resources.aws.job must be 'training' or 'processing', not {kind!r}")
    if kind == "training" and len(step.outputs) != 1:
        raise CompileError(
            f"step {step.name!r}: a training job has exactly one output ({TRAINING_MODEL}), "
            f"the spec declares {len(step.outputs)}"
        )
    return kind


def _step(
    spec: PipelineSpec,
    step: Step,
    kinds: dict[str, str],
    settings: AwsSettings,
    pipeline: str,
    environment: dict[str, Any],
) -> dict[str, Any]:
    kind = kinds[step.name]
    if step.shards is not None and kind != "processing":
        raise CompileError(f"step {step.name!r} has shards: it must be a processing job (resources.aws.job)")
    resources = step.resources.get("aws", {})
    instance_type = settings.compute_target or resources.get("instance_type")  # the stack's size wins
    if not instance_type:
        raise CompileError(f"step {step.name!r} has no resources.aws.instance_type and the stack no compute_target")
    cluster: dict[str, Any] = {
        "InstanceType": instance_type,
        "InstanceCount": step.shards.count if step.shards else int(resources.get("instance_count", 1)),
        "VolumeSizeInGB": VOLUME_GB,
    }
    if settings.kms_key_arn:
        cluster["VolumeKmsKeyId"] = settings.kms_key_arn
    stopping = {"MaxRuntimeInSeconds": int(resources.get("max_runtime_s", 3600))}
    sources = {name: _source(binding, kinds) for name, binding in step.bindings().items()}
    root = executions_root(settings, pipeline)
    if kind == "training":
        channels = {name: f"{TRAINING_CHANNELS}/{name}" for name in step.inputs}
        inputs = _input_paths(spec, step, channels)
        command = _command(spec, step, inputs, {name: TRAINING_MODEL for name in step.outputs})
        output_config: dict[str, Any] = {"S3OutputPath": _join("/", root, EXECUTION_ID, step.name)}
        # Uncompressed, so the next step reads the model folder itself instead of model.tar.gz.
        output_config["CompressionType"] = "NONE"
        if settings.kms_key_arn:
            output_config["KmsKeyId"] = settings.kms_key_arn
        arguments: dict[str, Any] = {
            "AlgorithmSpecification": {
                "TrainingImage": settings.image,
                "TrainingInputMode": "File",
                "ContainerEntrypoint": [IMAGE_ENTRYPOINT, *command[:1]],
                "ContainerArguments": command[1:],
            },
            "RoleArn": settings.execution_role_arn,
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": sources[name],
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
                for name in step.inputs
            ],
            "OutputDataConfig": output_config,
            "ResourceConfig": cluster,
            "StoppingCondition": stopping,
            "Environment": environment,
        }
        return {"Name": step.name, "Type": "Training", "Description": step.display_name, "Arguments": arguments}
    folders = {name: f"{PROCESSING_INPUTS}/{name}" for name in step.inputs}
    outputs = {name: f"{PROCESSING_OUTPUTS}/{name}" for name in step.outputs}
    command = _command(spec, step, _input_paths(spec, step, folders), outputs)
    split = split_inputs(spec, step)
    if "rejected" in step.exit_codes.values():
        command += ["--rejected-exit-code", "0"]  # SageMaker fails a job on any other code; see decision.json
    output_config = {
        "Outputs": [
            {
                "OutputName": name,
                "AppManaged": False,
                "S3Output": {
                    "S3Uri": _join("/", root, EXECUTION_ID, step.name, name),
                    "LocalPath": path,
                    "S3UploadMode": "EndOfJob",
                },
            }
            for name, path in outputs.items()
        ]
    }
    if settings.kms_key_arn:
        output_config["KmsKeyId"] = settings.kms_key_arn
    arguments = {
        "ProcessingResources": {"ClusterConfig": cluster},
        "AppSpecification": {
            "ImageUri": settings.image,
            "ContainerEntrypoint": [IMAGE_ENTRYPOINT, *command[:1]],
            "ContainerArguments": command[1:],
        },
        "RoleArn": settings.execution_role_arn,
        "ProcessingInputs": [
            {
                "InputName": name,
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": sources[name],
                    "LocalPath": folders[name],
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": split.get(name, "FullyReplicated"),
                },
            }
            for name in step.inputs
        ],
        "ProcessingOutputConfig": output_config,
        "StoppingCondition": stopping,
        "Environment": environment,
    }
    return {"Name": step.name, "Type": "Processing", "Description": step.display_name, "Arguments": arguments}


def _source(binding: Binding, kinds: dict[str, str]) -> dict[str, str]:
    """The S3 prefix an input reads: a pipeline parameter, or a property of the producing step."""
    if binding.source == "pipeline":
        return {"Get": f"Parameters.{binding.name}"}
    if kinds[binding.step or ""] == "training":
        return {"Get": f"Steps.{binding.step}.ModelArtifacts.S3ModelArtifacts"}
    return {"Get": f"Steps.{binding.step}.ProcessingOutputConfig.Outputs['{binding.name}'].S3Output.S3Uri"}


def _input_paths(spec: PipelineSpec, step: Step, folders: dict[str, str]) -> dict[str, str]:
    """The path the command gets: the file itself for a file input, the folder for a folder or a step output."""
    return {
        name: f"{folders[name]}/{input_file(binding.name)}"
        if binding.source == "pipeline" and spec.inputs[binding.name].type == "uri_file"
        else folders[name]
        for name, binding in step.bindings().items()
    }


def _command(spec: PipelineSpec, step: Step, inputs: dict[str, str], outputs: dict[str, str]) -> list[Any]:
    """The spec command with container paths in, and each parameter as a run-time pipeline expression:
    a string parameter that is a whole argument as itself, anything else joined into a string (as the
    SageMaker SDK writes ``ParameterString`` and ``to_string()``)."""
    tables = {"inputs": inputs, "outputs": outputs}
    rendered: list[Any] = []
    for arg in step.command:
        parts: list[Any] = []
        position = 0
        for match in PLACEHOLDER.finditer(arg):
            parts.append(arg[position : match.start()])
            kind, name = match.groups()
            if kind == "parameters":
                parts.append(shard_argument(step, name) or {"Get": f"Parameters.{name}"})
            else:
                parts.append(tables[kind][name])
            position = match.end()
        parts.append(arg[position:])
        values = [part for part in parts if part != ""]
        whole = PLACEHOLDER.fullmatch(arg)
        if all(isinstance(part, str) for part in parts):
            rendered.append("".join(parts))
        elif whole and whole.group(1) == "parameters" and spec.parameters[whole.group(2)].type == "string":
            rendered.append(values[0])
        else:
            rendered.append(_join("", *values))
    return rendered


def _join(on: str, *values: Any) -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _join_key(*parts: str) -> str:
    return re.sub("/+", "/", "/".join(part.strip("/") for part in parts if part))
