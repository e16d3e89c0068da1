"""Wrap the plain rules of :mod:`infra.policies.rules` as mandatory pulumi-policy policies."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policies.rules import RESOURCE_RULES, STACK_RULES, ResourceRule, StackRule

PACK_NAME = "gridcast-guardrails"


def resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    """One mandatory policy that reports each message ``rule`` returns for a resource."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    """One mandatory policy that reports each message ``rule`` returns for the whole stack."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(r.resource_type, r.props) for r in args.resources]
        for message in rule.check(resources):
            report_violation(message, None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def build_policies() -> list[Policy]:
    """Every rule as a mandatory policy, resource rules first."""
    return [*map(resource_policy, RESOURCE_RULES), *map(stack_policy, STACK_RULES)]
