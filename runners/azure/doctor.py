"""``runner doctor --backend azure``: check from the caller what an AzureML submission needs, each with its fix.

Read-only calls, in the order a submission depends on them: a token for the caller, the workspace
through Azure Resource Manager (provisioned, and its MLflow tracking URI), the workspace's data
plane from here (public endpoint, or the private network the caller must be on when public access
is off), the compute cluster carrying the job identity the steps run as, and the image in the
stack's registry by digest.
"""

from __future__ import annotations

import re

import requests
from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import AzureError, ClientAuthenticationError

from runners.azure.client import AzureML
from runners.azure.settings import AzureSettings
from runners.base import Check

LOGIN_FIX = (
    "sign in as the stack's deploy identity: in CI azure/login with client-id = the stack output "
    "deploy_identity_client_id; on a laptop `az login`"
)


def run_checks(azureml: AzureML, settings: AzureSettings) -> list[Check]:
    checks = [Check("stack outputs", True, f"workspace {settings.workspace_name} in {settings.resource_group}")]
    identity = _identity(azureml, settings)
    checks.append(identity)
    if not identity.ok:
        return checks
    workspace, public = _workspace(azureml, settings)
    checks.append(workspace)
    if not workspace.ok:
        return checks
    checks += [_data_plane(azureml, settings, public), _compute(azureml, settings)]
    if settings.image:
        checks.append(_image(azureml, settings))
    return checks


def _identity(azureml: AzureML, settings: AzureSettings) -> Check:
    try:
        tenant = azureml.probe_token()
    except ClientAuthenticationError as exc:
        return Check("identity", False, f"no token for Azure Resource Manager: {_first_line(exc)}", LOGIN_FIX)
    return Check("identity", True, f"token for tenant {tenant}")


def _workspace(azureml: AzureML, settings: AzureSettings) -> tuple[Check, bool]:
    try:
        workspace = azureml.probe_workspace(settings.workspace_name)
    except (AzureError, MlException) as exc:
        fix = (
            "the caller needs read access to the workspace (the deploy identity has AzureML Data Scientist on it); "
            "are subscription_id, resource_group and workspace_name this stack's?"
        )
        return Check("workspace", False, f"{settings.workspace_name}: {_first_line(exc)}", fix), False
    access = getattr(workspace, "public_network_access", "") or ""
    public = str(getattr(access, "value", access)).lower() == "enabled"  # the SDK gives an enum or a str
    tracking = getattr(workspace, "mlflow_tracking_uri", None)
    if not tracking:
        return Check("workspace", False, f"{settings.workspace_name} has no MLflow tracking URI", "`pulumi up`"), public
    network = "public endpoint, Entra ID only" if public else "public network access disabled"
    return Check("workspace", True, f"{settings.workspace_name} ({network}); MLflow at {tracking}"), public


def _data_plane(azureml: AzureML, settings: AzureSettings, public: bool) -> Check:
    try:
        azureml.probe_data_plane()
    except (AzureError, MlException) as exc:
        if public:
            fix = "the caller needs AzureML Data Scientist on the workspace (the deploy identity has it)"
        else:
            fix = (
                "the workspace accepts only its private endpoint: run from the self-hosted runner in its "
                "network (infra/README.md, private option) or deploy with gridcast:publicNetworkAccess true"
            )
        return Check("workspace data plane", False, f"run history: {_first_line(exc)}", fix)
    return Check("workspace data plane", True, "run history answers from here")


def _compute(azureml: AzureML, settings: AzureSettings) -> Check:
    try:
        identities = azureml.probe_compute_identities(settings.compute_target)
    except (AzureError, MlException) as exc:
        return Check(
            "compute and job identity",
            False,
            f"compute {settings.compute_target}: {_first_line(exc)}",
            "is compute_target this stack's cluster? `pulumi up` creates it",
        )
    if settings.job_identity_client_id not in identities:
        return Check(
            "compute and job identity",
            False,
            f"compute {settings.compute_target} does not carry the job identity {settings.job_identity_client_id} "
            f"(it has {', '.join(identities) or 'none'}): the steps could not run as it",
            "`pulumi up` attaches it (infra/azure_stack.py); check job_identity_client_id is this stack's",
        )
    return Check(
        "compute and job identity", True, f"{settings.compute_target} runs as {settings.job_identity_client_id}"
    )


def _image(azureml: AzureML, settings: AzureSettings) -> Check:
    image = settings.pinned_image()
    repository_url, _, digest = image.partition("@")
    login_server, _, repository = re.sub(r":[^/:]+$", "", repository_url).partition("/")
    fix = "push the image (deploy.yml's image job) and pass the digest it printed"
    try:
        present = azureml.probe_image(login_server, repository, digest)
    except (AzureError, requests.RequestException) as exc:
        return Check(
            "image",
            False,
            f"{login_server}: {_first_line(exc)}",
            "the caller needs pull rights on the stack's registry (the deploy identity has AcrPush)",
        )
    if not present:
        return Check("image", False, f"{repository}@{digest} is not in {login_server}", fix)
    return Check("image", True, f"{repository}@{digest[:19]}... is in {login_server}")


def _first_line(exc: Exception) -> str:
    return (str(getattr(exc, "message", "") or exc).strip().splitlines() or ["?"])[0]
