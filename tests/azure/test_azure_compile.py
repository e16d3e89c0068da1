"""Spec -> AzureML pipeline job, checked offline by the SDK's own validation and schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from azure.ai.ml import load_job
from azure.ai.ml.entities import Command, ManagedIdentityConfiguration, PipelineJob
from azure_testkit import IMAGE, JOB_IDENTITY

from runners.azure.compile import compile_pipeline, component_command, content_version, data_reference
from runners.azure.settings import AzureSettings, AzureSettingsError, load_settings
from runners.spec import load_spec

DATA = data_reference("0123456789abcdef")


@pytest.fixture
def job(settings: AzureSettings) -> PipelineJob:
    return compile_pipeline(load_spec(), settings, DATA, {"limit_kw": 90.0, "threshold_kw": None})


def test_the_sdk_validates_the_compiled_job(job: PipelineJob) -> None:
    result = job._validate()
    assert result.passed, result.error_messages


def test_three_command_steps_in_the_image_on_the_cluster_as_the_job_identity(job: PipelineJob) -> None:
    assert list(job.jobs) == ["train", "promote", "predict"]
    for node in job.jobs.values():
        assert isinstance(node, Command)
        assert node.component.environment.image == IMAGE
        assert node.compute == "cpu-cluster"
        assert isinstance(node.identity, ManagedIdentityConfiguration)
        assert node.identity.client_id == JOB_IDENTITY
        assert node.resources.instance_count == 1
    assert job.experiment_name == "transformer-load"
    assert job.settings.force_rerun is True
    assert job.settings.default_datastore == "gridcast"


def test_typed_inputs_outputs_and_bindings_follow_the_spec(job: PipelineJob) -> None:
    train, promote, predict = (job.jobs[s] for s in ("train", "promote", "predict"))
    assert job._to_dict()["inputs"]["data"] == {"type": "uri_file", "path": DATA}
    assert train.component.outputs["model"].type == "mlflow_model"
    assert promote.component.inputs["candidate"].type == "mlflow_model"
    assert predict.component.inputs["decision"].type == "uri_folder"
    assert predict.component.outputs["predictions"].type == "uri_folder"
    bindings = yaml.safe_dump(job._to_dict())
    assert "path: ${{parent.jobs.train.outputs.model}}" in bindings
    assert "path: ${{parent.jobs.promote.outputs.decision}}" in bindings
    assert job.outputs["predictions"].path == "azureml://datastores/gridcast/paths/outputs/${{name}}/predictions/"


def test_parameters_are_pipeline_inputs_with_the_run_values(job: PipelineJob) -> None:
    inputs = job._to_dict()["inputs"]
    assert {name: inputs[name] for name in ("limit_kw", "horizon_years", "threshold_kw")} == {
        "limit_kw": 90.0,  # overridden
        "horizon_years": 5.0,  # spec default
        "threshold_kw": 0.0,  # None means "not given": the default (0: no absolute cap)
    }
    assert job.jobs["predict"].component.inputs["limit_kw"].type == "number"


def test_promote_exits_zero_on_rejection_because_azureml_fails_any_other_code() -> None:
    spec = load_spec()
    assert component_command(spec.step("promote")) == (
        "python -m ml.steps promote --data ${{inputs.data}} --candidate ${{inputs.candidate}} "
        "--decision-out ${{outputs.decision}} --threshold-kw ${{inputs.threshold_kw}} "
        "--transformer-id ${{inputs.transformer_id}} --rejected-exit-code 0"
    )
    assert "--rejected-exit-code" not in component_command(spec.step("train"))


def test_the_printed_yaml_loads_back_as_the_same_valid_job(job: PipelineJob, tmp_path: Path) -> None:
    """What --dry-run prints is a job file `az ml job create -f` would accept."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(job._to_dict(), sort_keys=False))
    loaded = load_job(path)
    assert isinstance(loaded, PipelineJob)
    assert loaded._validate().passed
    for name, node in job._to_dict()["jobs"].items():
        again = loaded._to_dict()["jobs"][name]
        # An inline component has no name of its own; the loader calls it azureml_anonymous, version 1.
        assert {**again, "component": {**again["component"], "name": None, "version": None}} == {
            **node,
            "component": {**node["component"], "name": None, "version": None},
        }


def test_sdk_validation_is_live_for_what_compile_sets(job: PipelineJob) -> None:
    """Guard against a validation that passes anything: drop what compile provides and the SDK objects."""
    job.jobs["train"].compute = None
    job.settings.default_compute = None
    job.jobs["promote"].component.environment = None
    errors = job._validate().error_messages
    assert errors["jobs.train.compute"] == "Compute not set"
    assert errors["jobs.promote.component.environment"] == "Missing data for required field."


def test_compiling_needs_an_image(stack_outputs: dict) -> None:
    with pytest.raises(AzureSettingsError, match=r"needs --image"):
        compile_pipeline(load_spec(), load_settings(stack_outputs, None), DATA)


def test_data_version_is_the_content_hash(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text("timestamp,kw\n2024-01-01T00:00,1\n")
    b.write_text("timestamp,kw\n2024-01-01T00:00,1\n")
    c.write_text("timestamp,kw\n2024-01-01T00:00,2\n")
    assert content_version(a) == content_version(b) == "aacfb7dbf7957586"  # sha256 of the bytes, first 16 hex
    assert content_version(c) != content_version(a)
