"""``AzureMlStack``: everything an AzureML training job needs, with the smallest grants that work.

Three identities, each with its own short list of roles scoped to single resources:

* **job identity** - attached to the compute cluster; jobs run as it.
* **workspace identity** - the workspace's primary identity; AzureML uses it to reach its storage,
  key vault and registry (identity-based, so the storage account needs no shared keys).
* **deploy identity** - federated with GitHub Actions OIDC; CI pushes images and submits jobs as it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    authorization,
    containerregistry,
    keyvault,
    machinelearningservices,
    managedidentity,
    network,
    operationalinsights,
    resources,
    storage,
)

from infra import azure_naming, azure_roles, github_oidc
from infra.outputs import StackOutputs
from infra.tags import merge_tags


class _Placement(TypedDict):
    """Where every top-level Azure resource goes, and what it is tagged with."""

    resource_group_name: pulumi.Output[str]
    location: str
    tags: dict[str, str]


@dataclass(frozen=True)
class AzureMlStackArgs:
    """Inputs of :class:`AzureMlStack`; defaults are the secure choice."""

    location: str
    tags: Mapping[str, str]
    github_repository: str
    github_environment: str
    #: The cluster's VM size; exported as ``compute_size`` (the target is the cluster's name).
    compute_vm_size: str = "Standard_DS3_v2"
    compute_max_nodes: int = 2
    #: Low-priority nodes are cheaper but can be pre-empted; off so jobs are not lost by default.
    low_priority_compute: bool = False
    #: On (default): the workspace endpoint is public, Entra ID only, so the GitHub-hosted deploy job
    #: reaches it; compute still runs in the managed network without public IPs. Off: reachable only
    #: through a private endpoint in ``private_endpoint_subnet_id``, from a self-hosted runner there.
    public_network_access: bool = True
    #: Private option only: resource id of the subnet (with the runner's network) the endpoint goes in.
    private_endpoint_subnet_id: str = ""
    log_retention_days: int = 30
    #: ISO 8601 duration an idle node is kept before the cluster scales back to zero.
    compute_idle_before_scale_down: str = "PT15M"
    compute_name: str = "cpu-cluster"
    datastore_name: str = "gridcast"
    container_name: str = "gridcast"
    image_name: str = "gridcast"


#: The private-link sub-resource of an AzureML workspace (its API, studio and notebooks endpoints).
WORKSPACE_PRIVATE_LINK_GROUP = "amlworkspace"


class AzureMlStack(pulumi.ComponentResource):
    """Resource group, identities, storage, key vault, monitoring, registry, workspace and compute."""

    outputs: StackOutputs

    def __init__(self, name: str, args: AzureMlStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gridcast:azure:AzureMlStack", name, None, opts)
        if not args.public_network_access and not args.private_endpoint_subnet_id:
            raise ValueError(
                "a private workspace (public_network_access=False) needs private_endpoint_subnet_id: "
                "without a private endpoint nothing could reach it"
            )
        self._name = name
        tags = merge_tags(args.tags, {"component": "azureml"})
        child = pulumi.ResourceOptions(parent=self)

        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self._subscription_id = client.subscription_id
        tenant_id = client.tenant_id

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg", resource_group_name=f"rg-{name}", location=args.location, tags=tags, opts=child
        )
        rg = self.resource_group.name
        placed = _Placement(resource_group_name=rg, location=args.location, tags=tags)

        self.job_identity = managedidentity.UserAssignedIdentity(
            f"{name}-job-identity", resource_name_=f"id-{name}-jobs", **placed, opts=child
        )
        self.workspace_identity = managedidentity.UserAssignedIdentity(
            f"{name}-workspace-identity", resource_name_=f"id-{name}-workspace", **placed, opts=child
        )
        self.deploy_identity = managedidentity.UserAssignedIdentity(
            f"{name}-deploy-identity", resource_name_=f"id-{name}-deploy", **placed, opts=child
        )
        self.github_federation = managedidentity.FederatedIdentityCredential(
            f"{name}-github-federation",
            federated_identity_credential_resource_name=f"github-{args.github_environment}",
            resource_group_name=rg,
            resource_name_=self.deploy_identity.name,
            issuer=github_oidc.ISSUER,
            subject=github_oidc.subject(args.github_repository, args.github_environment),
            audiences=[github_oidc.AZURE_AUDIENCE],
            opts=child,
        )

        self.storage_account = storage.StorageAccount(
            f"{name}-storage",
            account_name=self._subscription_id.apply(lambda s: azure_naming.storage_account_name(name, s)),
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=storage.SkuName.STANDARD_LRS),
            # Entra ID only: AzureML reaches it through identity-based datastores, not account keys.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_blob_public_access=False,
            allow_cross_tenant_replication=False,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            enable_https_traffic_only=True,
            **placed,
            opts=child,
        )
        self.container = storage.BlobContainer(
            f"{name}-container",
            container_name=args.container_name,
            account_name=self.storage_account.name,
            resource_group_name=rg,
            public_access=storage.PublicAccess.NONE,
            opts=child,
        )

        self.key_vault = keyvault.Vault(
            f"{name}-key-vault",
            vault_name=self._subscription_id.apply(lambda s: azure_naming.key_vault_name(name, s)),
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                enable_purge_protection=True,
            ),
            **placed,
            opts=child,
        )

        self.log_analytics = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=f"log-{name}",
            sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=args.log_retention_days,
            **placed,
            opts=child,
        )
        self.app_insights = applicationinsights.Component(
            f"{name}-app-insights",
            resource_name_=f"appi-{name}",
            kind="web",
            application_type=applicationinsights.ApplicationType.WEB,
            ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
            workspace_resource_id=self.log_analytics.id,
            **placed,
            opts=child,
        )

        self.registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=self._subscription_id.apply(lambda s: azure_naming.container_registry_name(name, s)),
            # Premium: the workspace's managed network reaches the registry through a private
            # endpoint, which only the Premium tier offers.
            sku=containerregistry.SkuArgs(name=containerregistry.SkuName.PREMIUM),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            **placed,
            opts=child,
        )

        # The workspace identity's documented role set (Microsoft Learn, "Set up authentication between
        # Azure Machine Learning and other services", user-assigned identity table; and "Workspace managed
        # network isolation" for the approver role): made before the workspace, whose creation checks them.
        workspace_grants = [
            self._grant("workspace-storage-contributor", self.workspace_identity, "Contributor", self.storage_account),
            # Identity-based system datastores: the workspace reads and writes blobs as itself...
            self._grant(
                "workspace-blob-data", self.workspace_identity, "Storage Blob Data Contributor", self.storage_account
            ),
            # ...and keeps code snapshots on the account's file share.
            self._grant(
                "workspace-file-data",
                self.workspace_identity,
                "Storage File Data Privileged Contributor",
                self.storage_account,
            ),
            self._grant("workspace-kv-contributor", self.workspace_identity, "Contributor", self.key_vault),
            # RBAC-mode vault: connection secrets and keys (Key Vault Administrator is data plane only).
            self._grant("workspace-kv-admin", self.workspace_identity, "Key Vault Administrator", self.key_vault),
            self._grant("workspace-acr-contributor", self.workspace_identity, "Contributor", self.registry),
            self._grant("workspace-appi-contributor", self.workspace_identity, "Contributor", self.app_insights),
            # Managed network: since 2025-04-30 Azure no longer approves the private endpoints to the
            # workspace's dependencies by itself; the workspace identity approves them with this role.
            *(
                self._grant(
                    f"workspace-{label}-pe-approver",
                    self.workspace_identity,
                    "Azure AI Enterprise Network Connection Approver",
                    resource,
                )
                for label, resource in (
                    ("storage", self.storage_account),
                    ("kv", self.key_vault),
                    ("acr", self.registry),
                )
            ),
        ]

        self.workspace = machinelearningservices.Workspace(
            f"{name}-workspace",
            workspace_name=f"mlw-{name}",
            sku=machinelearningservices.SkuArgs(name="Basic", tier=machinelearningservices.SkuTier.BASIC),
            identity=machinelearningservices.ManagedServiceIdentityArgs(
                type=machinelearningservices.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.workspace_identity.id],
            ),
            primary_user_assigned_identity=self.workspace_identity.id,
            storage_account=self.storage_account.id,
            key_vault=self.key_vault.id,
            application_insights=self.app_insights.id,
            container_registry=self.registry.id,
            system_datastores_auth_mode=machinelearningservices.SystemDatastoresAuthMode.IDENTITY,
            v1_legacy_mode=False,
            # Public (the default): Entra ID tokens only, reachable from the GitHub-hosted runner that
            # submits. Private: only through the private endpoint below, from a runner in its network.
            public_network_access=(
                machinelearningservices.PublicNetworkAccessType.ENABLED
                if args.public_network_access
                else machinelearningservices.PublicNetworkAccessType.DISABLED
            ),
            # A managed network lets compute nodes run without public IPs and no VNet of our own.
            managed_network=machinelearningservices.ManagedNetworkSettingsArgs(
                isolation_mode=machinelearningservices.IsolationMode.ALLOW_INTERNET_OUTBOUND
            ),
            image_build_compute=args.compute_name,
            **placed,
            opts=pulumi.ResourceOptions(parent=self, depends_on=workspace_grants),
        )

        self.compute = machinelearningservices.Compute(
            f"{name}-compute",
            compute_name=args.compute_name,
            workspace_name=self.workspace.name,
            identity=machinelearningservices.ManagedServiceIdentityArgs(
                type=machinelearningservices.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.job_identity.id],
            ),
            properties=machinelearningservices.AmlComputeArgs(
                compute_type="AmlCompute",
                disable_local_auth=True,
                properties=machinelearningservices.AmlComputePropertiesArgs(
                    vm_size=args.compute_vm_size,
                    vm_priority=(
                        machinelearningservices.VmPriority.LOW_PRIORITY
                        if args.low_priority_compute
                        else machinelearningservices.VmPriority.DEDICATED
                    ),
                    os_type=machinelearningservices.OsType.LINUX,
                    scale_settings=machinelearningservices.ScaleSettingsArgs(
                        min_node_count=0,
                        max_node_count=args.compute_max_nodes,
                        node_idle_time_before_scale_down=args.compute_idle_before_scale_down,
                    ),
                    enable_node_public_ip=False,
                    remote_login_port_public_access=machinelearningservices.RemoteLoginPortPublicAccess.DISABLED,
                ),
            ),
            **placed,
            opts=child,
        )

        self.datastore = machinelearningservices.Datastore(
            f"{name}-datastore",
            name=args.datastore_name,
            resource_group_name=rg,
            workspace_name=self.workspace.name,
            properties=machinelearningservices.AzureBlobDatastoreArgs(
                datastore_type="AzureBlob",
                account_name=self.storage_account.name,
                container_name=self.container.name,
                subscription_id=self._subscription_id,
                resource_group=rg,
                # No stored credential: jobs reach the data as the job identity.
                credentials=machinelearningservices.NoneDatastoreCredentialsArgs(credentials_type="None"),
                service_data_access_auth_identity=(
                    machinelearningservices.ServiceDataAccessAuthIdentity.WORKSPACE_USER_ASSIGNED_IDENTITY
                ),
            ),
            opts=child,
        )

        # Documented for the workspace itself: Contributor on the workspace, which exists only now.
        workspace_self = self._grant(
            "workspace-self-contributor", self.workspace_identity, "Contributor", self.workspace
        )

        self.private_endpoint: network.PrivateEndpoint | None = None
        if not args.public_network_access:
            self.private_endpoint = network.PrivateEndpoint(
                f"{name}-workspace-endpoint",
                private_endpoint_name=f"pe-{name}-workspace",
                subnet=network.SubnetArgs(id=args.private_endpoint_subnet_id),
                private_link_service_connections=[
                    network.PrivateLinkServiceConnectionArgs(
                        name=f"{name}-workspace",
                        private_link_service_id=self.workspace.id,
                        group_ids=[WORKSPACE_PRIVATE_LINK_GROUP],
                    )
                ],
                **placed,
                opts=child,
            )

        self.grants = [
            *workspace_grants,
            workspace_self,
            # The job identity: pull the training image, read data and write outputs, log to MLflow.
            self._grant("job-acr-pull", self.job_identity, "AcrPull", self.registry),
            self._grant("job-blob-data", self.job_identity, "Storage Blob Data Contributor", self.storage_account),
            self._grant("job-ml-data-scientist", self.job_identity, "AzureML Data Scientist", self.workspace),
            # The deploy identity (CI): push images, stage data, submit jobs.
            self._grant("deploy-acr-push", self.deploy_identity, "AcrPush", self.registry),
            self._grant(
                "deploy-blob-data",
                self.deploy_identity,
                "Storage Blob Data Contributor",
                self.storage_account,
            ),
            self._grant("deploy-ml-data-scientist", self.deploy_identity, "AzureML Data Scientist", self.workspace),
        ]

        datastore_uri = self.datastore.name.apply(lambda ds: f"azureml://datastores/{ds}/paths")
        self.outputs = StackOutputs(
            cloud="azure",
            region=args.location,
            name_prefix=name,
            image_repository=pulumi.Output.concat(self.registry.login_server, "/", args.image_name),
            compute_target=self.compute.name,
            compute_size=args.compute_vm_size,
            job_identity=self.job_identity.client_id,
            mlflow_tracking_uri=self.workspace.ml_flow_tracking_uri,
            data_uri=pulumi.Output.concat(datastore_uri, "/data/"),
            outputs_uri=pulumi.Output.concat(datastore_uri, "/outputs/"),
            extras={
                "subscription_id": self._subscription_id,
                "tenant_id": tenant_id,
                "resource_group": rg,
                "workspace_name": self.workspace.name,
                "registry_login_server": self.registry.login_server,
                "storage_account": self.storage_account.name,
                "job_identity_client_id": self.job_identity.client_id,
                "job_identity_resource_id": self.job_identity.id,
                "deploy_identity_client_id": self.deploy_identity.client_id,
            },
        )
        self.register_outputs(self.outputs.as_dict())

    def _grant(
        self,
        label: str,
        identity: managedidentity.UserAssignedIdentity,
        role: str,
        resource: pulumi.CustomResource,
    ) -> authorization.RoleAssignment:
        """Assign built-in ``role`` to ``identity`` on exactly ``resource``, never a group or subscription."""
        role_definition = self._subscription_id.apply(lambda s: azure_roles.role_definition_id(s, role))
        assignment_name = pulumi.Output.all(resource.id, identity.principal_id, role_definition).apply(
            lambda parts: azure_roles.role_assignment_name(*parts)
        )
        return authorization.RoleAssignment(
            f"{self._name}-{label}",
            role_assignment_name=assignment_name,
            scope=resource.id,
            principal_id=identity.principal_id,
            # Declaring the type skips the directory lookup that fails for brand-new identities.
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=role_definition,
            description=f"gridcast: {role} for {label.split('-')[0]} identity",
            opts=pulumi.ResourceOptions(parent=self),
        )
