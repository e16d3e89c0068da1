"""GitHub Actions: valid against GitHub's published schema, pinned, least privilege, and wired as designed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
PINNED = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    (found,) = [s for s in steps(job) if s.get("uses", "").startswith(action + "@")]
    return found


def index_of(job: dict[str, Any], predicate: Any) -> int:
    return next(i for i, s in enumerate(steps(job)) if predicate(s))


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, env=os.environ | {"NO_COLOR": "1"},
    )  # fmt: skip


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflow_matches_githubs_schema(name: str) -> None:
    result = validate(WORKFLOWS / name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\npermissions: {id-token: admin}\njobs: {build: {steps: [{run: 'true'}]}}\n")
    result = validate(broken)
    assert result.returncode == 1
    assert "Schema validation errors were encountered." in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_third_party_action_is_pinned_to_a_full_commit_with_its_version(name: str) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
    assert lines
    unpinned = [line.strip() for line in lines if not PINNED.match(line)]
    assert unpinned == []


def test_each_action_has_one_pin_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if match := PINNED.match(line):
                pins.setdefault(match["action"], set()).add(match["sha"])
    assert pins and {action: shas for action, shas in pins.items() if len(shas) > 1} == {}


def test_ci_lints_typechecks_tests_and_builds_the_image() -> None:
    ci = load("ci.yml")
    assert set(triggers(ci)) == {"pull_request", "push"}
    assert ci["permissions"] == {"contents": "read"}
    jobs = ci["jobs"]
    assert set(jobs) == {"lint", "typecheck", "test", "image"}
    assert any(s.get("run") == "ruff check ." for s in steps(jobs["lint"]))
    assert any(s.get("run") == "mypy" for s in steps(jobs["typecheck"]))
    test_run = " ".join(s.get("run", "") for s in steps(jobs["test"]))
    assert "./.ci/run" in test_run and "CI=true" in test_run  # .ci/run ends with `python3 dev.py test`
    build = step_using(jobs["image"], "docker/build-push-action")["with"]
    assert (build["file"], build["context"], build["push"]) == ("docker/Dockerfile", ".", False)
    assert "GIT_COMMIT=${{ github.sha }}" in build["build-args"]
    wheelhouse = index_of(jobs["image"], lambda s: s.get("run") == "docker/build-wheelhouse.sh")
    assert wheelhouse < index_of(jobs["image"], lambda s: "build-push-action" in s.get("uses", ""))


def test_deploy_runs_per_cloud_with_oidc_only() -> None:
    deploy = load("deploy.yml")
    assert triggers(deploy) == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    (job,) = deploy["jobs"].values()
    assert job["strategy"]["matrix"] == {"cloud": ["azure", "aws"]}
    assert job["strategy"]["fail-fast"] is False  # one cloud failing does not cancel the other
    assert job["environment"] == "${{ matrix.cloud }}"
    assert job["concurrency"] == {"group": "deploy-${{ matrix.cloud }}", "cancel-in-progress": False}

    azure = step_using(job, "azure/login")
    assert azure["if"] == "matrix.cloud == 'azure'"
    assert azure["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
    aws = step_using(job, "aws-actions/configure-aws-credentials")
    assert aws["if"] == "matrix.cloud == 'aws'"
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "secrets." not in text  # nothing stored: no keys, passwords or client secrets
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|client-secret|creds:", text)
    assert not [s for s in steps(job) if "continue-on-error" in s]


def test_deploy_provisions_pushes_by_digest_runs_and_keeps_the_forecast() -> None:
    (job,) = load("deploy.yml")["jobs"].values()
    runs = [s.get("run", "") for s in steps(job)]
    up = index_of(job, lambda s: "pulumi up --yes --stack ${{ matrix.cloud }}" in s.get("run", ""))
    logins = [steps(job).index(step_using(job, a)) for a in ("azure/login", "aws-actions/configure-aws-credentials")]
    assert max(logins) < up

    push = step_using(job, "docker/build-push-action")
    assert push["with"]["push"] is True
    assert push["with"]["tags"] == "${{ steps.stack.outputs.image_repository }}:${{ github.sha }}"
    assert push["with"]["provenance"] is False
    assert "GIT_COMMIT=${{ github.sha }}" in push["with"]["build-args"]
    outputs = index_of(job, lambda s: "pulumi stack output --json" in s.get("run", ""))
    assert "image_repository" in runs[outputs] and up < outputs < steps(job).index(push)

    run = index_of(job, lambda s: s.get("run", "").startswith("runner "))
    runner = steps(job)[run]
    assert runner["run"] == (
        'runner --backend ${{ matrix.cloud }} --stack ${{ matrix.cloud }} --image "$IMAGE" --output-dir forecast'
    )
    assert runner["env"]["IMAGE"] == "${{ steps.stack.outputs.image_repository }}@${{ steps.image.outputs.digest }}"
    assert "--detach" not in runner["run"]  # the job waits for the cloud pipeline and fails with it
    upload = step_using(job, "actions/upload-artifact")
    assert upload["with"] == {"name": "forecast-${{ matrix.cloud }}", "path": "forecast/", "if-no-files-found": "error"}
    assert up < steps(job).index(push) < run < steps(job).index(upload)
