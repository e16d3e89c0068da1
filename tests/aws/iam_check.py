"""Would the deploy role allow every AWS call the backend made? A small, strict stand-in for IAM.

moto enforces no policy, so the tests record each API call the backend's own clients send
(``provide-client-params``: operation and parameters, before the request is signed) and check it
against the deploy role's policy from ``infra.aws_policies``, rendered for the fake stack. Each call
is turned into the IAM actions and resource ARNs AWS authorizes it by (the documented mapping, e.g.
HeadObject is ``s3:GetObject``; a missing key answers 404 only with ``s3:ListBucket``). The policy is
matched the way IAM matches: exact action, ``*``/``?`` wildcards in the resource, case-sensitive,
``StringEquals`` conditions against the request context. Any call this module cannot map fails the
test, so a new boto3 call cannot slip past without a grant and a row in runners/aws/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fake_stack import ACCOUNT, BUCKET, REGION, ROLE, TRACKING_SERVER

from infra import aws_policies

PASSED_TO_SAGEMAKER = {"iam:PassedToService": aws_policies.SAGEMAKER_SERVICE}


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def deploy_policy(stack_outputs: dict[str, Any]) -> dict[str, Any]:
    """The deploy role's policy as the stack renders it, for the fake stack's names and ARNs."""
    return aws_policies.deploy_role_policy(
        execution_role_arn=ROLE,
        tracking_server_arn=TRACKING_SERVER,
        bucket_arn=f"arn:aws:s3:::{BUCKET}",
        kms_key_arn=stack_outputs["kms_key_arn"],
        repository_arn=f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/gridcast-test",
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        pipeline_prefix=stack_outputs["name_prefix"],
        data_prefix=stack_outputs["data_uri"].removeprefix(f"s3://{BUCKET}/"),
        outputs_prefix=stack_outputs["outputs_uri"].removeprefix(f"s3://{BUCKET}/"),
    )


def needs(call: Call, kms_key_arn: str) -> list[Need]:
    """What IAM checks for one call (raises KeyError for a call nobody has mapped yet)."""
    p = call.params
    if call.service == "sts" and call.operation == "GetCallerIdentity":
        return []  # AWS answers it for any valid credentials; no policy can deny it
    if call.service == "ecr" and call.operation == "DescribeImages":
        return [Need("ecr:DescribeImages", f"arn:aws:ecr:{REGION}:{p['registryId']}:repository/{p['repositoryName']}")]
    if call.service == "iam" and call.operation == "GetRole":
        return [Need("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/{p['RoleName']}")]
    if call.service == "s3" and call.operation == "HeadBucket":
        return [Need("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}")]
    if call.service == "s3":
        bucket, obj = f"arn:aws:s3:::{p['Bucket']}", f"arn:aws:s3:::{p['Bucket']}/{p.get('Key', '')}"
        put = [Need("s3:PutObject", obj)]
        return {
            "HeadObject": [Need("s3:GetObject", obj), Need("s3:ListBucket", bucket)],
            "GetObject": [Need("s3:GetObject", obj), Need("s3:ListBucket", bucket), Need("kms:Decrypt", kms_key_arn)],
            "PutObject": [*put, Need("kms:GenerateDataKey", kms_key_arn)],
            "CreateMultipartUpload": [*put, Need("kms:GenerateDataKey", kms_key_arn), Need("kms:Decrypt", kms_key_arn)],
            "UploadPart": put,
            "CompleteMultipartUpload": put,
            "AbortMultipartUpload": [Need("s3:AbortMultipartUpload", obj)],
            "ListObjectsV2": [Need("s3:ListBucket", bucket)],
        }[call.operation]
    if call.service == "sagemaker":
        if "PipelineExecutionArn" in p:
            resource = p["PipelineExecutionArn"]
        elif "TrackingServerName" in p:
            resource = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/{p['TrackingServerName']}"
        elif "PipelineName" in p:  # SageMaker ARNs carry the name in lowercase
            resource = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{p['PipelineName'].lower()}"
        else:  # e.g. ListPipelines: no resource type, so only "*" would allow it
            resource = "*"
        result = [Need(f"sagemaker:{call.operation}", resource)]
        if "Tags" in p:
            result.append(Need("sagemaker:AddTags", resource))
        if "RoleArn" in p:
            result.append(Need("iam:PassRole", p["RoleArn"], tuple(PASSED_TO_SAGEMAKER.items())))
        return result
    if call.service == "logs":
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{p['logGroupName']}"
        return {
            "DescribeLogStreams": [Need("logs:DescribeLogStreams", group)],
            "GetLogEvents": [Need("logs:GetLogEvents", f"{group}:log-stream:{p.get('logStreamName')}")],
        }[call.operation]
    raise KeyError(call.service)


def _matches(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def allows(policy: dict[str, Any], need: Need) -> bool:
    context = dict(need.context)
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or need.action not in statement["Action"]:
            continue
        if not any(_matches(pattern, need.resource) for pattern in statement["Resource"]):
            continue
        conditions = statement.get("Condition", {})
        if set(conditions) - {"StringEquals"}:
            continue  # an operator this check does not evaluate never allows
        if all(context.get(key) == value for key, value in conditions.get("StringEquals", {}).items()):
            return True
    return False


def denied(policy: dict[str, Any], calls: list[Call], kms_key_arn: str) -> list[str]:
    """Every call (with what it needs) the policy would refuse; empty when all are allowed."""
    problems = []
    for call in calls:
        try:
            required = needs(call, kms_key_arn)
        except KeyError:
            problems.append(f"{call.service}:{call.operation} is not mapped to IAM actions (tests/aws/iam_check.py)")
            continue
        problems += [
            f"{call.service}:{call.operation} needs {n.action} on {n.resource}"
            for n in required
            if not allows(policy, n)
        ]
    return problems
