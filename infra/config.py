"""Typed stack configuration, read once by ``__main__`` and handed to a component as plain values.

Defaults here mirror the ``config:`` block of ``Pulumi.yaml`` (a test keeps them equal). Keys
without a default there (``cloud``, ``githubRepository``, ``githubEnvironment``, ``computeSize``)
are set in each stack file. The region is read from the provider's own key (``azure-native:location``
or ``aws:region``) so the provider and the program can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import pulumi

from infra import github_oidc

_T = TypeVar("_T")

Cloud = Literal["azure", "aws"]
CLOUDS: tuple[Cloud, ...] = ("azure", "aws")

#: Provider config key holding the region, per cloud.
REGION_KEYS: dict[Cloud, tuple[str, str]] = {
    "azure": ("azure-native", "location"),
    "aws": ("aws", "region"),
}

#: CloudWatch accepts only these retention values (days).
AWS_LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs to know about one stack; validated on construction."""

    project: str
    stack: str
    cloud: Cloud
    region: str
    github_repository: str
    github_environment: str
    compute_size: str
    owner: str = "ml-platform"
    cost_center: str = "grid-analytics"
    public_network_access: bool = True
    private_endpoint_subnet_id: str = ""
    compute_max_nodes: int = 2
    low_priority_compute: bool = False
    log_retention_days: int = 30
    github_oidc_provider_arn: str = ""

    def __post_init__(self) -> None:
        if self.cloud not in CLOUDS:
            raise ValueError(f"gridcast:cloud must be one of {CLOUDS}, got {self.cloud!r}")
        if not self.region:
            raise ValueError(f"{':'.join(REGION_KEYS[self.cloud])} must be set for the {self.cloud} stack")
        github_oidc.validate_repository(self.github_repository)
        github_oidc.validate_environment(self.github_environment)
        if self.cloud == "azure" and not self.public_network_access and not self.private_endpoint_subnet_id:
            raise ValueError(
                "gridcast:publicNetworkAccess=false needs gridcast:privateEndpointSubnetId (the subnet, in the "
                "self-hosted runner's network, that the workspace's private endpoint goes in)"
            )
        if self.compute_max_nodes < 1:
            raise ValueError("gridcast:computeMaxNodes must be at least 1")
        if self.cloud == "aws" and self.log_retention_days not in AWS_LOG_RETENTION_DAYS:
            raise ValueError(f"gridcast:logRetentionDays={self.log_retention_days} is not a CloudWatch value")
        if self.cloud == "azure" and not 30 <= self.log_retention_days <= 730:
            raise ValueError("gridcast:logRetentionDays must be within 30..730 for Log Analytics")

    @property
    def name_prefix(self) -> str:
        """Prefix of every resource name, e.g. ``gridcast-azure``."""
        return f"{self.project}-{self.stack}"


def load_config() -> StackConfig:
    """Read the stack's configuration from the Pulumi engine (call once, from ``__main__``)."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    cfg = pulumi.Config(project)
    cloud = cfg.require("cloud")
    if cloud not in CLOUDS:
        raise ValueError(f"gridcast:cloud must be one of {CLOUDS}, got {cloud!r}")
    namespace, key = REGION_KEYS[cloud]  # type: ignore[index]
    return StackConfig(
        project=project,
        stack=stack,
        cloud=cloud,  # type: ignore[arg-type]
        region=pulumi.Config(namespace).require(key),
        github_repository=cfg.require("githubRepository"),
        github_environment=cfg.require("githubEnvironment"),
        compute_size=cfg.require("computeSize"),
        owner=cfg.get("owner") or StackConfig.owner,
        cost_center=cfg.get("costCenter") or StackConfig.cost_center,
        public_network_access=_first(cfg.get_bool("publicNetworkAccess"), StackConfig.public_network_access),
        private_endpoint_subnet_id=cfg.get("privateEndpointSubnetId") or StackConfig.private_endpoint_subnet_id,
        compute_max_nodes=_first(cfg.get_int("computeMaxNodes"), StackConfig.compute_max_nodes),
        low_priority_compute=_first(cfg.get_bool("lowPriorityCompute"), StackConfig.low_priority_compute),
        log_retention_days=_first(cfg.get_int("logRetentionDays"), StackConfig.log_retention_days),
        github_oidc_provider_arn=cfg.get("githubOidcProviderArn") or StackConfig.github_oidc_provider_arn,
    )


def _first(value: _T | None, default: _T) -> _T:
    """``value`` unless it is unset (None); the dataclass default otherwise."""
    return default if value is None else value
