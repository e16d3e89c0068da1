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


def deploy_jobs() -> dict[str, Any]:
    return dict(load("deploy.yml")["jobs"])


def test_deploy_runs_only_after_ci_passed_for_that_commit() -> None:
    deploy = load("deploy.yml")
    assert triggers(deploy) == {
        "workflow_run": {"workflows": ["ci"], "types": ["completed"], "branches": ["main"]},
        "workflow_dispatch": None,
    }
    assert deploy["permissions"] == {"contents": "read"}  # each job asks for id-token itself
    assert deploy["concurrency"] == {"group": "deploy", "cancel-in-progress": False}
    jobs = deploy_jobs()
    assert list(jobs) == ["gate", "provision", "image", "run"]
    gate = jobs["gate"]
    assert gate["if"] == "github.event_name == 'workflow_dispatch' || github.event.workflow_run.conclusion == 'success'"
    assert gate["permissions"] == {"actions": "read", "contents": "read"}
    (check,) = steps(gate)
    assert check["env"]["SHA"] == "${{ github.event.workflow_run.head_sha || github.sha }}"
    assert '--workflow ci.yml --commit "$SHA" --status success' in check["run"]  # a dispatch is checked too
    assert "exit 1" in check["run"]
    assert [jobs[name]["needs"] for name in ("provision", "image", "run")] == [
        "gate",
        ["gate", "provision"],
        ["gate", "image"],
    ]
    for name in ("provision", "image", "run"):  # every job builds and runs exactly the commit CI passed
        checkout = step_using(jobs[name], "actions/checkout")
        assert checkout["with"] == {"ref": "${{ needs.gate.outputs.sha }}", "persist-credentials": False}


