"""Stack outputs + --image -> AzureSettings: a bad or missing key is named before any cloud call."""

from __future__ import annotations

from typing import Any

import pytest
from azure_testkit import IMAGE

from runners.azure import create
from runners.azure.client import build_ml_client
from runners.azure.settings import AzureSettingsError, load_settings
from runners.base import BackendOptions


def test_reads_the_azure_stack_outputs(stack_outputs: dict[str, Any]) -> None:
    settings = load_settings(stack_outputs, IMAGE)
    assert settings.workspace_name == "mlw-gridcast-dev"
    assert settings.job_identity_client_id == stack_outputs["job_identity_client_id"]
    assert settings.data_datastore == "gridcast"
    assert settings.result_path("predictions") == "azureml://datastores/gridcast/paths/outputs/${{name}}/predictions/"


def test_names_every_missing_key(stack_outputs: dict[str, Any]) -> None:
    del stack_outputs["workspace_name"], stack_outputs["job_identity_client_id"]
    with pytest.raises(AzureSettingsError) as caught:
        load_settings(stack_outputs, IMAGE)
    assert str(caught.value) == (
        "stack outputs are missing workspace_name, job_identity_client_id (is this the Azure stack?)"
    )


def test_refuses_the_aws_stack(stack_outputs: dict[str, Any]) -> None:
    with pytest.raises(AzureSettingsError, match=r"^cloud: Input should be 'azure'$"):
        load_settings({**stack_outputs, "cloud": "aws"}, IMAGE)


def test_no_stack_outputs_says_how_to_pass_them() -> None:
    with pytest.raises(AzureSettingsError) as caught:
        load_settings({}, IMAGE)
    assert str(caught.value) == (
        "the azure backend needs the Azure stack's outputs: pass --stack NAME or --stack-outputs FILE "
        "(from `pulumi stack output --json`)"
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            "crgridcastdev.azurecr.io/gridcast:latest",
            "image: 'crgridcastdev.azurecr.io/gridcast:latest' is not pinned by digest; "
            "pass REPOSITORY@sha256:<64 hex>",
        ),
        (
            "docker.io/library/python@sha256:" + "ab" * 32,
            f"image: image 'docker.io/library/python@sha256:{'ab' * 32}' is not in the stack's repository "
            "'crgridcastdev.azurecr.io/gridcast'",
        ),
    ],
)
def test_image_must_be_a_digest_from_the_stack_registry(
    stack_outputs: dict[str, Any], image: str, message: str
) -> None:
    with pytest.raises(AzureSettingsError) as caught:
        load_settings(stack_outputs, image)
    assert str(caught.value) == message


def test_a_tag_before_the_digest_is_accepted(stack_outputs: dict[str, Any]) -> None:
    image = "crgridcastdev.azurecr.io/gridcast:1.4.0@sha256:" + "0f" * 32
    assert load_settings(stack_outputs, image).pinned_image() == image


def test_following_a_run_needs_no_image_but_submitting_does(stack_outputs: dict[str, Any]) -> None:
    settings = load_settings(stack_outputs, None)  # `runner status` / `runner logs` pass no --image
    with pytest.raises(AzureSettingsError) as caught:
        settings.pinned_image()
    assert str(caught.value) == "the azure backend needs --image REPOSITORY@sha256:<digest> to submit a run"


def test_datastore_uris_are_checked(stack_outputs: dict[str, Any]) -> None:
    with pytest.raises(AzureSettingsError) as caught:
        load_settings({**stack_outputs, "data_uri": "https://stgridcastdev.blob.core.windows.net/gridcast/data"}, IMAGE)
    assert str(caught.value) == (
        "data_uri: 'https://stgridcastdev.blob.core.windows.net/gridcast/data' is not an "
        "azureml://datastores/NAME/paths/PREFIX URI"
    )


def test_create_validates_without_connecting(stack_outputs: dict[str, Any], tmp_path: Any) -> None:
    options = BackendOptions(tmp_path, "sqlite:///unused.db", stack_outputs, IMAGE)
    runner = create(options)
    assert runner.name == "azure"
    assert runner._azureml is None  # type: ignore[attr-defined]  # no client, no credential until a call
    with pytest.raises(AzureSettingsError, match="stack outputs are missing"):
        create(BackendOptions(tmp_path, "sqlite:///unused.db", {"cloud": "azure"}, IMAGE))


def test_the_machine_size_is_the_clusters_vm_size_when_the_stack_exports_it(
    stack_outputs: dict[str, Any], tmp_path: Any
) -> None:
    """What a fleet plan prices; a stack from before the compute_size output still loads, with no size."""
    sized = BackendOptions(tmp_path, "sqlite:///unused.db", stack_outputs | {"compute_size": "Standard_F8s_v2"}, IMAGE)
    assert create(sized).machine_size() == "Standard_F8s_v2"
    del stack_outputs["compute_size"]
    older = create(BackendOptions(tmp_path, "sqlite:///unused.db", stack_outputs, IMAGE))
    assert older.machine_size() is None


def test_endpoint_override_must_be_https(stack_outputs: dict[str, Any], tmp_path: Any) -> None:
    options = BackendOptions(tmp_path, "sqlite:///unused.db", stack_outputs, IMAGE, "http://127.0.0.1:8080")
    with pytest.raises(AzureSettingsError) as caught:
        create(options)
    assert str(caught.value) == "--endpoint-url http://127.0.0.1:8080 must be https:// (bearer tokens need TLS)"
    with pytest.raises(AzureSettingsError):  # the one place an MLClient is made checks it too
        build_ml_client(load_settings(stack_outputs, IMAGE), endpoint_url="http://127.0.0.1:8080")
