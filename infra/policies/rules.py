"""The security rules of the gridcast stacks, as plain functions over (resource type, properties).

Each resource rule takes the resource's type token and its properties (as the policy engine sees
them: camelCase keys, nested mappings) and returns violation messages; an empty list means
compliant, and a rule returns nothing for types it does not govern. Stack rules see every resource
at once and check that companions exist (e.g. each bucket has its versioning resource).

Nothing here needs the Pulumi engine, so tests call the rules directly; ``pack.py`` wraps them as
mandatory pulumi-policy policies.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra import azure_roles, github_oidc
from infra.aws_policies import SAGEMAKER_SERVICE, UNSCOPABLE_ACTIONS
from infra.tags import missing_required

Props = Mapping[str, Any]
ResourceCheck = Callable[[str, Props], list[str]]
StackCheck = Callable[[Sequence[tuple[str, Props]]], list[str]]

# -- resource type tokens ------------------------------------------------------------------------
AZ_RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
AZ_IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
AZ_FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
AZ_STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
AZ_KEY_VAULT = "azure-native:keyvault:Vault"
AZ_LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
AZ_APP_INSIGHTS = "azure-native:applicationinsights:Component"
AZ_REGISTRY = "azure-native:containerregistry:Registry"
AZ_ML_WORKSPACE = "azure-native:machinelearningservices:Workspace"
AZ_ML_COMPUTE = "azure-native:machinelearningservices:Compute"
AZ_ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
AZ_PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"

AWS_KMS_KEY = "aws:kms/key:Key"
AWS_BUCKET = "aws:s3/bucket:Bucket"
AWS_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
AWS_BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
AWS_BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
AWS_BUCKET_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
AWS_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
AWS_ECR_REPOSITORY = "aws:ecr/repository:Repository"
AWS_ECR_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
AWS_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
AWS_MLFLOW_SERVER = "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"
AWS_ROLE = "aws:iam/role:Role"
AWS_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AWS_IAM_POLICY = "aws:iam/policy:Policy"
AWS_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
AWS_OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"

#: Types that accept tags; each must carry the required ones.
TAGGABLE_TYPES = frozenset(
    {
        AZ_RESOURCE_GROUP,
        AZ_IDENTITY,
        AZ_STORAGE_ACCOUNT,
        AZ_KEY_VAULT,
        AZ_LOG_ANALYTICS,
        AZ_APP_INSIGHTS,
        AZ_REGISTRY,
        AZ_ML_WORKSPACE,
        AZ_ML_COMPUTE,
        AWS_KMS_KEY,
        AWS_BUCKET,
        AWS_ECR_REPOSITORY,
        AWS_LOG_GROUP,
        AWS_MLFLOW_SERVER,
        AWS_ROLE,
        AWS_IAM_POLICY,
        AWS_OIDC_PROVIDER,
    }
)

#: AWS managed policies too broad to attach to any role here.
BROAD_MANAGED_POLICY = re.compile(r"(FullAccess|AdministratorAccess|PowerUserAccess)$")


# -- helpers ---------------------------------------------------------------------------------------
def _get(props: Any, *path: str | int) -> Any:
    """Walk mappings and sequences along ``path``; None when any step is missing."""
    node = props
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, Sequence) or isinstance(node, str) or step >= len(node):
                return None
            node = node[step]
        else:
            if not isinstance(node, Mapping) or step not in node:
                return None
            node = node[step]
    return node


def _items(value: Any) -> list[Any]:
    """A JSON-ish value as a list: None -> [], scalar -> [scalar]."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _document(value: Any) -> Mapping[str, Any]:
    """A policy document given as JSON text or as a mapping; {} when unreadable."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, Mapping) else {}
    return {}


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _items(document.get("Statement")) if isinstance(s, Mapping)]


def _identity_policies(resource_type: str, props: Props) -> list[Mapping[str, Any]]:
    """Identity-based permission documents a resource defines (not trust policies)."""
    if resource_type in (AWS_ROLE_POLICY, AWS_IAM_POLICY):
        return [_document(props.get("policy"))]
    if resource_type == AWS_ROLE:
        return [_document(_get(p, "policy")) for p in _items(props.get("inlinePolicies"))]
    return []


def _is_false(value: Any) -> bool:
    return value is False


def _same(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.lower() == expected.lower()


# -- shared ---------------------------------------------------------------------------------------
def required_tags(resource_type: str, props: Props) -> list[str]:
    """Every taggable resource carries project, stack, owner and cost-center."""
    if resource_type not in TAGGABLE_TYPES:
        return []
    tags = props.get("tags")
    missing = missing_required(tags if isinstance(tags, Mapping) else None)
    return [f"missing required tags: {', '.join(missing)}"] if missing else []


# -- azure ------------------------------------------------------------------------------------------
def azure_storage_account_hardened(resource_type: str, props: Props) -> list[str]:
    """StorageV2, Entra ID only (no shared keys), no public blobs, HTTPS and TLS 1.2."""
    if resource_type != AZ_STORAGE_ACCOUNT:
        return []
    problems = []
    if props.get("kind") != "StorageV2":
        problems.append("storage account kind must be StorageV2")
    if not _is_false(props.get("allowSharedKeyAccess")):
        problems.append("storage account must set allowSharedKeyAccess=false")
    if not _is_false(props.get("allowBlobPublicAccess")):
        problems.append("storage account must set allowBlobPublicAccess=false")
    if props.get("minimumTlsVersion") != "TLS1_2":
        problems.append("storage account must require minimumTlsVersion TLS1_2")
    if props.get("enableHttpsTrafficOnly") is not True:
        problems.append("storage account must set enableHttpsTrafficOnly=true")
    return problems


def azure_key_vault_rbac_and_purge_protection(resource_type: str, props: Props) -> list[str]:
    """Key Vault authorizes data access with Azure RBAC and cannot be purged."""
    if resource_type != AZ_KEY_VAULT:
        return []
    problems = []
    if _get(props, "properties", "enableRbacAuthorization") is not True:
        problems.append("key vault must use RBAC authorization (enableRbacAuthorization=true)")
    if _get(props, "properties", "enablePurgeProtection") is not True:
        problems.append("key vault must enable purge protection")
    return problems


def azure_container_registry_locked(resource_type: str, props: Props) -> list[str]:
    """ACR has no admin user and no anonymous pull; access is by Entra ID role only."""
    if resource_type != AZ_REGISTRY:
        return []
    problems = []
    if not _is_false(props.get("adminUserEnabled")):
        problems.append("container registry must set adminUserEnabled=false")
    if not _is_false(props.get("anonymousPullEnabled")):
        problems.append("container registry must set anonymousPullEnabled=false")
    return problems


def _user_assigned(identity: Any) -> list[str]:
    """Identity ids from an identity block (list on input, map id -> details on output)."""
    assigned = _get(identity, "userAssignedIdentities")
    if isinstance(assigned, Mapping):
        return [str(k) for k in assigned]
    return [str(i) for i in _items(assigned)]


def azure_ml_workspace_identity_based(resource_type: str, props: Props) -> list[str]:
    """Workspace runs as a user-assigned identity, uses identity-based datastores, no v1 mode."""
    if resource_type != AZ_ML_WORKSPACE:
        return []
    problems = []
    identity = props.get("identity")
    if not _same(_get(identity, "type"), "UserAssigned"):
        problems.append("workspace identity type must be UserAssigned")
    primary = props.get("primaryUserAssignedIdentity")
    if not primary or primary not in _user_assigned(identity):
        problems.append("workspace primaryUserAssignedIdentity must be one of its user-assigned identities")
    if not _same(props.get("systemDatastoresAuthMode"), "identity"):
        problems.append("workspace systemDatastoresAuthMode must be identity (no storage keys)")
    if not _is_false(props.get("v1LegacyMode")):
        problems.append("workspace must set v1LegacyMode=false")
    if props.get("publicNetworkAccess") not in ("Enabled", "Disabled"):
        problems.append("workspace publicNetworkAccess must be set explicitly (Enabled: Entra ID only; Disabled)")
    return problems


def azure_ml_compute_private_and_scales_to_zero(resource_type: str, props: Props) -> list[str]:
    """AmlCompute only; scales to zero; no public IP, no SSH, no local auth; runs as a managed identity."""
    if resource_type != AZ_ML_COMPUTE:
        return []
    compute = props.get("properties")
    if _get(compute, "computeType") != "AmlCompute":
        return ["only AmlCompute clusters may be created"]
    cluster = _get(compute, "properties")
    scale = _get(cluster, "scaleSettings")
    problems = []
    if _get(compute, "disableLocalAuth") is not True:
        problems.append("compute must set disableLocalAuth=true")
    if _get(scale, "minNodeCount") != 0:
        problems.append("compute must scale to zero (minNodeCount=0)")
    if not _get(scale, "nodeIdleTimeBeforeScaleDown"):
        problems.append("compute must set nodeIdleTimeBeforeScaleDown")
    if not _is_false(_get(cluster, "enableNodePublicIp")):
        problems.append("compute nodes must not get public IPs (enableNodePublicIp=false)")
    if _get(cluster, "remoteLoginPortPublicAccess") != "Disabled":
        problems.append("compute must disable the public SSH port")
    identity = props.get("identity")
    if not _same(_get(identity, "type"), "UserAssigned") or not _user_assigned(identity):
        problems.append("compute must run as a user-assigned identity")
    return problems


def azure_role_assignment_least_privilege(resource_type: str, props: Props) -> list[str]:
    """Only approved built-in roles, on a single resource, under a deterministic GUID name."""
    if resource_type != AZ_ROLE_ASSIGNMENT:
        return []
    problems = []
    scope = _text(props.get("scope"))
    if not azure_roles.is_single_resource_scope(scope):
        problems.append(f"role assignment scope must be a single resource, not {scope!r}")
    guid = azure_roles.role_guid(_text(props.get("roleDefinitionId")))
    forbidden = {v: k for k, v in azure_roles.FORBIDDEN_ROLES.items()}
    if guid in forbidden:
        problems.append(f"role {forbidden[guid]} may not be assigned")
    elif guid not in azure_roles.ASSIGNABLE_ROLES.values():
        problems.append(f"role definition {props.get('roleDefinitionId')!r} is not an approved built-in role")
    try:
        uuid.UUID(_text(props.get("roleAssignmentName")))
    except ValueError:
        problems.append("role assignment needs a deterministic GUID roleAssignmentName")
    return problems


def azure_federated_credential_pinned(resource_type: str, props: Props) -> list[str]:
    """Federated credentials trust GitHub's issuer for one repository and environment only."""
    if resource_type != AZ_FEDERATED_CREDENTIAL:
        return []
    problems = []
    if props.get("issuer") != github_oidc.ISSUER:
        problems.append(f"federated credential issuer must be {github_oidc.ISSUER}")
    if _items(props.get("audiences")) != [github_oidc.AZURE_AUDIENCE]:
        problems.append(f"federated credential audiences must be exactly [{github_oidc.AZURE_AUDIENCE}]")
    if not github_oidc.is_pinned_subject(props.get("subject")):
        problems.append("federated credential subject must be repo:OWNER/REPO:environment:NAME, no wildcards")
    return problems


