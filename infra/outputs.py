"""The stack outputs the runner's backends read to submit work; the same keys on both clouds.

Each component fills a :class:`StackOutputs`; ``__main__`` exports it. Cloud-specific values go in
``extras`` and may differ per cloud, the common keys may not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import pulumi

#: Keys every stack exports, in the order documented in infra/README.md.
COMMON_OUTPUT_KEYS: tuple[str, ...] = (
    "cloud",
    "region",
    "name_prefix",
    "image_repository",
    "compute_target",
    "compute_size",
    "job_identity",
    "mlflow_tracking_uri",
    "data_uri",
    "outputs_uri",
)

AZURE_EXTRA_KEYS: tuple[str, ...] = (
    "subscription_id",
    "tenant_id",
    "resource_group",
    "workspace_name",
    "registry_login_server",
    "storage_account",
    "job_identity_client_id",
    "job_identity_resource_id",
    "deploy_identity_client_id",
)

AWS_EXTRA_KEYS: tuple[str, ...] = (
    "account_id",
    "bucket",
    "execution_role_arn",
    "tracking_server_arn",
    "kms_key_arn",
    "log_group",
    "deploy_role_arn",
)


@dataclass(frozen=True)
class StackOutputs:
    """What a runner needs to push an image, submit a job and find its results."""

    cloud: pulumi.Input[str]
    region: pulumi.Input[str]
    name_prefix: pulumi.Input[str]
    #: Full repository reference: append ``:<tag>`` to get a pushable image name.
    image_repository: pulumi.Input[str]
    #: AzureML compute cluster name / SageMaker instance type.
    compute_target: pulumi.Input[str]
    #: The machine each job gets: the cluster's VM size / the instance type (so, on AWS, ``compute_target`` again).
    #: Its own key because on Azure the target is a name, and a plan must price what the jobs run on.
    compute_size: pulumi.Input[str]
    #: Identity jobs run as: managed identity client id / SageMaker execution role ARN.
    job_identity: pulumi.Input[str]
    #: AzureML workspace MLflow URI / SageMaker managed MLflow tracking server ARN.
    mlflow_tracking_uri: pulumi.Input[str]
    data_uri: pulumi.Input[str]
    outputs_uri: pulumi.Input[str]
    extras: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, pulumi.Input[str]]:
        """Common keys first, then extras; an extra may not shadow a common key."""
        common = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras"}
        clash = sorted(set(common) & set(self.extras))
        if clash:
            raise ValueError(f"extras may not redefine common outputs: {clash}")
        return {**common, **self.extras}
