"""Every resource each stack creates, run through every policy: zero violations."""

from __future__ import annotations

import pytest
from pulumi_harness import StackRun, resource_validation_args, stack_validation_args
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from infra.policies import rules
from infra.policies.pack import build_policies


@pytest.mark.parametrize("cloud", ["azure", "aws"])
def test_stack_has_zero_violations(cloud: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(f"{cloud}_run")
    assert len(run.custom) >= 18
    # Resource policies see a resource's inputs; stack policies see every resource's final state.
    assert [
        f"{rule.name} [{r.name}]: {message}"
        for r in run.custom
        for rule in rules.RESOURCE_RULES
        for message in rule.check(r.type, r.inputs)
    ] == []
    assert rules.violations([(r.type, r.state) for r in run.custom]) == []


@pytest.mark.parametrize("cloud", ["azure", "aws"])
def test_stack_passes_the_wrapped_pack_as_the_engine_calls_it(cloud: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(f"{cloud}_run")
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    policies = build_policies()
    assert len(policies) == len(rules.RESOURCE_RULES) + len(rules.STACK_RULES)
    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            for resource in run.custom:
                policy.validate(resource_validation_args(resource), report)
        else:
            assert isinstance(policy, StackValidationPolicy)
            policy.validate(stack_validation_args(run.custom), report)
    assert reported == []


def test_taggable_set_matches_what_the_stacks_tag(azure_run: StackRun, aws_run: StackRun) -> None:
    tagged = {r.type for run in (azure_run, aws_run) for r in run.custom if "tags" in r.inputs}
    untagged = {r.type for run in (azure_run, aws_run) for r in run.custom if "tags" not in r.inputs}
    assert tagged <= rules.TAGGABLE_TYPES
    assert not untagged & rules.TAGGABLE_TYPES
