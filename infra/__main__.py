"""Pulumi program: read the stack's config once, build one cloud's component, export its outputs.

``pulumi up --stack azure`` builds :class:`AzureMlStack`; ``pulumi up --stack aws`` builds
:class:`SageMakerStack`. Both export the same common keys (see infra/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs this file by path (``main: infra/``), so the repository root is not necessarily on
# sys.path; add it so ``import infra...`` resolves the same way here as in tests.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import pulumi  # noqa: E402

from infra.config import StackConfig, load_config  # noqa: E402
from infra.outputs import StackOutputs  # noqa: E402
from infra.tags import base_tags  # noqa: E402


def build(config: StackConfig) -> StackOutputs:
    """Create the component for ``config.cloud`` and return its outputs."""
    tags = base_tags(project=config.project, stack=config.stack, owner=config.owner, cost_center=config.cost_center)
    if config.cloud == "azure":
        from infra.azure_stack import AzureMlStack, AzureMlStackArgs

        return AzureMlStack(
            config.name_prefix,
            AzureMlStackArgs(
                location=config.region,
                tags=tags,
                github_repository=config.github_repository,
                github_environment=config.github_environment,
                compute_vm_size=config.compute_size,
                compute_max_nodes=config.compute_max_nodes,
                low_priority_compute=config.low_priority_compute,
                public_network_access=config.public_network_access,
                private_endpoint_subnet_id=config.private_endpoint_subnet_id,
                log_retention_days=config.log_retention_days,
            ),
        ).outputs

    from infra.aws_stack import SageMakerStack, SageMakerStackArgs

    return SageMakerStack(
        config.name_prefix,
        SageMakerStackArgs(
            region=config.region,
            tags=tags,
            github_repository=config.github_repository,
            github_environment=config.github_environment,
            instance_type=config.compute_size,
            log_retention_days=config.log_retention_days,
            github_oidc_provider_arn=config.github_oidc_provider_arn,
        ),
    ).outputs


for _key, _value in build(load_config()).as_dict().items():
    pulumi.export(_key, _value)
