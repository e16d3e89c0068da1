"""The Azure network posture matches where the deploy job runs: whoever submits must reach the workspace.

The run job of .github/workflows/deploy.yml submits to the workspace's data plane. On a GitHub-hosted
runner (public internet) the workspace must keep its public endpoint (Entra ID only); a private
workspace needs the job on a self-hosted runner inside its network, and a private endpoint there.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pulumi_harness import StackRun, run_main, stack_config

REPO = Path(__file__).resolve().parents[2]
GITHUB_HOSTED = ("ubuntu-", "windows-", "macos-")
SUBNET = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-ci/subnets/pe"


def runs_on(job: str) -> list[str]:
    labels = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())["jobs"][job]["runs-on"]
    return [labels] if isinstance(labels, str) else list(labels)


def posture_problems(labels: list[str], run: StackRun) -> list[str]:
    hosted = any(label.startswith(GITHUB_HOSTED) for label in labels)
    (workspace,) = run.of_type("azure-native:machinelearningservices:Workspace")
    endpoints = run.of_type("azure-native:network:PrivateEndpoint")
    public = workspace.inputs["publicNetworkAccess"] == "Enabled"
    problems = []
    if hosted and not public:
        problems.append(f"deploy runs on GitHub-hosted {labels} but the workspace is private")
    if not public and "self-hosted" not in labels:
        problems.append("a private workspace needs the deploy job on a self-hosted runner in its network")
    if not public and not any(
        c["privateLinkServiceId"] == workspace.state["id"]
        for e in endpoints
        for c in e.inputs["privateLinkServiceConnections"]
    ):
        problems.append("a private workspace needs a private endpoint")
    return problems


def test_the_default_stack_is_reachable_from_the_deploy_job(azure_run: StackRun) -> None:
    assert runs_on("run") == ["ubuntu-24.04"]
    assert posture_problems(runs_on("run"), azure_run) == []


def test_a_private_stack_with_the_hosted_runner_is_flagged() -> None:
    private = run_main(
        "azure",
        stack_config("azure") | {"gridcast:publicNetworkAccess": "false", "gridcast:privateEndpointSubnetId": SUBNET},
    )
    assert posture_problems(["ubuntu-24.04"], private) == [
        "deploy runs on GitHub-hosted ['ubuntu-24.04'] but the workspace is private",
        "a private workspace needs the deploy job on a self-hosted runner in its network",
    ]
    assert posture_problems(["self-hosted", "linux", "gridcast-vnet"], private) == []
