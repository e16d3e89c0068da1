"""The one module that talks to AzureML: a thin layer over ``MLClient`` with the calls the runner makes.

``build_ml_client`` is the only place an ``MLClient`` is made, so an endpoint override (a sovereign
cloud, or the loopback server the tests run) applies to every call.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.ai.ml import MLClient
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Data, PipelineJob
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from runners.azure.compile import DATA_ASSET_NAME, content_version, data_reference
from runners.azure.settings import AzureSettings, check_endpoint

ARM_SCOPE = "https://management.azure.com/.default"
DOCTOR_PROBE_RUN = "gridcast-doctor-probe"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
STEP_LOG = "user_logs/std_log.txt"
"""Where AzureML puts a command job's stdout and stderr among its default artifacts."""


def default_credential() -> TokenCredential:
    """OIDC federation in CI, the managed identity on Azure compute, ``az login`` on a laptop."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def build_ml_client(
    settings: AzureSettings, credential: TokenCredential | None = None, endpoint_url: str | None = None
) -> MLClient:
    """An ``MLClient`` for the stack's workspace; ``endpoint_url`` replaces Azure Resource Manager's address.

    The endpoint must be HTTPS (azure-core sends bearer tokens over nothing else); a private CA is
    trusted through ``REQUESTS_CA_BUNDLE``, as for any requests-based client.
    """
    check_endpoint(endpoint_url)
    extra: dict[str, Any] = {}
    if endpoint_url:
        endpoint = endpoint_url.rstrip("/") + "/"
        # A custom "cloud" is how the SDK takes another ARM address (the same as for sovereign clouds);
        # it is named after the endpoint because the SDK keeps clouds in a process-wide table.
        extra = {
            "cloud": f"gridcast-{hashlib.sha256(endpoint.encode()).hexdigest()[:12]}",
            "cloud_metadata": {
                "azure_portal": endpoint,
                "resource_manager": endpoint,
                "active_directory": endpoint,
                "aml_resource_id": endpoint,
                "storage_endpoint": "core.windows.net",
                "registry_discovery_endpoint": endpoint,
            },
        }
    return MLClient(
        credential or default_credential(),
        settings.subscription_id,
        settings.resource_group,
        settings.workspace_name,
        enable_telemetry=False,  # no usage data leaves the machine
        show_progress=False,
        **extra,
    )


@dataclass(frozen=True)
class ChildJob:
    """One step's job inside the pipeline job, as AzureML reports it."""

    name: str
    display_name: str
    status: str