def test_each_cloud_job_uses_oidc_only_with_the_identity_for_its_part() -> None:
    jobs = deploy_jobs()
    for name in ("provision", "image", "run"):
        job = jobs[name]
        assert job["permissions"] == {"id-token": "write", "contents": "read"}
        assert job["strategy"] == {"fail-fast": False, "matrix": {"cloud": ["azure", "aws"]}}
    # pulumi up as the provisioning identity, in its own (reviewable) environment...
    provision = jobs["provision"]
    assert provision["environment"] == "${{ matrix.cloud }}-provision"
    assert step_using(provision, "azure/login")["with"]["client-id"] == "${{ vars.AZURE_PROVISION_CLIENT_ID }}"
    aws = step_using(provision, "aws-actions/configure-aws-credentials")["with"]
    assert aws["role-to-assume"] == "${{ vars.AWS_PROVISION_ROLE_ARN }}"
    # ...with the azure-native provider signing in by OIDC too
    env = provision["env"]
    assert env["ARM_USE_OIDC"] == "${{ matrix.cloud == 'azure' && 'true' || '' }}"
    assert env["ARM_CLIENT_ID"] == "${{ vars.AZURE_PROVISION_CLIENT_ID }}"
    assert (env["ARM_TENANT_ID"], env["ARM_SUBSCRIPTION_ID"]) == (
        "${{ vars.AZURE_TENANT_ID }}",
        "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    )
    # the image and the run as the stack's narrow deploy identity
    for name in ("image", "run"):
        assert jobs[name]["environment"] == "${{ matrix.cloud }}"
    assert step_using(jobs["image"], "azure/login")["with"]["client-id"] == "${{ vars.AZURE_CLIENT_ID }}"
    image_aws = step_using(jobs["image"], "aws-actions/configure-aws-credentials")["with"]
    assert image_aws["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "secrets." not in text  # nothing stored: no keys, passwords or client secrets
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|client-secret|creds:", text)
    assert not [s for job in jobs.values() for s in steps(job) if "continue-on-error" in s]


def test_provision_runs_pulumi_up_with_the_policy_pack_and_hands_on_the_outputs() -> None:
    provision = deploy_jobs()["provision"]
    runs = [s.get("run", "") for s in steps(provision)]
    up = next(i for i, r in enumerate(runs) if "pulumi up" in r)
    assert "pulumi up --yes --stack ${{ matrix.cloud }} --policy-pack infra/policies" in runs[up]
    logins = [
        steps(provision).index(step_using(provision, a))
        for a in ("azure/login", "aws-actions/configure-aws-credentials")
    ]
    assert max(logins) < up
    output = next(i for i, r in enumerate(runs) if "pulumi stack output --json --show-secrets=false" in r)
    upload = step_using(provision, "actions/upload-artifact")
    assert up < output < steps(provision).index(upload)
    assert upload["with"]["name"] == "stack-outputs-${{ matrix.cloud }}"


def test_image_is_pushed_once_per_commit_and_reused_by_digest_on_a_redeploy() -> None:
    image = deploy_jobs()["image"]
    existing = index_of(image, lambda s: s.get("id") == "existing")
    lookup = steps(image)[existing]["run"]
    assert "aws ecr describe-images" in lookup and 'imageTag="$TAG"' in lookup
    assert "az acr manifest show-metadata" in lookup
    assert steps(image)[existing]["env"]["TAG"] == "${{ needs.gate.outputs.sha }}"
    push = step_using(image, "docker/build-push-action")
    assert push["if"] == "steps.existing.outputs.digest == ''"  # an immutable tag is never pushed twice
    assert push["with"]["push"] is True
    assert push["with"]["tags"] == "${{ steps.stack.outputs.image_repository }}:${{ needs.gate.outputs.sha }}"
    assert push["with"]["provenance"] is False
    assert "GIT_COMMIT=${{ needs.gate.outputs.sha }}" in push["with"]["build-args"]
    assert existing < steps(image).index(push)
    digest = steps(image)[index_of(image, lambda s: s.get("id") == "digest")]
    assert digest["env"]["DIGEST"] == "${{ steps.existing.outputs.digest || steps.build.outputs.digest }}"
    assert 'echo "$REPOSITORY@$DIGEST" > image.txt' in digest["run"] and "exit 1" in digest["run"]
    handed = step_using(image, "actions/upload-artifact")["with"]
    assert (handed["name"], handed["path"]) == ("image-${{ matrix.cloud }}", "image.txt")


def test_run_signs_in_with_a_renewing_token_checks_first_then_waits_and_keeps_the_forecast() -> None:
    run = deploy_jobs()["run"]
    uses = [s.get("uses", "") for s in steps(run)]
    assert not [u for u in uses if u.startswith(("azure/login@", "aws-actions/configure-aws-credentials@"))]
    sign_in = steps(run)[index_of(run, lambda s: "TOKEN_FILE" in s.get("run", ""))]
    assert "while sleep 240" in sign_in["run"] and "nohup" in sign_in["run"]
    for variable in ("AZURE_FEDERATED_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AZURE_CLIENT_ID"):
        assert variable in sign_in["run"]
    assert (
        sign_in["env"]["AUDIENCE"]
        == "${{ matrix.cloud == 'azure' && 'api://AzureADTokenExchange' || 'sts.amazonaws.com' }}"
    )
    doctor = index_of(run, lambda s: s.get("run", "").startswith("runner doctor "))
    pipeline = index_of(run, lambda s: s.get("run", "").startswith("runner --backend"))
    runner = steps(run)[pipeline]
    assert runner["run"] == (
        "runner --backend ${{ matrix.cloud }} --stack-outputs stack-outputs.json"
        ' --image "$(cat image.txt)" --output-dir forecast'
    )
    downloads = [s["with"]["name"] for s in steps(run) if s.get("uses", "").startswith("actions/download-artifact@")]
    assert downloads == ["stack-outputs-${{ matrix.cloud }}", "image-${{ matrix.cloud }}"]
    assert "--detach" not in runner["run"]  # the job waits for the cloud pipeline and fails with it
    upload = step_using(run, "actions/upload-artifact")
    assert upload["with"] == {"name": "forecast-${{ matrix.cloud }}", "path": "forecast/", "if-no-files-found": "error"}
    assert index_of(run, lambda s: s is sign_in) < doctor < pipeline < steps(run).index(upload)
    assert run["timeout-minutes"] > 60  # longer than one credential's life: the renewing sign-in covers it
