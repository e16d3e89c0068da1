"""Configuration, naming and tagging: the plain-Python building blocks of both stacks."""

from __future__ import annotations

import contextvars
import dataclasses
import re
import uuid

import pulumi
import pytest
import yaml
from pulumi_harness import REPO_ROOT, GridcastMocks, stack_config

from infra import azure_naming, azure_roles, github_oidc
from infra.config import StackConfig, load_config
from infra.tags import REQUIRED_TAG_KEYS, base_tags, merge_tags

# Pulumi.yaml config key -> StackConfig field
FIELD_OF = {
    "cloud": "cloud",
    "githubRepository": "github_repository",
    "githubEnvironment": "github_environment",
    "computeSize": "compute_size",
    "owner": "owner",
    "costCenter": "cost_center",
    "publicNetworkAccess": "public_network_access",
    "privateEndpointSubnetId": "private_endpoint_subnet_id",
    "computeMaxNodes": "compute_max_nodes",
    "lowPriorityCompute": "low_priority_compute",
    "logRetentionDays": "log_retention_days",
    "githubOidcProviderArn": "github_oidc_provider_arn",
}


def _load(config: dict[str, str], stack: str) -> StackConfig:
    """Run load_config against ``config`` in a fresh Pulumi context."""

    def isolated() -> StackConfig:
        pulumi.runtime.set_all_config(config)
        pulumi.runtime.set_mocks(GridcastMocks("nowhere"), project="gridcast", stack=stack, preview=False)
        return load_config()

    return contextvars.Context().run(isolated)


def test_project_file_declares_every_config_key_with_the_code_defaults() -> None:
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "gridcast"
    assert project["main"] == "infra/"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    declared = project["config"]
    assert set(declared) == set(FIELD_OF)
    fields = {f.name: f for f in dataclasses.fields(StackConfig)}
    for key, spec in declared.items():
        assert spec["type"] in ("string", "boolean", "integer"), key
        field = fields[FIELD_OF[key]]
        if "default" in spec:
            assert spec["default"] == field.default, f"Pulumi.yaml default of {key} differs from config.py"
        else:
            assert field.default is dataclasses.MISSING, f"{key} has a code default but none in Pulumi.yaml"


@pytest.mark.parametrize(("cloud", "region_key"), [("azure", "azure-native:location"), ("aws", "aws:region")])
def test_stack_files_set_every_required_key(cloud: str, region_key: str) -> None:
    config = _load(stack_config(cloud), cloud)
    assert config.cloud == cloud
    assert config.region == stack_config(cloud)[region_key]
    assert config.github_environment == cloud
    assert config.name_prefix == f"gridcast-{cloud}"
    assert config.public_network_access is True  # Entra ID only, reachable from the GitHub-hosted deploy job


def test_the_private_option_needs_its_endpoint_subnet() -> None:
    with pytest.raises(ValueError, match="privateEndpointSubnetId"):
        _load(stack_config("azure") | {"gridcast:publicNetworkAccess": "false"}, "azure")
    subnet = "/subscriptions/s/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/pe"
    config = _load(
        stack_config("azure") | {"gridcast:publicNetworkAccess": "false", "gridcast:privateEndpointSubnetId": subnet},
        "azure",
    )
    assert (config.public_network_access, config.private_endpoint_subnet_id) == (False, subnet)


