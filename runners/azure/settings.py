"""What the Azure backend needs to know, read from the Azure stack's outputs plus ``--image``.

Checked once, up front, so a missing or mistyped key fails with its name before any cloud call
instead of as an opaque 404 from AzureML halfway through a submission.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from runners.base import BackendError

DIGEST = re.compile(r"^(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}$")
DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<datastore>[A-Za-z0-9_]+)/paths/(?P<path>.*)$")


class AzureSettingsError(BackendError):
    """The stack outputs or flags cannot drive an AzureML submission; the message says which key and why.

    A RuntimeError, as the CLI prints those from a backend factory as one ``error:`` line.
    """


class AzureSettings(BaseModel):
    """The keys ``pulumi stack output --json`` of the Azure stack exports that a submission uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cloud: Literal["azure"]
    subscription_id: str
    resource_group: str
    workspace_name: str
    region: str
    compute_target: str
    """The AzureML compute cluster every step runs on."""
    compute_size: str | None = None
    """The cluster's VM size (``gridcast:computeSize``), so a plan prices the VMs the steps get; a stack from
    before this output lacks it, and the plan falls back to the spec's ``vm_size``."""
    job_identity_client_id: str
    """Client id of the user-assigned managed identity the steps run as (data, registry, MLflow)."""
    image_repository: str
    data_uri: str
    """``azureml://datastores/<ds>/paths/<prefix>``: where the input data asset is stored."""
    outputs_uri: str
    """``azureml://datastores/<ds>/paths/<prefix>``: where the pipeline's result output is written."""
    image: str | None = None
    """Container image every step runs in, pinned by digest (needed to submit, not to follow a run)."""

    @field_validator("image")
    @classmethod
    def _pinned_by_digest(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST.match(value):
            raise ValueError(f"{value!r} is not pinned by digest; pass REPOSITORY@sha256:<64 hex>")
        return value

    @field_validator("data_uri", "outputs_uri")
    @classmethod
    def _datastore_path(cls, value: str) -> str:
        if not DATASTORE_URI.match(value):
            raise ValueError(f"{value!r} is not an azureml://datastores/NAME/paths/PREFIX URI")
        return value

    @model_validator(mode="after")
    def _image_from_stack_registry(self) -> AzureSettings:
        """The compute identity may pull only from the stack's own registry, so refuse any other image early."""
        if self.image is not None:
            repository = DIGEST.match(self.image).group("repository")  # type: ignore[union-attr]
            if re.sub(r":[^/:]+$", "", repository) != self.image_repository:  # a tag before the digest is fine
                raise ValueError(f"image {self.image!r} is not in the stack's repository {self.image_repository!r}")
        return self

    def pinned_image(self) -> str:
        if self.image is None:
            raise AzureSettingsError("the azure backend needs --image REPOSITORY@sha256:<digest> to submit a run")
        return self.image

    @property
    def data_datastore(self) -> str:
        """The datastore named in ``data_uri``: the data asset is uploaded there."""
        return DATASTORE_URI.match(self.data_uri).group("datastore")  # type: ignore[union-attr]

    def result_path(self, output_name: str) -> str:
        """Where the result output of a pipeline job lands: one folder per job (``${{name}}`` is the job name)."""
        return f"{self.outputs_uri.rstrip('/')}/${{{{name}}}}/{output_name}/"


def load_settings(stack_outputs: dict[str, Any], image: str | None) -> AzureSettings:
    """Validate the stack outputs and image (if given); raise :class:`AzureSettingsError` naming every bad key."""
    if not stack_outputs:
        raise AzureSettingsError(
            "the azure backend needs the Azure stack's outputs: pass --stack NAME or --stack-outputs FILE "
            "(from `pulumi stack output --json`)"
        )
    try:
        return AzureSettings.model_validate({**stack_outputs, "image": image})
    except ValidationError as exc:
        raise AzureSettingsError(_explain(exc)) from None


def check_endpoint(endpoint_url: str | None) -> None:
    """An endpoint override must be HTTPS: azure-core sends bearer tokens over nothing else."""
    if endpoint_url and not endpoint_url.startswith("https://"):
        raise AzureSettingsError(f"--endpoint-url {endpoint_url} must be https:// (bearer tokens need TLS)")


def _explain(exc: ValidationError) -> str:
    missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
    wrong = [
        f"{e['loc'][0] if e['loc'] else 'image'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
        if e["type"] != "missing"
    ]
    parts = []
    if missing:
        parts.append(f"stack outputs are missing {', '.join(missing)} (is this the Azure stack?)")
    parts.extend(wrong)
    return "; ".join(parts)
