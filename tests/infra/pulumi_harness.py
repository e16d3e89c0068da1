"""Pulumi test harness for tests/infra: realistic mocks, recorded inputs, one isolated run per call.

Pulumi keeps its runtime state (settings, config, root stack) in context variables, so every run
happens inside a brand-new ``contextvars.Context``: no state leaks between runs or test modules,
and a run never needs the ``pulumi`` CLI or a network.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import runpy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "infra" / "__main__.py"

SUBSCRIPTION_ID = "3f2e1d0c-9b8a-4765-8432-10fedcba9876"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEPLOYER_OBJECT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ACCOUNT_ID = "123456789012"
_IDS = uuid.UUID("9a6f7e0c-1d2b-4c3a-8e4f-5a6b7c8d9e0f")


def _fake_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_IDS, "|".join(parts)))


def _suffix(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:7]


@dataclass(frozen=True)
class Recorded:
    """One resource the program registered: its inputs as sent, and the state the mock returned."""

    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]


@dataclass
class StackRun:
    """What a program run produced: resolved outputs, the program's return value, every resource."""

    outputs: dict[str, Any]
    value: Any
    resources: list[Recorded] = field(default_factory=list)
    #: URNs the mock engine registered; a child's URN carries its parent's type (``Parent$Child``).
    urns: list[str] = field(default_factory=list)

    @property
    def custom(self) -> list[Recorded]:
        """Cloud resources only (no components, no providers)."""
        return [r for r in self.resources if not r.type.startswith(("gridcast:", "pulumi:"))]

    def of_type(self, token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == token]

    def named(self, name: str) -> Recorded:
        (match,) = [r for r in self.resources if r.name == name]
        return match


class GridcastMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes the way Azure and AWS would, and records them."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.recorded: list[Recorded] = []

    # -- invokes ---------------------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "objectId": DEPLOYER_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }, []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/session",
                "id": ACCOUNT_ID,
                "userId": "AROAEXAMPLEID:session",
            }, []
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "id": "aws",
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsSuffix": "com.amazonaws",
            }, []
        raise NotImplementedError(f"unexpected invoke {args.token}: the program must not depend on it")

    # -- resources -------------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        extra: dict[str, Any]
        if args.typ.startswith("pulumi:providers:"):
            resource_id, extra = f"{args.name}-provider-id", {}
        elif args.typ.startswith("azure-native:"):
            resource_id, extra = self._azure(args.typ, args.name, inputs)
        elif args.typ.startswith("aws:"):
            resource_id, extra = self._aws(args.typ, args.name, inputs)
        else:
            resource_id, extra = f"{args.name}-id", {}
        state = {**inputs, **extra}
        self.recorded.append(Recorded(args.typ, args.name, inputs, state))
        return resource_id, state

    def _azure(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        sub = f"/subscriptions/{SUBSCRIPTION_ID}"
        rg = f"{sub}/resourceGroups/{inputs.get('resourceGroupName', '')}"
        kind = typ.split(":", 1)[1]
        extra: dict[str, Any] = {}
        if kind == "resources:ResourceGroup":
            rid, short = f"{sub}/resourceGroups/{inputs['resourceGroupName']}", inputs["resourceGroupName"]
        elif kind == "managedidentity:UserAssignedIdentity":
            short = inputs["resourceName"]
            rid = f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{short}"
            extra = {
                "clientId": _fake_uuid("client", short),
                "principalId": _fake_uuid("principal", short),
                "tenantId": TENANT_ID,
            }
        elif kind == "managedidentity:FederatedIdentityCredential":
            short = inputs["federatedIdentityCredentialResourceName"]
            rid = (
                f"{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{inputs['resourceName']}"
                f"/federatedIdentityCredentials/{short}"
            )
        elif kind == "storage:StorageAccount":
            short = inputs["accountName"]
            rid = f"{rg}/providers/Microsoft.Storage/storageAccounts/{short}"
            extra = {"primaryEndpoints": {"blob": f"https://{short}.blob.core.windows.net/"}}
        elif kind == "storage:BlobContainer":
            short = inputs["containerName"]
            rid = (
                f"{rg}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"
                f"/blobServices/default/containers/{short}"
            )
        elif kind == "keyvault:Vault":
            short = inputs["vaultName"]
            rid = f"{rg}/providers/Microsoft.KeyVault/vaults/{short}"
            extra = {"properties": {**inputs["properties"], "vaultUri": f"https://{short}.vault.azure.net/"}}
        elif kind == "operationalinsights:Workspace":
            short = inputs["workspaceName"]
            rid = f"{rg}/providers/Microsoft.OperationalInsights/workspaces/{short}"
            extra = {"customerId": _fake_uuid("law", short)}
        elif kind == "applicationinsights:Component":
            short = inputs["resourceName"]
            rid = f"{rg}/providers/Microsoft.Insights/components/{short}"
            extra = {"instrumentationKey": _fake_uuid("appi", short)}
        elif kind == "containerregistry:Registry":
            short = inputs["registryName"]
            rid = f"{rg}/providers/Microsoft.ContainerRegistry/registries/{short}"
            extra = {"loginServer": f"{short}.azurecr.io"}
        elif kind == "machinelearningservices:Workspace":
            short = inputs["workspaceName"]
            rid = f"{rg}/providers/Microsoft.MachineLearningServices/workspaces/{short}"
            extra = {
                "mlFlowTrackingUri": f"azureml://{inputs['location']}.api.azureml.ms/mlflow/v1.0{rid}",
                "workspaceId": _fake_uuid("mlw", short),
                "discoveryUrl": f"https://{inputs['location']}.api.azureml.ms/discovery",
            }
        elif kind == "machinelearningservices:Compute":
            short = inputs["computeName"]
            rid = (
                f"{rg}/providers/Microsoft.MachineLearningServices/workspaces/{inputs['workspaceName']}"
                f"/computes/{short}"
            )
        elif kind == "machinelearningservices:Datastore":
            short = inputs["name"]
            rid = (
                f"{rg}/providers/Microsoft.MachineLearningServices/workspaces/{inputs['workspaceName']}"
                f"/datastores/{short}"
            )
        elif kind == "network:PrivateEndpoint":
            short = inputs["privateEndpointName"]
            rid = f"{rg}/providers/Microsoft.Network/privateEndpoints/{short}"
        elif kind == "authorization:RoleAssignment":
            short = inputs["roleAssignmentName"]
            rid = f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{short}"
        else:
            raise NotImplementedError(f"add a realistic mock for {typ}")
        if "identity" in inputs:
            extra["identity"] = _identity_state(inputs["identity"])
        return rid, {"id": rid, "name": short, **extra}

    def _aws(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        acct, region = ACCOUNT_ID, self.region
        kind = typ.split(":", 1)[1]
        autoname = f"{name}-{_suffix(name)}"
        if kind == "kms/key:Key":
            key_id = _fake_uuid("kms", name)
            return key_id, {"keyId": key_id, "arn": f"arn:aws:kms:{region}:{acct}:key/{key_id}"}
        if kind == "kms/alias:Alias":
            return inputs["name"], {"arn": f"arn:aws:kms:{region}:{acct}:{inputs['name']}"}
        if kind == "s3/bucket:Bucket":
            bucket = inputs.get("bucket") or autoname
            return bucket, {
                "bucket": bucket,
                "arn": f"arn:aws:s3:::{bucket}",
                "bucketDomainName": f"{bucket}.s3.amazonaws.com",
                "region": region,
            }
        if kind.startswith("s3/bucket"):  # versioning, encryption, public access block, policy...
            return inputs["bucket"], {}
        if kind == "ecr/repository:Repository":
            repo = inputs.get("name") or autoname
            return repo, {
                "name": repo,
                "arn": f"arn:aws:ecr:{region}:{acct}:repository/{repo}",
                "registryId": acct,
                "repositoryUrl": f"{acct}.dkr.ecr.{region}.amazonaws.com/{repo}",
            }
        if kind == "ecr/lifecyclePolicy:LifecyclePolicy":
            return inputs["repository"], {"registryId": acct}
        if kind == "cloudwatch/logGroup:LogGroup":
            group = inputs.get("name") or autoname
            return group, {"name": group, "arn": f"arn:aws:logs:{region}:{acct}:log-group:{group}"}
        if kind == "sagemaker/mlflowTrackingServer:MlflowTrackingServer":
            server = inputs["trackingServerName"]
            return server, {
                "arn": f"arn:aws:sagemaker:{region}:{acct}:mlflow-tracking-server/{server}",
                "trackingServerUrl": f"https://t-{_suffix(server)}.{region}.experiments.sagemaker.aws",
            }
        if kind == "iam/role:Role":
            role = inputs.get("name") or autoname
            return role, {"name": role, "arn": f"arn:aws:iam::{acct}:role/{role}", "uniqueId": "AROA" + role}
        if kind == "iam/rolePolicy:RolePolicy":
            policy = inputs.get("name") or autoname
            return f"{inputs['role']}:{policy}", {"name": policy}
        if kind == "iam/openIdConnectProvider:OpenIdConnectProvider":
            host = inputs["url"].removeprefix("https://")
            return host, {"arn": f"arn:aws:iam::{acct}:oidc-provider/{host}"}
        raise NotImplementedError(f"add a realistic mock for {typ}")


def _identity_state(identity: Mapping[str, Any]) -> dict[str, Any]:
    """ARM answers a list of identity ids with a map id -> {clientId, principalId}."""
    assigned = {}
    for resource_id in identity.get("userAssignedIdentities") or []:
        short = resource_id.rsplit("/", 1)[-1]
        assigned[resource_id] = {
            "clientId": _fake_uuid("client", short),
            "principalId": _fake_uuid("principal", short),
        }
    return {"type": identity["type"], "tenantId": TENANT_ID, "userAssignedIdentities": assigned}


def run_pulumi(
    program: Callable[[], tuple[Any, Mapping[str, Any]]],
    *,
    stack: str,
    config: Mapping[str, str],
    region: str,
) -> StackRun:
    """Run ``program`` under mocks in a fresh context; it returns (value, outputs to resolve)."""
    mocks = GridcastMocks(region)
    monitor = MockMonitor(mocks)

    def isolated() -> StackRun:
        pulumi.runtime.set_all_config(dict(config))
        pulumi.runtime.set_mocks(mocks, project="gridcast", stack=stack, preview=False, monitor=monitor)
        run = StackRun(outputs={}, value=None, resources=mocks.recorded)

        @pulumi.runtime.test
        def execute() -> pulumi.Output[None]:
            run.value, outputs = program()
            return pulumi.Output.all(**outputs).apply(run.outputs.update)

        execute()
        run.urns = sorted(monitor.resources)
        return run

    return contextvars.Context().run(isolated)


def stack_config(cloud: str) -> dict[str, str]:
    """Config as the CLI would pass it: Pulumi.yaml defaults overlaid with Pulumi.<cloud>.yaml."""
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((REPO_ROOT / f"Pulumi.{cloud}.yaml").read_text())
    config = {f"gridcast:{key}": spec["default"] for key, spec in project["config"].items() if "default" in spec}
    config.update(stack["config"])
    return {key: _config_text(value) for key, value in config.items()}


def _config_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def region_of(config: Mapping[str, str]) -> str:
    return config.get("aws:region") or config["azure-native:location"]


def run_main(cloud: str, config: Mapping[str, str] | None = None) -> StackRun:
    """Run infra/__main__.py exactly as Pulumi would, with only config set."""
    config = dict(stack_config(cloud) if config is None else config)

    def program() -> tuple[Any, Mapping[str, Any]]:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        return root, dict(root.outputs)  # type: ignore[union-attr]

    return run_pulumi(program, stack=cloud, config=config, region=region_of(config))


# -- policy engine stand-ins -------------------------------------------------------------------------
def _policy_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource_validation_args(resource: Recorded) -> ResourceValidationArgs:
    """What the policy engine hands a resource policy: inputs behind the unknown-checking proxy."""
    urn = f"urn:pulumi:test::gridcast::{resource.type}::{resource.name}"
    props = unknown_checking_proxy(copy.deepcopy(resource.inputs))
    return ResourceValidationArgs(resource.type, props, urn, resource.name, _policy_options(), None)


def stack_validation_args(resources: list[Recorded]) -> StackValidationArgs:
    """What the policy engine hands a stack policy: every resource's final state, proxied."""
    return StackValidationArgs(
        [
            PolicyResource(
                r.type,
                unknown_checking_proxy(copy.deepcopy(r.state)),
                f"urn:pulumi:test::gridcast::{r.type}::{r.name}",
                r.name,
                _policy_options(),
                None,
                None,
                [],
                {},
            )
            for r in resources
        ]
    )