def test_config_values_override_defaults_with_their_types() -> None:
    raw = stack_config("azure") | {
        "gridcast:publicNetworkAccess": "true",
        "gridcast:computeMaxNodes": "6",
        "gridcast:lowPriorityCompute": "true",
        "gridcast:owner": "grid-ops",
    }
    config = _load(raw, "azure")
    assert (config.public_network_access, config.compute_max_nodes) == (True, 6)
    assert (config.low_priority_compute, config.owner) == (True, "grid-ops")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"gridcast:cloud": "gcp"}, "gridcast:cloud"),
        ({"gridcast:githubRepository": "gridcast/*"}, "OWNER/REPO"),
        ({"gridcast:githubEnvironment": "prod*"}, "environment"),
        ({"gridcast:computeMaxNodes": "0"}, "computeMaxNodes"),
        ({"gridcast:logRetentionDays": "10"}, "Log Analytics"),
    ],
)
def test_invalid_config_is_rejected_before_any_resource(override: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load(stack_config("azure") | override, "azure")


def test_aws_log_retention_must_be_a_cloudwatch_value() -> None:
    with pytest.raises(ValueError, match="CloudWatch"):
        _load(stack_config("aws") | {"gridcast:logRetentionDays": "31"}, "aws")


def test_missing_region_is_an_error() -> None:
    config = stack_config("aws")
    del config["aws:region"]
    with pytest.raises(Exception, match="aws:region"):
        _load(config, "aws")


def test_tags_merge_keeps_required_keys() -> None:
    tags = base_tags(project="gridcast", stack="aws", owner="ml", cost_center="cc-1")
    assert set(tags) == set(REQUIRED_TAG_KEYS)
    assert merge_tags(tags, {"component": "x"}) == {**tags, "component": "x"}
    with pytest.raises(ValueError, match="owner"):
        merge_tags(tags, {"owner": ""})
    with pytest.raises(ValueError, match="cost-center"):
        merge_tags({"project": "p", "stack": "s", "owner": "o"})


def test_github_subject_is_pinned_to_one_repository_and_environment() -> None:
    assert github_oidc.subject("gridcast/gridcast", "aws") == "repo:gridcast/gridcast:environment:aws"
    assert github_oidc.is_pinned_subject("repo:gridcast/gridcast:environment:aws")
    for loose in (
        "repo:gridcast/*:environment:aws",
        "repo:gridcast/gridcast:*",
        "repo:gridcast/gridcast:ref:x",
    ):
        assert not github_oidc.is_pinned_subject(loose)
    with pytest.raises(ValueError):
        github_oidc.subject("gridcast/gridcast", "*")


SUB_A = "3f2e1d0c-9b8a-4765-8432-10fedcba9876"
SUB_B = "00000000-1111-4222-8333-444444444444"


@pytest.mark.parametrize("prefix", ["gridcast-azure", "gridcast-a-very-long-stack-name-for-testing"])
def test_global_azure_names_fit_their_alphabets(prefix: str) -> None:
    storage = azure_naming.storage_account_name(prefix, SUB_A)
    assert re.fullmatch(r"[a-z0-9]{3,24}", storage)
    registry = azure_naming.container_registry_name(prefix, SUB_A)
    assert re.fullmatch(r"[a-zA-Z0-9]{5,50}", registry)
    vault = azure_naming.key_vault_name(prefix, SUB_A)
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", vault) and "--" not in vault


def test_global_azure_names_are_stable_per_subscription_and_differ_across() -> None:
    for make in (
        azure_naming.storage_account_name,
        azure_naming.container_registry_name,
        azure_naming.key_vault_name,
    ):
        assert make("gridcast-azure", SUB_A) == make("gridcast-azure", SUB_A)
        assert make("gridcast-azure", SUB_A) != make("gridcast-azure", SUB_B)


def test_role_assignment_names_are_deterministic_guids_unique_per_triple() -> None:
    scope = f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"
    role = azure_roles.role_definition_id(SUB_A, "AcrPull")
    name = azure_roles.role_assignment_name(scope, "principal-1", role)
    assert uuid.UUID(name).version == 5
    assert name == azure_roles.role_assignment_name(scope, "principal-1", role)
    others = {
        azure_roles.role_assignment_name(scope + "x", "principal-1", role),
        azure_roles.role_assignment_name(scope, "principal-2", role),
        azure_roles.role_assignment_name(scope, "principal-1", azure_roles.role_definition_id(SUB_A, "AcrPush")),
    }
    assert name not in others and len(others) == 3


def test_role_catalogue_keeps_broad_roles_out() -> None:
    assert not set(azure_roles.ASSIGNABLE_ROLES.values()) & set(azure_roles.FORBIDDEN_ROLES.values())
    assert azure_roles.role_guid(azure_roles.role_definition_id(SUB_A, "AzureML Data Scientist")) == (
        "f6c7c914-8db3-469d-8ca1-694a8f32e121"
    )
    assert azure_roles.is_single_resource_scope(
        f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
    )
    assert not azure_roles.is_single_resource_scope(f"/subscriptions/{SUB_A}/resourceGroups/rg")
    assert not azure_roles.is_single_resource_scope(f"/subscriptions/{SUB_A}")