class AzureML:
    """The calls the runner makes, each one SDK call (or a short sequence of them)."""

    def __init__(self, ml_client: MLClient) -> None:
        self.ml_client = ml_client

    def ensure_data(self, path: Path, datastore: str) -> str:
        """Register ``path`` as a data asset versioned by content unless that version exists; its reference."""
        version = content_version(path)
        self.ensure_asset(DATA_ASSET_NAME, version, path, datastore, folder=False)
        return data_reference(version)

    def ensure_asset(self, name: str, version: str, path: Path, datastore: str, folder: bool) -> None:
        """Upload and register one input (a file, or a folder) unless this version of the asset exists."""
        try:
            self.ml_client.data.get(name, version=version)
            return
        except ResourceNotFoundError:
            pass
        with tempfile.TemporaryDirectory(prefix="gridcast-azure-in-") as tmp:
            if folder and path.is_file():  # one long file: a folder asset holding just it
                (Path(tmp) / path.name).symlink_to(path.resolve())
                path = Path(tmp)
            asset = Data(
                name=name,
                version=version,
                type=AssetTypes.URI_FOLDER if folder else AssetTypes.URI_FILE,
                path=str(path),
                datastore=datastore,
                description="Load data (timestamp,kw or transformer_id,timestamp,kw) uploaded by the gridcast runner.",
            )
            self.ml_client.data.create_or_update(asset)

    def submit(self, job: PipelineJob, experiment: str) -> PipelineJob:
        """Validate with the SDK (locally and the compute against the workspace), then create the job."""
        self.ml_client.jobs.validate(job, raise_on_failure=True)
        return self.ml_client.jobs.create_or_update(job, experiment_name=experiment)

    def status(self, name: str) -> str:
        """AzureML's status name (``Running``, ``Completed``...) of a job."""
        return _status_name(self.ml_client.jobs.get(name).status)

    def children(self, name: str) -> list[ChildJob]:
        return [
            ChildJob(child.name, child.display_name or child.name, _status_name(child.status))
            for child in self.ml_client.jobs.list(parent_job_name=name)
            if child is not None
        ]

    def error(self, name: str) -> str:
        """AzureML's own error message for a failed job (image pull, identity, exit code...)."""
        # The public Job entity carries no error; run history does (what studio shows). A failure to
        # read it must not hide the failure being reported, so it yields no message instead.
        try:
            run = self.ml_client.jobs._runs_operations.get_run(name)
        except HttpResponseError:
            return ""
        error = getattr(getattr(run, "error", None), "error", None)
        return str(getattr(error, "message", "") or "")

    def log(self, name: str) -> str:
        """The step's stdout and stderr (``user_logs/std_log.txt`` of its default artifacts)."""
        with tempfile.TemporaryDirectory(prefix="gridcast-azure-log-") as tmp:
            self.ml_client.jobs.download(name, download_path=tmp)
            log = Path(tmp) / "artifacts" / STEP_LOG
            return log.read_text(errors="replace") if log.is_file() else ""

    def download_output(self, name: str, output: str, destination: Path) -> Path:
        """Download one named output of the pipeline job; the folder its files are in."""
        destination.mkdir(parents=True, exist_ok=True)
        self.ml_client.jobs.download(name, output_name=output, download_path=destination)
        return destination / "named-outputs" / output

    def cancel(self, name: str) -> None:
        self.ml_client.jobs.begin_cancel(name).result()

    # -- read-only probes for ``runner doctor`` ------------------------------------------------------

    def probe_token(self) -> str:
        """An Azure Resource Manager token from the caller's credential; returns its tenant (``tid``)."""
        import jwt

        token = self.ml_client._credential.get_token(ARM_SCOPE).token  # the credential MLClient signs with
        claims = jwt.decode(token, options={"verify_signature": False})
        return str(claims.get("tid", "?"))

    def probe_workspace(self, name: str) -> Any:
        """The workspace through Azure Resource Manager: provisioning state, network access, MLflow URI."""
        return self.ml_client.workspaces.get(name)

    def probe_compute_identities(self, name: str) -> list[str]:
        """Client ids of the user-assigned identities attached to the compute (the steps run as one of them)."""
        compute = self.ml_client.compute.get(name)
        identities = getattr(getattr(compute, "identity", None), "user_assigned_identities", None) or []
        # azure-ai-ml 1.35 leaves ``client_id`` unset on a compute's identities and keeps the service's
        # ``clientId`` as an extra attribute instead; read whichever is there.
        ids = [getattr(identity, "client_id", None) or getattr(identity, "clientId", None) for identity in identities]
        return [str(client_id) for client_id in ids if client_id]

    def registry_url(self, login_server: str) -> str:
        """The registry's data-plane address (the tests point it at the loopback server)."""
        return f"https://{login_server}"

    def probe_image(self, login_server: str, repository: str, digest: str) -> bool:
        """Is ``repository@digest`` in the registry? ACR's documented token exchange, then a manifest HEAD.

        The caller's Entra ID token becomes an ACR refresh token (``/oauth2/exchange``), then a
        pull-scoped access token (``/oauth2/token``); a 404 for the manifest means "not there".
        """
        import requests

        url = self.registry_url(login_server)
        aad = self.ml_client._credential.get_token(ARM_SCOPE).token
        exchange = requests.post(
            f"{url}/oauth2/exchange",
            data={"grant_type": "access_token", "service": login_server, "access_token": aad},
            timeout=30,
        )
        exchange.raise_for_status()
        token = requests.post(
            f"{url}/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "service": login_server,
                "scope": f"repository:{repository}:pull",
                "refresh_token": exchange.json()["refresh_token"],
            },
            timeout=30,
        )
        token.raise_for_status()
        manifest = requests.head(
            f"{url}/v2/{repository}/manifests/{digest}",
            headers={"Authorization": f"Bearer {token.json()['access_token']}", "Accept": MANIFEST_TYPES},
            timeout=30,
        )
        if manifest.status_code == 404:
            return False
        manifest.raise_for_status()
        return True

    def probe_data_plane(self) -> None:
        """One run-history read: reaching the workspace's data plane (private when public access is off).

        A run that does not exist answers 404, which is the point: the answer came from the workspace.
        """
        try:
            self.ml_client.jobs._runs_operations.get_run(DOCTOR_PROBE_RUN)
        except ResourceNotFoundError:
            return


def _status_name(status: object) -> str:
    return str(getattr(status, "value", status))  # the SDK gives a JobStatus enum for jobs, a str for child runs