# -- aws ----------------------------------------------------------------------------------------------
def aws_kms_key_rotation(resource_type: str, props: Props) -> list[str]:
    """Customer-managed keys rotate automatically."""
    if resource_type != AWS_KMS_KEY:
        return []
    return [] if props.get("enableKeyRotation") is True else ["KMS key must enable key rotation"]


def aws_s3_versioning_enabled(resource_type: str, props: Props) -> list[str]:
    """Bucket versioning resources enable (never suspend) versioning."""
    if resource_type != AWS_BUCKET_VERSIONING:
        return []
    status = _get(props, "versioningConfiguration", "status")
    return [] if status == "Enabled" else [f"bucket versioning must be Enabled, got {status!r}"]


def aws_s3_sse_kms(resource_type: str, props: Props) -> list[str]:
    """Default bucket encryption is SSE-KMS with a named customer key."""
    if resource_type != AWS_BUCKET_ENCRYPTION:
        return []
    rules = _items(props.get("rules"))
    if not rules:
        return ["bucket encryption needs at least one rule"]
    problems = []
    for rule in rules:
        default = _get(rule, "applyServerSideEncryptionByDefault")
        if _get(default, "sseAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
            problems.append("bucket encryption must use SSE-KMS (sseAlgorithm aws:kms)")
        if not _get(default, "kmsMasterKeyId"):
            problems.append("bucket encryption must name the customer-managed key (kmsMasterKeyId)")
    return problems


def aws_s3_public_access_blocked(resource_type: str, props: Props) -> list[str]:
    """All four S3 public-access blocks are on."""
    if resource_type != AWS_BUCKET_PUBLIC_ACCESS_BLOCK:
        return []
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [flag for flag in flags if props.get(flag) is not True]
    return [f"public access block must set {', '.join(off)} to true"] if off else []


def aws_s3_owner_enforced(resource_type: str, props: Props) -> list[str]:
    """Object ownership is BucketOwnerEnforced, which disables ACLs entirely."""
    if resource_type != AWS_BUCKET_OWNERSHIP:
        return []
    ownership = _get(props, "rule", "objectOwnership")
    if ownership == "BucketOwnerEnforced":
        return []
    return [f"object ownership must be BucketOwnerEnforced, got {ownership!r}"]


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    everyone = principal == "*" or _get(principal, "AWS") == "*"
    actions = _items(statement.get("Action"))
    insecure = str(_get(statement, "Condition", "Bool", "aws:SecureTransport")).lower() == "false"
    return statement.get("Effect") == "Deny" and everyone and ("s3:*" in actions or "*" in actions) and insecure


def aws_s3_tls_only_policy(resource_type: str, props: Props) -> list[str]:
    """The bucket policy denies every request made without TLS."""
    if resource_type != AWS_BUCKET_POLICY:
        return []
    statements = _statements(_document(props.get("policy")))
    if any(_denies_insecure_transport(s) for s in statements):
        return []
    return ["bucket policy must deny s3:* to everyone when aws:SecureTransport is false"]


def aws_ecr_repository_hardened(resource_type: str, props: Props) -> list[str]:
    """ECR tags are immutable, images are scanned on push and encrypted with KMS."""
    if resource_type != AWS_ECR_REPOSITORY:
        return []
    problems = []
    if props.get("imageTagMutability") != "IMMUTABLE":
        problems.append("ECR repository tags must be IMMUTABLE")
    if _get(props, "imageScanningConfiguration", "scanOnPush") is not True:
        problems.append("ECR repository must scan images on push")
    kinds = [_get(c, "encryptionType") for c in _items(props.get("encryptionConfigurations"))]
    if not kinds or any(kind != "KMS" for kind in kinds):
        problems.append("ECR repository must be encrypted with KMS")
    return problems


def aws_log_group_retention(resource_type: str, props: Props) -> list[str]:
    """Log groups expire their data instead of keeping it forever."""
    if resource_type != AWS_LOG_GROUP:
        return []
    days = props.get("retentionInDays")
    ok = isinstance(days, (int, float)) and not isinstance(days, bool) and days > 0
    return [] if ok else ["log group must set retentionInDays"]


def aws_mlflow_artifacts_in_s3(resource_type: str, props: Props) -> list[str]:
    """The MLflow tracking server keeps artifacts in S3 under its own role."""
    if resource_type != AWS_MLFLOW_SERVER:
        return []
    problems = []
    if not _text(props.get("artifactStoreUri")).startswith("s3://"):
        problems.append("MLflow artifact store must be an s3:// URI")
    if not _text(props.get("roleArn")).startswith("arn:"):
        problems.append("MLflow tracking server must run as a dedicated role (roleArn)")
    return problems


def aws_iam_no_wildcard_resource(resource_type: str, props: Props) -> list[str]:
    """Allow statements name their resources; only ecr:GetAuthorizationToken may use "*"."""
    problems = []
    for document in _identity_policies(resource_type, props):
        for statement in _statements(document):
            if statement.get("Effect") != "Allow":
                continue
            sid = statement.get("Sid", "<no Sid>")
            actions = {str(a) for a in _items(statement.get("Action"))}
            if "NotResource" in statement or "NotAction" in statement:
                problems.append(f"statement {sid}: NotResource/NotAction are not allowed")
            if "*" in actions:
                problems.append(f"statement {sid}: Action '*' is not allowed")
            if "*" in _items(statement.get("Resource")) and not actions <= UNSCOPABLE_ACTIONS:
                extra = sorted(actions - UNSCOPABLE_ACTIONS)
                problems.append(f"statement {sid}: Resource '*' is not allowed for {extra}")
    return problems


def aws_iam_no_broad_managed_policies(resource_type: str, props: Props) -> list[str]:
    """No AWS managed *FullAccess / AdministratorAccess / PowerUserAccess policy is attached."""
    if resource_type == AWS_ROLE:
        arns = _items(props.get("managedPolicyArns"))
    elif resource_type == AWS_ROLE_POLICY_ATTACHMENT:
        arns = _items(props.get("policyArn"))
    else:
        return []
    return [f"managed policy {arn} is too broad" for arn in arns if BROAD_MANAGED_POLICY.search(str(arn))]


def _trust_statements(props: Props) -> list[Mapping[str, Any]]:
    return _statements(_document(props.get("assumeRolePolicy")))


def aws_sagemaker_trust_source_account(resource_type: str, props: Props) -> list[str]:
    """Roles SageMaker assumes require aws:SourceAccount (confused-deputy protection)."""
    if resource_type != AWS_ROLE:
        return []
    problems = []
    for statement in _trust_statements(props):
        if SAGEMAKER_SERVICE not in _items(_get(statement, "Principal", "Service")):
            continue
        account = _get(statement, "Condition", "StringEquals", "aws:SourceAccount")
        if not (isinstance(account, str) and re.fullmatch(r"\d{12}", account)):
            problems.append("SageMaker trust must pin aws:SourceAccount with StringEquals")
    return problems


def aws_github_oidc_trust_pinned(resource_type: str, props: Props) -> list[str]:
    """GitHub OIDC: the provider serves only STS, and roles trust one repository and environment."""
    if resource_type == AWS_OIDC_PROVIDER:
        if props.get("url") == github_oidc.ISSUER and _items(props.get("clientIdLists")) != [github_oidc.AWS_AUDIENCE]:
            return [f"GitHub OIDC provider audiences must be exactly [{github_oidc.AWS_AUDIENCE}]"]
        return []
    if resource_type != AWS_ROLE:
        return []
    problems = []
    host = github_oidc.ISSUER_HOST
    for statement in _trust_statements(props):
        federated = [str(p) for p in _items(_get(statement, "Principal", "Federated"))]
        if not any(p.endswith(f"oidc-provider/{host}") for p in federated):
            continue
        equals = _get(statement, "Condition", "StringEquals") or {}
        if equals.get(f"{host}:aud") != github_oidc.AWS_AUDIENCE:
            problems.append(f"GitHub trust must require {host}:aud = {github_oidc.AWS_AUDIENCE}")
        if not github_oidc.is_pinned_subject(equals.get(f"{host}:sub")):
            problems.append(f"GitHub trust must pin {host}:sub to repo:OWNER/REPO:environment:NAME")
        if _get(statement, "Condition", "StringLike") or _get(statement, "Condition", "ForAnyValue:StringLike"):
            problems.append("GitHub trust must not use StringLike (wildcard) conditions")
    return problems


def aws_passrole_scoped(resource_type: str, props: Props) -> list[str]:
    """iam:PassRole names exact roles and may pass them only to SageMaker."""
    problems = []
    for document in _identity_policies(resource_type, props):
        for statement in _statements(document):
            actions = {str(a) for a in _items(statement.get("Action"))}
            if statement.get("Effect") != "Allow" or not actions & {"iam:PassRole", "iam:*", "*"}:
                continue
            sid = statement.get("Sid", "<no Sid>")
            if any("*" in str(r) for r in _items(statement.get("Resource"))) or not statement.get("Resource"):
                problems.append(f"statement {sid}: iam:PassRole must name exact role ARNs")
            service = _get(statement, "Condition", "StringEquals", "iam:PassedToService")
            if service != SAGEMAKER_SERVICE:
                problems.append(f"statement {sid}: iam:PassRole needs iam:PassedToService = {SAGEMAKER_SERVICE}")
    return problems


# -- stack-wide (companions) ------------------------------------------------------------------------
_BUCKET_COMPANIONS = {
    AWS_BUCKET_VERSIONING: "versioning",
    AWS_BUCKET_ENCRYPTION: "SSE-KMS encryption",
    AWS_BUCKET_PUBLIC_ACCESS_BLOCK: "public access block",
    AWS_BUCKET_OWNERSHIP: "ownership controls",
    AWS_BUCKET_POLICY: "TLS-only bucket policy",
}


def aws_s3_buckets_fully_configured(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """Every bucket has versioning, SSE-KMS, a public access block, ownership controls and a policy."""
    attached: dict[str, set[str]] = {kind: set() for kind in _BUCKET_COMPANIONS}
    for resource_type, props in resources:
        if resource_type in attached:
            attached[resource_type].add(_text(props.get("bucket")))
    problems = []
    for resource_type, props in resources:
        if resource_type != AWS_BUCKET:
            continue
        bucket = _text(props.get("bucket"))
        for kind, label in _BUCKET_COMPANIONS.items():
            if bucket not in attached[kind]:
                problems.append(f"bucket {bucket!r} has no {label}")
    return problems


def aws_ecr_repositories_have_lifecycle(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """Every ECR repository has a lifecycle policy, so old images do not accumulate."""
    covered = {_text(p.get("repository")) for t, p in resources if t == AWS_ECR_LIFECYCLE}
    return [
        f"ECR repository {p.get('name')!r} has no lifecycle policy"
        for t, p in resources
        if t == AWS_ECR_REPOSITORY and _text(p.get("name")) not in covered
    ]


def aws_mlflow_artifacts_in_stack_bucket(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """The MLflow artifact store lives in a bucket of this stack (and so under its guardrails)."""
    buckets = {_text(p.get("bucket")) for t, p in resources if t == AWS_BUCKET}
    problems = []
    for resource_type, props in resources:
        if resource_type != AWS_MLFLOW_SERVER:
            continue
        uri = _text(props.get("artifactStoreUri"))
        bucket = uri.removeprefix("s3://").split("/", 1)[0]
        if bucket not in buckets:
            problems.append(f"MLflow artifact store {uri!r} is not in a bucket of this stack")
    return problems


def azure_broad_roles_only_for_the_workspace_identity(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """Contributor and Key Vault Administrator go only to a workspace's primary identity (Microsoft's
    documented set for a user-assigned workspace identity), never to the job or deploy identity."""
    principals = {_text(p.get("id")): _text(p.get("principalId")) for t, p in resources if t == AZ_IDENTITY}
    allowed = {
        principals.get(_text(p.get("primaryUserAssignedIdentity"))) for t, p in resources if t == AZ_ML_WORKSPACE
    }
    guarded = {azure_roles.ASSIGNABLE_ROLES[r]: r for r in azure_roles.WORKSPACE_IDENTITY_ONLY_ROLES}
    problems = []
    for resource_type, props in resources:
        guid = (
            azure_roles.role_guid(_text(props.get("roleDefinitionId"))) if resource_type == AZ_ROLE_ASSIGNMENT else None
        )
        if guid in guarded and _text(props.get("principalId")) not in allowed:
            problems.append(
                f"{guarded[guid]} on {_text(props.get('scope'))!r} is not for a workspace's primary identity"
            )
    return problems


def azure_private_workspace_has_endpoint(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """A workspace with public network access disabled has a private endpoint to it, or nothing reaches it."""
    targets = {
        _text(_get(connection, "privateLinkServiceId"))
        for t, p in resources
        if t == AZ_PRIVATE_ENDPOINT
        for connection in _items(p.get("privateLinkServiceConnections"))
        if "amlworkspace" in _items(_get(connection, "groupIds"))
    }
    return [
        f"workspace {p.get('workspaceName')!r} disables public network access but has no private endpoint"
        for t, p in resources
        if t == AZ_ML_WORKSPACE and p.get("publicNetworkAccess") == "Disabled" and _text(p.get("id")) not in targets
    ]


# -- registry ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceRule:
    name: str
    check: ResourceCheck

    @property
    def description(self) -> str:
        return (self.check.__doc__ or self.name).strip()


@dataclass(frozen=True)
class StackRule:
    name: str
    check: StackCheck

    @property
    def description(self) -> str:
        return (self.check.__doc__ or self.name).strip()


RESOURCE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule("required-tags", required_tags),
    ResourceRule("azure-storage-account-hardened", azure_storage_account_hardened),
    ResourceRule("azure-key-vault-rbac-purge-protection", azure_key_vault_rbac_and_purge_protection),
    ResourceRule("azure-container-registry-locked", azure_container_registry_locked),
    ResourceRule("azure-ml-workspace-identity-based", azure_ml_workspace_identity_based),
    ResourceRule("azure-ml-compute-private-scales-to-zero", azure_ml_compute_private_and_scales_to_zero),
    ResourceRule("azure-role-assignment-least-privilege", azure_role_assignment_least_privilege),
    ResourceRule("azure-federated-credential-pinned", azure_federated_credential_pinned),
    ResourceRule("aws-kms-key-rotation", aws_kms_key_rotation),
    ResourceRule("aws-s3-versioning-enabled", aws_s3_versioning_enabled),
    ResourceRule("aws-s3-sse-kms", aws_s3_sse_kms),
    ResourceRule("aws-s3-public-access-blocked", aws_s3_public_access_blocked),
    ResourceRule("aws-s3-owner-enforced", aws_s3_owner_enforced),
    ResourceRule("aws-s3-tls-only-policy", aws_s3_tls_only_policy),
    ResourceRule("aws-ecr-repository-hardened", aws_ecr_repository_hardened),
    ResourceRule("aws-log-group-retention", aws_log_group_retention),
    ResourceRule("aws-mlflow-artifacts-in-s3", aws_mlflow_artifacts_in_s3),
    ResourceRule("aws-iam-no-wildcard-resource", aws_iam_no_wildcard_resource),
    ResourceRule("aws-iam-no-broad-managed-policies", aws_iam_no_broad_managed_policies),
    ResourceRule("aws-sagemaker-trust-source-account", aws_sagemaker_trust_source_account),
    ResourceRule("aws-github-oidc-trust-pinned", aws_github_oidc_trust_pinned),
    ResourceRule("aws-passrole-scoped", aws_passrole_scoped),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule("azure-broad-roles-only-for-the-workspace-identity", azure_broad_roles_only_for_the_workspace_identity),
    StackRule("azure-private-workspace-has-endpoint", azure_private_workspace_has_endpoint),
    StackRule("aws-s3-buckets-fully-configured", aws_s3_buckets_fully_configured),
    StackRule("aws-ecr-repositories-have-lifecycle", aws_ecr_repositories_have_lifecycle),
    StackRule("aws-mlflow-artifacts-in-stack-bucket", aws_mlflow_artifacts_in_stack_bucket),
)


def violations(resources: Sequence[tuple[str, Props]]) -> list[str]:
    """Every violation of every rule, resource rules on each resource, then stack rules."""
    found = [
        f"{rule.name} [{resource_type}]: {message}"
        for resource_type, props in resources
        for rule in RESOURCE_RULES
        for message in rule.check(resource_type, props)
    ]
    found += [f"{rule.name}: {message}" for rule in STACK_RULES for message in rule.check(resources)]
    return found
