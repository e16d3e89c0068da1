"""Pipeline spec -> AzureML pipeline job: pure, no network, so it can be validated and printed offline.

Each spec step becomes a command component running the spec's command in the image; spec bindings
become ``${{parent...}}`` bindings; spec parameters become inputs of the pipeline, so the values a
run used are visible (and editable for a resubmit) in AzureML studio.

No MLflow settings are passed to the steps: inside an AzureML job azureml-mlflow points MLflow at
the workspace and at the step's own run, which AzureML already nests under the pipeline job's run.
``GRIDCAST_PIPELINE_RUN_ID`` stays unset, since it would make the steps build a second, competing
parent run.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
from pathlib import Path
from typing import Any

from azure.ai.ml import Input, Output, PyTorchDistribution
from azure.ai.ml.entities import (
    CommandComponent,
    Environment,
    JobResourceConfiguration,
    ManagedIdentityConfiguration,
    PipelineJob,
    PipelineJobSettings,
)

from runners.azure.settings import AzureSettings
from runners.spec import PLACEHOLDER, PipelineSpec, Step

# azure-ai-ml logs every download at INFO, warns about its own experimental schema classes and logs
# each SDK call that raised (even an expected 404) as an "activity" on stderr; none of that is news to
# a runner user, who gets the runner's own messages instead.
logging.getLogger("azure.ai.ml").setLevel(logging.WARNING)
logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
logging.getLogger("azure.ai.ml._telemetry").setLevel(logging.CRITICAL)

DATA_ASSET_NAME = "transformer-load-data"
# AzureML fails a step on any non-zero exit; a gate rejection is a decision recorded in decision.json.
REJECTED_EXIT_ARGS = ("--rejected-exit-code", "0")


def content_version(path: Path) -> str:
    """Data asset version = first 16 hex of the file's SHA-256: same bytes, same version, one upload."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def data_reference(version: str) -> str:
    return f"azureml:{DATA_ASSET_NAME}:{version}"


def component_command(step: Step) -> str:
    """The spec's argv as one shell line; placeholders stay verbatim for AzureML to substitute."""
    argv = list(step.command)
    if "rejected" in step.exit_codes.values():
        argv += REJECTED_EXIT_ARGS
    if step.shards is not None:  # instances find their place themselves (RANK, WORLD_SIZE); the count is fixed
        values = {"shard_index": "auto", "shard_count": str(step.shards.count)}
        argv = [PLACEHOLDER.sub(lambda m: values.get(m[2], m[0]) if m[1] == "parameters" else m[0], a) for a in argv]
    parts = []
    for arg in argv:
        arg = PLACEHOLDER.sub(_parameter_as_input, arg)
        parts.append(arg if PLACEHOLDER.fullmatch(arg) else shlex.quote(arg))
    return " ".join(parts)


def _parameter_as_input(match: re.Match[str]) -> str:
    """``${{parameters.X}}`` -> ``${{inputs.X}}``: a component sees pipeline parameters as its inputs."""
    source, name = match.groups()
    return f"${{{{inputs.{name}}}}}" if source == "parameters" else match[0]


def _component(spec: PipelineSpec, step: Step, environment: Environment) -> CommandComponent:
    inputs: dict[str, Input] = {}
    for name, binding in step.bindings().items():
        if binding.source == "pipeline":
            kind = spec.inputs[binding.name].type
        else:
            kind = spec.step(binding.step or "").outputs[binding.name].type
        inputs[name] = Input(type=kind)
    for source, name in sorted(step.placeholders()):
        if source == "parameters" and name in spec.parameters:  # number, integer, string are AzureML's too
            parameter = spec.parameters[name]
            inputs[name] = Input(type=parameter.type, description=parameter.description or None)
    # Inline, hence anonymous: AzureML registers it by content hash, so an unchanged step reuses it.
    return CommandComponent(
        display_name=step.display_name,
        command=component_command(step),
        environment=environment,
        inputs=inputs,
        outputs={
            name: Output(type=out.type, description=out.description or None) for name, out in step.outputs.items()
        },
    )


def compile_pipeline(
    spec: PipelineSpec, settings: AzureSettings, data: str | dict[str, str], parameters: dict[str, Any] | None = None
) -> PipelineJob:
    """The AzureML pipeline job for ``spec``; ``data`` is the input's asset reference (``azureml:name:version``),
    or one per pipeline input."""
    references = data if isinstance(data, dict) else dict.fromkeys(spec.inputs, data)
    values = spec.parameter_values(parameters)
    environment = Environment(image=settings.pinned_image())
    identity = ManagedIdentityConfiguration(client_id=settings.job_identity_client_id)
    result = spec.result_binding()
    jobs = {}
    for step in spec.steps:
        component = _component(spec, step, environment)
        bindings: dict[str, Any] = {}
        for name, binding in step.bindings().items():
            bindings[name] = (
                f"${{{{parent.inputs.{binding.name}}}}}"
                if binding.source == "pipeline"
                else f"${{{{parent.jobs.{binding.step}.outputs.{binding.name}}}}}"
            )
        for kind, name in step.placeholders():
            if kind == "parameters" and name in spec.parameters:
                bindings[name] = f"${{{{parent.inputs.{name}}}}}"
        node = component(**bindings)
        node.display_name = step.display_name
        node.compute = settings.compute_target
        node.identity = identity
        node.resources = JobResourceConfiguration(
            instance_count=step.shards.count
            if step.shards
            else step.resources.get("azure", {}).get("instance_count", 1)
        )
        if step.shards is not None:  # one process per node; AzureML sets RANK and WORLD_SIZE for it
            node.distribution = PyTorchDistribution(process_count_per_instance=1)
        if step.name == result.step:
            node.outputs[result.name] = f"${{{{parent.outputs.{result.name}}}}}"
        jobs[step.name] = node

    pipeline_inputs: dict[str, Any] = {
        name: Input(type=spec_input.type, path=references[name]) for name, spec_input in spec.inputs.items()
    }
    pipeline_inputs |= {name: values[name] for name in spec.parameters}
    result_type = spec.step(result.step or "").outputs[result.name].type
    return PipelineJob(
        display_name=spec.name,
        description=spec.description,
        experiment_name=spec.experiment,
        inputs=pipeline_inputs,
        outputs={result.name: Output(type=result_type, path=settings.result_path(result.name))},
        jobs=jobs,
        settings=PipelineJobSettings(
            default_compute=settings.compute_target,
            default_datastore=settings.data_datastore,
            continue_on_step_failure=False,
            # Every run trains, gates and predicts, as on the other backends: reusing a cached step would
            # skip registering a model version and logging the run to MLflow.
            force_rerun=True,
        ),
        tags={"gridcast.spec": spec.name},
    )
