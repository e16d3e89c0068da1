"""Each policy rule passes the resource the stack really creates and fails a broken copy of it.

Compliant cases are the stacks' own resources (recorded under mocks), so every rule is proven to
govern a resource type the program actually emits; non-compliant cases break one property each.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from pulumi_harness import REPO_ROOT, StackRun, resource_validation_args, stack_validation_args
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from infra.azure_roles import FORBIDDEN_ROLES
from infra.policies import rules
from infra.policies.pack import PACK_NAME, build_policies

Props = dict[str, Any]
Mutation = Callable[[Props], None]


def put(path: str, value: Any) -> Mutation:
    """Set a dotted path (list indexes as numbers) to ``value``; ``...`` deletes the key."""

    def mutate(props: Props) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = props
        for step in parents:
            node = node[step]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return mutate


def edit_json(key: str, change: Callable[[dict[str, Any]], None]) -> Mutation:
    """Edit the JSON document stored as text under ``key``."""

    def mutate(props: Props) -> None:
        document = json.loads(props[key])
        change(document)
        props[key] = json.dumps(document)

    return mutate


def statement(sid: str, change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        change(next(s for s in document["Statement"] if s.get("Sid") == sid))

    return apply


def first_statement(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda document: change(document["Statement"][0])


@dataclass(frozen=True)
class Case:
    rule: str
    cloud: str
    resource: str  # logical name of the stack resource to start from
    break_it: Mutation
    expect: str  # substring of the violation message

    def __str__(self) -> str:
        return f"{self.rule}:{self.resource}:{self.expect}"


AZ, AWS = "gridcast-azure", "gridcast-aws"
UAA, AI_ADMIN, OWNER = (FORBIDDEN_ROLES[k] for k in ("User Access Administrator", "Azure AI Administrator", "Owner"))
SUB = "/subscriptions/3f2e1d0c-9b8a-4765-8432-10fedcba9876"
ROLE_DEFINITION = SUB + "/providers/Microsoft.Authorization/roleDefinitions/{}"

CASES = [
    Case("required-tags", "azure", f"{AZ}-storage", put("tags.owner", ...), "owner"),
    Case("required-tags", "azure", f"{AZ}-compute", put("tags", {}), "project"),
    Case("required-tags", "aws", f"{AWS}-bucket", put("tags.cost-center", " "), "cost-center"),
    Case("required-tags", "aws", f"{AWS}-execution-role", put("tags", ...), "stack"),
    Case(
        "azure-storage-account-hardened",
        "azure",
        f"{AZ}-storage",
        put("allowSharedKeyAccess", True),
        "SharedKey",
    ),
    Case(
        "azure-storage-account-hardened",
        "azure",
        f"{AZ}-storage",
        put("allowSharedKeyAccess", ...),
        "SharedKey",
    ),
    Case(
        "azure-storage-account-hardened",
        "azure",
        f"{AZ}-storage",
        put("allowBlobPublicAccess", True),
        "Public",
    ),
    Case(
        "azure-storage-account-hardened",
        "azure",
        f"{AZ}-storage",
        put("minimumTlsVersion", "TLS1_0"),
        "TLS1_2",
    ),
    Case(
        "azure-storage-account-hardened",
        "azure",
        f"{AZ}-storage",
        put("enableHttpsTrafficOnly", False),
        "Https",
    ),
    Case("azure-storage-account-hardened", "azure", f"{AZ}-storage", put("kind", "Storage"), "StorageV2"),
    Case(
        "azure-key-vault-rbac-purge-protection",
        "azure",
        f"{AZ}-key-vault",
        put("properties.enableRbacAuthorization", False),
        "RBAC",
    ),
    Case(
        "azure-key-vault-rbac-purge-protection",
        "azure",
        f"{AZ}-key-vault",
        put("properties.enablePurgeProtection", ...),
        "purge",
    ),
    Case("azure-container-registry-locked", "azure", f"{AZ}-registry", put("adminUserEnabled", True), "admin"),
    Case(
        "azure-container-registry-locked",
        "azure",
        f"{AZ}-registry",
        put("anonymousPullEnabled", True),
        "anonymous",
    ),
    Case(
        "azure-ml-workspace-identity-based",
        "azure",
        f"{AZ}-workspace",
        put("identity.type", "SystemAssigned"),
        "UserAssigned",
    ),
    Case(
        "azure-ml-workspace-identity-based",
        "azure",
        f"{AZ}-workspace",
        put("primaryUserAssignedIdentity", "/subscriptions/x/other"),
        "primaryUserAssignedIdentity",
    ),
    Case(
        "azure-ml-workspace-identity-based",
        "azure",
        f"{AZ}-workspace",
        put("systemDatastoresAuthMode", "AccessKey"),
        "identity",
    ),
    Case(
        "azure-ml-workspace-identity-based",
        "azure",
        f"{AZ}-workspace",
        put("v1LegacyMode", True),
        "v1LegacyMode",
    ),
    Case(
        "azure-ml-workspace-identity-based",
        "azure",
        f"{AZ}-workspace",
        put("publicNetworkAccess", ...),
        "explicit",
    ),
    Case(
        "azure-ml-compute-private-scales-to-zero",
        "azure",
        f"{AZ}-compute",
        put("properties.properties.scaleSettings.minNodeCount", 1),
        "minNodeCount",
    ),
    Case(
        "azure-ml-compute-private-scales-to-zero",
        "azure",
        f"{AZ}-compute",
        put("properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown", ...),
        "nodeIdleTime",
    ),
    Case(
        "azure-ml-compute-private-scales-to-zero",
        "azure",
        f"{AZ}-compute",
        put("properties.properties.enableNodePublicIp", True),
        "public IP",
    ),
    Case(
        "azure-ml-compute-private-scales-to-zero",
        "azure",
        f"{AZ}-compute",
        put("properties.properties.remoteLoginPortPublicAccess", "Enabled"),
        "SSH",
    ),
    Case(
        "azure-ml-compute-private-scales-to-zero",
        "azure",
        f"{AZ}-compute",
        put("properties.disableLocalAuth", False),
        "disableLocalAuth",
    ),
    Case("azure-ml-compute-private-scales-to-zero", "azure", f"{AZ}-compute", put("identity", ...), "identity"),
    Case(
        "azure-ml-compute-private-scales-to-zero",
        "azure",
        f"{AZ}-compute",
        put("properties.computeType", "ComputeInstance"),
        "only AmlCompute",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-job-acr-pull",
        put("scope", f"{SUB}/resourceGroups/rg-gridcast-azure"),
        "single resource",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-job-acr-pull",
        put("scope", SUB),
        "single resource",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-job-acr-pull",
        put("roleDefinitionId", ROLE_DEFINITION.format(UAA)),
        "User Access Administrator may not",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-job-ml-data-scientist",
        put("roleDefinitionId", ROLE_DEFINITION.format(AI_ADMIN)),
        "Azure AI Administrator may not",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-deploy-blob-data",
        put("roleDefinitionId", ROLE_DEFINITION.format(OWNER)),
        "Owner may not",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-deploy-blob-data",
        put("roleDefinitionId", ROLE_DEFINITION.format("acdd72a7-3385-48ef-bd42-f606fba81ae7")),
        "not an approved",
    ),
    Case(
        "azure-role-assignment-least-privilege",
        "azure",
        f"{AZ}-job-acr-pull",
        put("roleAssignmentName", "job-acr-pull"),
        "GUID",
    ),
    Case(
        "azure-federated-credential-pinned",
        "azure",
        f"{AZ}-github-federation",
        put("subject", "repo:gridcast/gridcast:*"),
        "subject",
    ),
    Case(
        "azure-federated-credential-pinned",
        "azure",
        f"{AZ}-github-federation",
        put("subject", "repo:gridcast/gridcast:ref:refs/heads/main"),
        "subject",
    ),
    Case(
        "azure-federated-credential-pinned",
        "azure",
        f"{AZ}-github-federation",
        put("audiences", ["api://AzureADTokenExchange", "api://other"]),
        "audiences",
    ),
    Case(
        "azure-federated-credential-pinned",
        "azure",
        f"{AZ}-github-federation",
        put("issuer", "https://example.com"),
        "issuer",
    ),
    Case("aws-kms-key-rotation", "aws", f"{AWS}-key", put("enableKeyRotation", False), "rotation"),
    Case("aws-kms-key-rotation", "aws", f"{AWS}-key", put("enableKeyRotation", ...), "rotation"),
    Case(
        "aws-s3-versioning-enabled",
        "aws",
        f"{AWS}-bucket-versioning",
        put("versioningConfiguration.status", "Suspended"),
        "Enabled",
    ),
    Case(
        "aws-s3-sse-kms",
        "aws",
        f"{AWS}-bucket-encryption",
        put("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
        "SSE-KMS",
    ),
    Case(
        "aws-s3-sse-kms",
        "aws",
        f"{AWS}-bucket-encryption",
        put("rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", ...),
        "kmsMasterKeyId",
    ),
    Case("aws-s3-sse-kms", "aws", f"{AWS}-bucket-encryption", put("rules", []), "at least one rule"),
    *[
        Case("aws-s3-public-access-blocked", "aws", f"{AWS}-bucket-public-access-block", put(flag, False), flag)
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    ],
    Case(
        "aws-s3-owner-enforced",
        "aws",
        f"{AWS}-bucket-ownership",
        put("rule.objectOwnership", "BucketOwnerPreferred"),
        "BucketOwnerEnforced",
    ),
    Case(
        "aws-s3-tls-only-policy",
        "aws",
        f"{AWS}-bucket-policy",
        edit_json("policy", first_statement(lambda s: s.pop("Condition"))),
        "SecureTransport",
    ),
    Case(
        "aws-s3-tls-only-policy",
        "aws",
        f"{AWS}-bucket-policy",
        edit_json("policy", first_statement(lambda s: s.update(Effect="Allow"))),
        "SecureTransport",
    ),
    Case(
        "aws-ecr-repository-hardened",
        "aws",
        f"{AWS}-images",
        put("imageTagMutability", "MUTABLE"),
        "IMMUTABLE",
    ),
    Case(
        "aws-ecr-repository-hardened",
        "aws",
        f"{AWS}-images",
        put("imageScanningConfiguration.scanOnPush", False),
        "scan",
    ),
    Case(
        "aws-ecr-repository-hardened",
        "aws",
        f"{AWS}-images",
        put("encryptionConfigurations.0.encryptionType", "AES256"),
        "KMS",
    ),
    Case("aws-ecr-repository-hardened", "aws", f"{AWS}-images", put("encryptionConfigurations", ...), "KMS"),
    Case("aws-log-group-retention", "aws", f"{AWS}-logs", put("retentionInDays", ...), "retention"),
    Case("aws-log-group-retention", "aws", f"{AWS}-logs", put("retentionInDays", 0), "retention"),
    Case(
        "aws-mlflow-artifacts-in-s3",
        "aws",
        f"{AWS}-mlflow",
        put("artifactStoreUri", "file:///tmp/mlruns"),
        "s3://",
    ),
    Case("aws-mlflow-artifacts-in-s3", "aws", f"{AWS}-mlflow", put("roleArn", ...), "roleArn"),
    Case(
        "aws-iam-no-wildcard-resource",
        "aws",
        f"{AWS}-execution-role-policy",
        edit_json("policy", statement("ReadWriteObjects", lambda s: s.update(Resource=["*"]))),
        "s3:GetObject",
    ),
    Case(
        "aws-iam-no-wildcard-resource",
        "aws",
        f"{AWS}-deploy-role-policy",
        edit_json("policy", statement("EcrLogin", lambda s: s["Action"].append("ecr:PutImage"))),
        "ecr:PutImage",
    ),
    Case(
        "aws-iam-no-wildcard-resource",
        "aws",
        f"{AWS}-deploy-role-policy",
        edit_json("policy", statement("ManagePipelines", lambda s: s.update(Resource=["*"]))),
        "sagemaker:DescribePipeline",
    ),
    Case(
        "aws-iam-no-wildcard-resource",
        "aws",
        f"{AWS}-execution-role-policy",
        edit_json("policy", statement("RunTrainingSteps", lambda s: s.update(Resource=["*"]))),
        "sagemaker:CreateTrainingJob",
    ),
    Case(
        "aws-passrole-scoped",
        "aws",
        f"{AWS}-execution-role-policy",
        edit_json("policy", statement("PassSelfToStepJobs", lambda s: s.pop("Condition"))),
        "PassedToService",
    ),
    Case(
        "aws-iam-no-wildcard-resource",
        "aws",
        f"{AWS}-mlflow-role-policy",
        edit_json("policy", first_statement(lambda s: s.update(Action="*"))),
        "Action '*'",
    ),
    Case(
        "aws-iam-no-broad-managed-policies",
        "aws",
        f"{AWS}-execution-role",
        put("managedPolicyArns", ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]),
        "too broad",
    ),
    Case(
        "aws-sagemaker-trust-source-account",
        "aws",
        f"{AWS}-execution-role",
        edit_json("assumeRolePolicy", first_statement(lambda s: s.pop("Condition"))),
        "SourceAccount",
    ),
    Case(
        "aws-sagemaker-trust-source-account",
        "aws",
        f"{AWS}-mlflow-role",
        edit_json(
            "assumeRolePolicy",
            first_statement(lambda s: s.update(Condition={"StringLike": {"aws:SourceAccount": "*"}})),
        ),
        "SourceAccount",
    ),
    Case(
        "aws-github-oidc-trust-pinned",
        "aws",
        f"{AWS}-deploy-role",
        edit_json(
            "assumeRolePolicy",
            first_statement(
                lambda s: s["Condition"]["StringEquals"].update(
                    {"token.actions.githubusercontent.com:sub": "repo:gridcast/*"}
                )
            ),
        ),
        ":sub",
    ),
    Case(
        "aws-github-oidc-trust-pinned",
        "aws",
        f"{AWS}-deploy-role",
        edit_json(
            "assumeRolePolicy",
            first_statement(lambda s: s["Condition"]["StringEquals"].pop("token.actions.githubusercontent.com:aud")),
        ),
        ":aud",
    ),
    Case(
        "aws-github-oidc-trust-pinned",
        "aws",
        f"{AWS}-deploy-role",
        edit_json(
            "assumeRolePolicy",
            first_statement(
                lambda s: s["Condition"].update(
                    StringLike={"token.actions.githubusercontent.com:sub": "repo:gridcast/gridcast:*"}
                )
            ),
        ),
        "StringLike",
    ),
    Case(
        "aws-github-oidc-trust-pinned",
        "aws",
        f"{AWS}-github-oidc",
        put("clientIdLists", ["sts.amazonaws.com", "another-audience"]),
        "audiences",
    ),
    Case(
        "aws-passrole-scoped",
        "aws",
        f"{AWS}-deploy-role-policy",
        edit_json("policy", statement("PassExecutionRoleToSageMakerOnly", lambda s: s.update(Resource=["*"]))),
        "exact role",
    ),
    Case(
        "aws-passrole-scoped",
        "aws",
        f"{AWS}-deploy-role-policy",
        edit_json("policy", statement("PassExecutionRoleToSageMakerOnly", lambda s: s.pop("Condition"))),
        "PassedToService",
    ),
    Case(
        "aws-passrole-scoped",
        "aws",
        f"{AWS}-deploy-role-policy",
        edit_json(
            "policy",
            statement(
                "PassExecutionRoleToSageMakerOnly",
                lambda s: s["Condition"]["StringEquals"].update({"iam:PassedToService": "ec2.amazonaws.com"}),
            ),
        ),
        "PassedToService",
    ),
]

RULES = {rule.name: rule for rule in rules.RESOURCE_RULES}


@pytest.fixture(scope="module")
def runs(azure_run: StackRun, aws_run: StackRun) -> dict[str, StackRun]:
    return {"azure": azure_run, "aws": aws_run}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_passes_the_real_resource_and_fails_a_broken_copy(case: Case, runs: dict[str, StackRun]) -> None:
    resource = runs[case.cloud].named(case.resource)
    check = RULES[case.rule].check
    assert check(resource.type, resource.inputs) == []
    broken = copy.deepcopy(resource.inputs)
    case.break_it(broken)
    messages = check(resource.type, broken)
    assert messages, f"{case.rule} accepted a broken {case.resource}"
    assert any(case.expect in m for m in messages), messages


def test_rules_ignore_types_they_do_not_govern(runs: dict[str, StackRun]) -> None:
    vault = runs["azure"].named(f"{AZ}-key-vault")
    assert rules.aws_kms_key_rotation(vault.type, {}) == []
    assert rules.azure_storage_account_hardened("aws:s3/bucket:Bucket", {}) == []
    assert rules.required_tags("azure-native:authorization:RoleAssignment", {}) == []


def test_broad_managed_policy_attachments_are_refused() -> None:
    attach = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    for arn in ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/AmazonS3FullAccess"):
        assert rules.aws_iam_no_broad_managed_policies(attach, {"policyArn": arn})
    assert rules.aws_iam_no_broad_managed_policies(attach, {"policyArn": "arn:aws:iam::1:policy/gridcast-ro"}) == []


def test_inline_policies_on_roles_are_checked_too() -> None:
    role = {
        "inlinePolicies": [
            {
                "name": "x",
                "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
            }
        ]
    }
    assert rules.aws_iam_no_wildcard_resource(rules.AWS_ROLE, role)


def test_every_resource_rule_has_a_failing_case() -> None:
    assert {case.rule for case in CASES} == set(RULES)


# -- stack rules ----------------------------------------------------------------------------------------
def _states(run: StackRun) -> list[tuple[str, Props]]:
    return [(r.type, copy.deepcopy(r.state)) for r in run.custom]


def _without(resources: list[tuple[str, Props]], resource_type: str) -> list[tuple[str, Props]]:
    return [(t, p) for t, p in resources if t != resource_type]


def test_stack_rules_pass_the_real_stack(aws_run: StackRun, azure_run: StackRun) -> None:
    for rule in rules.STACK_RULES:
        assert rule.check(_states(aws_run)) == [], rule.name
        assert rule.check(_states(azure_run)) == [], rule.name


def test_contributor_for_any_identity_but_the_workspaces_fails(azure_run: StackRun) -> None:
    resources = _states(azure_run)
    deploy = azure_run.named(f"{AZ}-deploy-identity").state["principalId"]
    for resource_type, props in resources:
        if resource_type == rules.AZ_ROLE_ASSIGNMENT and props["description"].endswith(
            "Contributor for workspace identity"
        ):
            props["principalId"] = deploy
            break
    (message,) = rules.azure_broad_roles_only_for_the_workspace_identity(resources)
    assert message.startswith("Contributor on ") and "is not for a workspace's primary identity" in message


def test_a_private_workspace_without_its_endpoint_fails(azure_run: StackRun) -> None:
    resources = _states(azure_run)
    for resource_type, props in resources:
        if resource_type == rules.AZ_ML_WORKSPACE:
            props["publicNetworkAccess"] = "Disabled"
    assert rules.azure_private_workspace_has_endpoint(resources) == [
        "workspace 'mlw-gridcast-azure' disables public network access but has no private endpoint"
    ]


@pytest.mark.parametrize(
    "companion",
    [
        rules.AWS_BUCKET_VERSIONING,
        rules.AWS_BUCKET_ENCRYPTION,
        rules.AWS_BUCKET_PUBLIC_ACCESS_BLOCK,
        rules.AWS_BUCKET_OWNERSHIP,
        rules.AWS_BUCKET_POLICY,
    ],
)
def test_a_bucket_missing_any_companion_fails(aws_run: StackRun, companion: str) -> None:
    messages = rules.aws_s3_buckets_fully_configured(_without(_states(aws_run), companion))
    assert len(messages) == 1 and "has no" in messages[0]


def test_a_second_bare_bucket_fails(aws_run: StackRun) -> None:
    resources = [*_states(aws_run), (rules.AWS_BUCKET, {"bucket": "stray-bucket"})]
    assert len(rules.aws_s3_buckets_fully_configured(resources)) == 5


def test_a_repository_without_lifecycle_fails(aws_run: StackRun) -> None:
    messages = rules.aws_ecr_repositories_have_lifecycle(_without(_states(aws_run), rules.AWS_ECR_LIFECYCLE))
    assert messages == ["ECR repository 'gridcast-aws' has no lifecycle policy"]


def test_mlflow_artifacts_outside_the_stack_buckets_fail(aws_run: StackRun) -> None:
    resources = _states(aws_run)
    for resource_type, props in resources:
        if resource_type == rules.AWS_MLFLOW_SERVER:
            props["artifactStoreUri"] = "s3://someone-elses-bucket/mlflow"
    assert rules.aws_mlflow_artifacts_in_stack_bucket(resources)


# -- the pulumi-policy wrapping -------------------------------------------------------------------------
def test_every_rule_becomes_one_mandatory_policy() -> None:
    policies = build_policies()
    assert [p.name for p in policies] == [r.name for r in (*rules.RESOURCE_RULES, *rules.STACK_RULES)]
    assert len({p.name for p in policies}) == len(policies)
    assert all(p.enforcement_level == pulumi_policy.EnforcementLevel.MANDATORY for p in policies)
    assert all(p.description for p in policies)


def _policy(name: str) -> pulumi_policy.Policy:
    (policy,) = [p for p in build_policies() if p.name == name]
    return policy


def test_wrapped_resource_policy_reports_what_the_rule_finds(aws_run: StackRun) -> None:
    policy = _policy("aws-kms-key-rotation")
    assert isinstance(policy, pulumi_policy.ResourceValidationPolicy)
    key = aws_run.named(f"{AWS}-key")
    reported: list[str] = []
    policy.validate(resource_validation_args(key), lambda message, urn=None: reported.append(message))
    assert reported == []
    broken = dataclasses.replace(key, inputs={**key.inputs, "enableKeyRotation": False})
    policy.validate(resource_validation_args(broken), lambda message, urn=None: reported.append(message))
    assert reported == ["KMS key must enable key rotation"]


def test_wrapped_policy_defers_unknown_preview_values_to_the_engine(azure_run: StackRun) -> None:
    """In preview an Output may be unknown; the rule must not report it as a violation."""
    policy = _policy("azure-role-assignment-least-privilege")
    assignment = azure_run.named(f"{AZ}-job-acr-pull")
    previewed = dataclasses.replace(
        assignment, inputs={**assignment.inputs, "roleAssignmentName": UNKNOWN_STRING_VALUE}
    )
    reported: list[str] = []
    with pytest.raises(UnknownValueError):
        policy.validate(resource_validation_args(previewed), lambda message, urn=None: reported.append(message))
    assert reported == []


def test_wrapped_stack_policy_reports_what_the_rule_finds(aws_run: StackRun) -> None:
    policy = _policy("aws-ecr-repositories-have-lifecycle")
    assert isinstance(policy, pulumi_policy.StackValidationPolicy)
    resources = [r for r in aws_run.custom if r.type != rules.AWS_ECR_LIFECYCLE]
    reported: list[str] = []
    policy.validate(stack_validation_args(resources), lambda message, urn=None: reported.append(message))
    assert reported == ["ECR repository 'gridcast-aws' has no lifecycle policy"]


def test_pack_entry_point_builds_the_pack_with_every_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    runpy.run_path(str(REPO_ROOT / "infra" / "policies" / "__main__.py"), run_name="__main__")
    assert built["name"] == PACK_NAME
    assert built["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert [p.name for p in built["policies"]] == [p.name for p in build_policies()]


def test_policy_pack_is_constructed_only_in_its_entry_file() -> None:
    callers = [p for p in Path(REPO_ROOT, "infra").rglob("*.py") if "PolicyPack(" in p.read_text()]
    assert callers == [REPO_ROOT / "infra" / "policies" / "__main__.py"]
    pack_file = (REPO_ROOT / "infra" / "policies" / "PulumiPolicy.yaml").read_text()
    assert "runtime:" in pack_file and "python" in pack_file
