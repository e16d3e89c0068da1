"""Fixtures for the azure backend: stack outputs, a fake credential and the loopback AzureML workspace."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # azure-ai-ml's schemas raise marshmallow 4 deprecations on import
    warnings.simplefilter("ignore", DeprecationWarning)
    import azure.ai.ml  # noqa: F401
from azure_testkit import IMAGE, JOB_IDENTITY, OVERLOAD_REPORT, SUBSCRIPTION, FakeCredential
from azureml_loopback import FakeAzureML, Scenario, write_self_signed_certificate

from runners.azure.client import AzureML, build_ml_client
from runners.azure.runner import AzureRunner
from runners.azure.settings import AzureSettings, load_settings


@pytest.fixture
def stack_outputs() -> dict[str, Any]:
    """What `pulumi stack output --json` prints for the Azure stack (infra/azure_stack.py exports)."""
    return {
        "cloud": "azure",
        "region": "westeurope",
        "name_prefix": "gridcast-dev",
        "image_repository": "crgridcastdev.azurecr.io/gridcast",
        "compute_target": "cpu-cluster",
        "compute_size": "Standard_DS3_v2",
        "job_identity": JOB_IDENTITY,
        "mlflow_tracking_uri": f"azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/{SUBSCRIPTION}",
        "data_uri": "azureml://datastores/gridcast/paths/data/",
        "outputs_uri": "azureml://datastores/gridcast/paths/outputs/",
        "subscription_id": SUBSCRIPTION,
        "tenant_id": "00000000-0000-0000-0000-0000000000t1",
        "resource_group": "rg-gridcast-dev",
        "workspace_name": "mlw-gridcast-dev",
        "registry_login_server": "crgridcastdev.azurecr.io",
        "storage_account": "stgridcastdev",
        "job_identity_client_id": JOB_IDENTITY,
        "job_identity_resource_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-gridcast-dev/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/id-gridcast-dev-jobs",
        "deploy_identity_client_id": "9a8b7c6d-0000-0000-0000-000000000002",
    }


@pytest.fixture
def settings(stack_outputs: dict[str, Any]) -> AzureSettings:
    return load_settings(stack_outputs, IMAGE)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def sdk_cloud_env() -> Iterator[None]:
    """MLClient records the cloud it was given in os.environ (AZUREML_CURRENT_CLOUD); undo that."""
    before = os.environ.get("AZUREML_CURRENT_CLOUD")
    yield
    if before is None:
        os.environ.pop("AZUREML_CURRENT_CLOUD", None)
    else:
        os.environ["AZUREML_CURRENT_CLOUD"] = before


@pytest.fixture
def workspace(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, sdk_cloud_env: None
) -> Iterator[Callable[..., FakeAzureML]]:
    """Start a loopback AzureML workspace for a :class:`Scenario`; the SDK trusts its certificate.

    MOCK (two seams): azure-ai-ml spells a datastore's blob URL https://<account>.blob.<suffix>, which
    needs DNS for the account's host name. The SDK's storage client is kept, only pointed at the
    loopback server path-style (as for Azurite), so blob uploads and downloads are still real HTTP.
    Likewise the registry's host (``<name>.azurecr.io``) is replaced by a path on the loopback server.
    """
    from azure.ai.ml._artifacts import _artifact_utilities

    started: list[FakeAzureML] = []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    real_storage_client = _artifact_utilities.get_storage_client

    def path_style(**info: Any) -> Any:
        return real_storage_client(**{**info, "account_url": started[-1].blob_account_url(info["storage_account"])})

    monkeypatch.setattr(_artifact_utilities, "get_storage_client", path_style)
    # The same seam for the registry: <login server> -> the loopback server's /acr/<login server>.
    monkeypatch.setattr(AzureML, "registry_url", lambda self, login_server: f"{started[-1].url}/acr/{login_server}")

    def start(scenario: Scenario | None = None) -> FakeAzureML:
        fake = FakeAzureML(scenario or Scenario(), certificate).__enter__()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.__exit__(None, None, None)


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def runner_for(settings: AzureSettings, credential: FakeCredential) -> Callable[[FakeAzureML], AzureRunner]:
    """An AzureRunner talking to a loopback workspace, polling fast."""

    def make(fake: FakeAzureML) -> AzureRunner:
        return AzureRunner(
            settings, lambda: AzureML(build_ml_client(settings, credential, fake.url)), poll_seconds=0.01
        )

    return make


@pytest.fixture
def load_csv(tmp_path: Path) -> Path:
    path = tmp_path / "load.csv"
    rows = [f"2024-01-01T{h:02d}:00:00,{40 + h / 2:.1f}" for h in range(24)]
    path.write_text("timestamp,kw\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def result_files() -> dict[str, bytes]:
    return {
        "predictions.csv": b"timestamp,predicted_kw,lower_kw,upper_kw\n2024-12-31 00:00,76.590,74.015,79.165\n",
        "overload_report.json": json.dumps(OVERLOAD_REPORT).encode(),
        "forecast.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 32,
        "typical_day.png": b"\x89PNG\r\n\x1a\n" + b"\x01" * 32,
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Silence the SDKs' own deprecation chatter (marshmallow 4, azure-storage) in these tests only."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:marshmallow"))
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:azure"))
