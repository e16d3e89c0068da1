"""AzureMlStack under mocks: every security property, resource by resource."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_harness import SUBSCRIPTION_ID, TENANT_ID, Recorded, StackRun, run_main, run_pulumi, stack_config

from infra import azure_roles
from infra.azure_stack import AzureMlStack, AzureMlStackArgs
from infra.tags import REQUIRED_TAG_KEYS

NAME = "gridcast-azure"
ROLE = "azure-native:authorization:RoleAssignment"


def role_name_of(assignment: Recorded) -> str:
    guid = azure_roles.role_guid(assignment.inputs["roleDefinitionId"])
    return {v: k for k, v in azure_roles.ASSIGNABLE_ROLES.items()}.get(guid or "", f"unknown {guid}")


def grants_of(run: StackRun, identity: Recorded) -> set[tuple[str, str]]:
    """(role name, scope resource name) for every assignment to ``identity``."""
    principal = identity.state["principalId"]
    by_id = {r.state.get("id"): r.name for r in run.custom}
    return {
        (role_name_of(a), by_id[a.inputs["scope"]]) for a in run.of_type(ROLE) if a.inputs["principalId"] == principal
    }


def test_storage_account_is_entra_only_private_and_tls12(azure_run: StackRun) -> None:
    account = azure_run.named(f"{NAME}-storage").inputs
    assert account["kind"] == "StorageV2"
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["defaultToOAuthAuthentication"] is True
    container = azure_run.named(f"{NAME}-container").inputs
    assert container["publicAccess"] == "None"
    assert container["accountName"] == account["accountName"]


def test_key_vault_uses_rbac_and_purge_protection(azure_run: StackRun) -> None:
    props = azure_run.named(f"{NAME}-key-vault").inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert props["tenantId"] == TENANT_ID
    assert not props.get("accessPolicies")


def test_monitoring_is_workspace_based_with_retention(azure_run: StackRun) -> None:
    logs = azure_run.named(f"{NAME}-logs")
    assert logs.inputs["retentionInDays"] == 30
    insights = azure_run.named(f"{NAME}-app-insights").inputs
    assert insights["ingestionMode"] == "LogAnalytics"
    assert insights["workspaceResourceId"] == logs.state["id"]


def test_registry_has_no_admin_user_and_no_anonymous_pull(azure_run: StackRun) -> None:
    registry = azure_run.named(f"{NAME}-registry").inputs
    assert registry["adminUserEnabled"] is False
    assert registry["anonymousPullEnabled"] is False


def test_workspace_runs_as_its_user_assigned_identity_with_identity_datastores(azure_run: StackRun) -> None:
    workspace = azure_run.named(f"{NAME}-workspace").inputs
    identity_id = azure_run.named(f"{NAME}-workspace-identity").state["id"]
    assert workspace["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}
    assert workspace["primaryUserAssignedIdentity"] == identity_id
    assert workspace["systemDatastoresAuthMode"] == "Identity"
    assert workspace["v1LegacyMode"] is False
    # Public endpoint, Entra ID only: the GitHub-hosted deploy job submits to it (test_network_posture.py).
    assert workspace["publicNetworkAccess"] == "Enabled"
    assert not azure_run.of_type("azure-native:network:PrivateEndpoint")
    assert workspace["managedNetwork"]["isolationMode"] == "AllowInternetOutbound"
    linked = {
        "storageAccount": f"{NAME}-storage",
        "keyVault": f"{NAME}-key-vault",
        "applicationInsights": f"{NAME}-app-insights",
        "containerRegistry": f"{NAME}-registry",
    }
    for key, resource in linked.items():
        assert workspace[key] == azure_run.named(resource).state["id"], key


def test_compute_scales_to_zero_privately_as_the_job_identity(azure_run: StackRun) -> None:
    compute = azure_run.named(f"{NAME}-compute").inputs
    job_identity = azure_run.named(f"{NAME}-job-identity").state["id"]
    assert compute["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [job_identity]}
    aml = compute["properties"]
    assert aml["computeType"] == "AmlCompute"
    assert aml["disableLocalAuth"] is True
    cluster = aml["properties"]
    assert cluster["scaleSettings"] == {
        "minNodeCount": 0,
        "maxNodeCount": 2,
        "nodeIdleTimeBeforeScaleDown": "PT15M",
    }
    assert cluster["enableNodePublicIp"] is False
    assert cluster["remoteLoginPortPublicAccess"] == "Disabled"
    assert cluster["vmPriority"] == "Dedicated"
    assert cluster["vmSize"] == "Standard_DS3_v2"


def test_datastore_holds_no_credentials(azure_run: StackRun) -> None:
    datastore = azure_run.named(f"{NAME}-datastore").inputs["properties"]
    assert datastore["credentials"] == {"credentialsType": "None"}
    assert datastore["accountName"] == azure_run.named(f"{NAME}-storage").inputs["accountName"]


def test_job_identity_gets_exactly_the_three_roles_it_needs(azure_run: StackRun) -> None:
    job = azure_run.named(f"{NAME}-job-identity")
    assert grants_of(azure_run, job) == {
        ("AcrPull", f"{NAME}-registry"),
        ("Storage Blob Data Contributor", f"{NAME}-storage"),
        ("AzureML Data Scientist", f"{NAME}-workspace"),
    }


#: Microsoft's documented set for a workspace's user-assigned identity (infra/README.md names the pages):
#: Contributor on the workspace and each dependency, the data-plane roles on storage and an RBAC vault,
#: and, for the managed network, the private-endpoint approver role on each dependency it reaches.
WORKSPACE_IDENTITY_ROLES = {
    ("Contributor", f"{NAME}-workspace"),
    ("Contributor", f"{NAME}-storage"),
    ("Storage Blob Data Contributor", f"{NAME}-storage"),
    ("Storage File Data Privileged Contributor", f"{NAME}-storage"),
    ("Contributor", f"{NAME}-key-vault"),
    ("Key Vault Administrator", f"{NAME}-key-vault"),
    ("Contributor", f"{NAME}-registry"),
    ("Contributor", f"{NAME}-app-insights"),
    ("Azure AI Enterprise Network Connection Approver", f"{NAME}-storage"),
    ("Azure AI Enterprise Network Connection Approver", f"{NAME}-key-vault"),
    ("Azure AI Enterprise Network Connection Approver", f"{NAME}-registry"),
}


def test_workspace_identity_gets_the_documented_role_set_and_deploy_only_data_plane_roles(
    azure_run: StackRun,
) -> None:
    assert grants_of(azure_run, azure_run.named(f"{NAME}-workspace-identity")) == WORKSPACE_IDENTITY_ROLES
    assert grants_of(azure_run, azure_run.named(f"{NAME}-deploy-identity")) == {
        ("AcrPush", f"{NAME}-registry"),
        ("Storage Blob Data Contributor", f"{NAME}-storage"),
        ("AzureML Data Scientist", f"{NAME}-workspace"),
    }


def test_every_role_assignment_is_resource_scoped_deterministic_and_never_broad(azure_run: StackRun) -> None:
    assignments = azure_run.of_type(ROLE)
    assert len(assignments) == len(WORKSPACE_IDENTITY_ROLES) + 3 + 3  # workspace, job, deploy identities
    resource_ids = {r.state["id"] for r in azure_run.custom if r.type != ROLE}
    forbidden = set(azure_roles.FORBIDDEN_ROLES.values())
    for assignment in assignments:
        props = assignment.inputs
        assert props["scope"] in resource_ids
        assert azure_roles.is_single_resource_scope(props["scope"])
        assert "/resourceGroups/" in props["scope"] and props["scope"].count("/providers/") == 1
        assert props["roleDefinitionId"].startswith(f"/subscriptions/{SUBSCRIPTION_ID}/providers/")
        assert azure_roles.role_guid(props["roleDefinitionId"]) not in forbidden
        assert props["principalType"] == "ServicePrincipal"
        expected = azure_roles.role_assignment_name(props["scope"], props["principalId"], props["roleDefinitionId"])
        assert props["roleAssignmentName"] == expected
    assert len({a.inputs["roleAssignmentName"] for a in assignments}) == len(assignments)


def test_workspace_waits_for_the_grants_it_validates(azure_run: StackRun) -> None:
    order = [r.name for r in azure_run.resources]
    workspace_grants = [r.name for r in azure_run.of_type(ROLE) if r.name.startswith(f"{NAME}-workspace-")]
    on_itself = f"{NAME}-workspace-self-contributor"  # Contributor on the workspace: only once it exists
    assert len(workspace_grants) == len(WORKSPACE_IDENTITY_ROLES) and on_itself in workspace_grants
    before = [g for g in workspace_grants if g != on_itself]
    assert all(order.index(g) < order.index(f"{NAME}-workspace") for g in before)
    assert order.index(on_itself) > order.index(f"{NAME}-workspace")


def test_github_federation_is_on_the_deploy_identity_only(azure_run: StackRun) -> None:
    (credential,) = azure_run.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    props = credential.inputs
    assert props["resourceName"] == azure_run.named(f"{NAME}-deploy-identity").inputs["resourceName"]
    assert props["issuer"] == "https://token.actions.githubusercontent.com"
    assert props["subject"] == "repo:gridcast/gridcast:environment:azure"
    assert props["audiences"] == ["api://AzureADTokenExchange"]


def test_everything_is_tagged_named_and_parented_by_the_component(azure_run: StackRun) -> None:
    taggable = [r for r in azure_run.custom if r.type != ROLE and "tags" in r.inputs]
    assert len(taggable) == 11
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert {k: tags[k] for k in REQUIRED_TAG_KEYS} == {
            "project": "gridcast",
            "stack": "azure",
            "owner": "ml-platform",
            "cost-center": "grid-analytics",
        }, resource.name
    for resource in azure_run.custom:
        assert resource.name.startswith(f"{NAME}-")
        assert any(u.endswith(f"gridcast:azure:AzureMlStack${resource.type}::{resource.name}") for u in azure_run.urns)


def test_up_is_idempotent_every_input_is_the_same_on_a_second_run(azure_run: StackRun) -> None:
    again = run_main("azure")
    assert {r.name: (r.type, r.inputs) for r in again.resources} == {
        r.name: (r.type, r.inputs) for r in azure_run.resources
    }


def _component(**overrides: Any) -> StackRun:
    args = AzureMlStackArgs(
        location="northeurope",
        tags={"project": "gridcast", "stack": "dev", "owner": "me", "cost-center": "cc"},
        github_repository="grid/forecast",
        github_environment="dev",
        **overrides,
    )

    def program() -> tuple[AzureMlStack, dict[str, Any]]:
        stack = AzureMlStack("gc-dev", args)
        return stack, stack.outputs.as_dict()

    return run_pulumi(program, stack="dev", config={}, region="northeurope")


SUBNET = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-ci/subnets/pe"


def test_the_private_option_comes_with_its_private_endpoint() -> None:
    run = _component(public_network_access=False, private_endpoint_subnet_id=SUBNET)
    workspace = run.named("gc-dev-workspace")
    assert workspace.inputs["publicNetworkAccess"] == "Disabled"
    (endpoint,) = run.of_type("azure-native:network:PrivateEndpoint")
    assert endpoint.inputs["subnet"]["id"] == SUBNET  # (the SDK adds its network-policy defaults)
    (connection,) = endpoint.inputs["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == workspace.state["id"]
    assert connection["groupIds"] == ["amlworkspace"]
    assert endpoint.inputs["location"] == workspace.inputs["location"]


def test_a_private_workspace_without_a_subnet_is_refused() -> None:
    with pytest.raises(ValueError, match="private_endpoint_subnet_id"):
        _component(public_network_access=False)


def test_public_access_and_low_priority_are_opt_in_switches() -> None:
    run = _component(public_network_access=True, low_priority_compute=True, compute_max_nodes=4)
    assert run.named("gc-dev-workspace").inputs["publicNetworkAccess"] == "Enabled"
    cluster = run.named("gc-dev-compute").inputs["properties"]["properties"]
    assert cluster["vmPriority"] == "LowPriority"
    assert cluster["scaleSettings"]["maxNodeCount"] == 4
    assert cluster["scaleSettings"]["minNodeCount"] == 0
    assert run.outputs["region"] == "northeurope"
    assert run.named("gc-dev-github-federation").inputs["subject"] == "repo:grid/forecast:environment:dev"


def test_the_exported_compute_size_is_the_clusters_vm_size() -> None:
    """The target is the cluster's name; the size, which the fleet plan prices, is exported beside it."""
    run = _component(compute_vm_size="Standard_F8s_v2")
    assert run.named("gc-dev-compute").inputs["properties"]["properties"]["vmSize"] == "Standard_F8s_v2"
    assert run.outputs["compute_size"] == "Standard_F8s_v2"
    assert run.outputs["compute_target"] == "cpu-cluster"


def test_component_refuses_tags_without_the_required_keys() -> None:
    with pytest.raises(ValueError, match="cost-center"):
        run_pulumi(
            lambda: (
                AzureMlStack(
                    "gc-bad",
                    AzureMlStackArgs(
                        location="x", tags={"project": "p"}, github_repository="a/b", github_environment="e"
                    ),
                ),
                {},
            ),
            stack="bad",
            config={},
            region="x",
        )


def test_stack_file_region_reaches_every_resource(azure_run: StackRun) -> None:
    location = stack_config("azure")["azure-native:location"]
    located = [r for r in azure_run.custom if "location" in r.inputs]
    assert len(located) == 11
    assert {r.inputs["location"] for r in located} == {location}
