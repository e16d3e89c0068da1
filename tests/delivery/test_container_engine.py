"""runners/local/engine.py: which engine, which mounts, which user, and what the user is told when it cannot work."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners.base import BackendOptions, RunRequest
from runners.local import create
from runners.local.engine import (
    Engine,
    EngineUnavailableError,
    Mount,
    detect_engine,
    hand_over,
    numeric_user,
    run_argv,
    step_mounts,
    tracking_access,
    user_args,
)
from runners.local.runner import LocalRunner
from runners.spec import load_spec

RUNNER = Path(sys.executable).with_name("runner")
NO_DAEMON = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
PODMAN = Engine("podman", "/usr/bin/podman")


@pytest.fixture
def no_docker_daemon(stub_bin, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """A docker CLI whose daemon is unreachable, and no podman: like this project's dev machines."""
    folder = stub_bin("docker", f'echo "{NO_DAEMON}" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("GRIDCAST_CONTAINER_ENGINE", raising=False)
    return folder


def test_a_docker_cli_without_daemon_is_not_an_engine(no_docker_daemon: Path) -> None:
    with pytest.raises(EngineUnavailableError) as error:
        detect_engine()
    assert str(error.value) == (
        f"container isolation needs docker or podman, and none is usable here (docker: {NO_DAEMON}; "
        "podman: not installed); install one, or run with --isolation process"
    )


def test_podman_is_found_and_its_rootless_mode_read(stub_bin, no_docker_daemon: Path) -> None:  # type: ignore[no-untyped-def]
    stub_bin("podman", '[ "$1 $2 $3" = "info --format {{.Host.Security.Rootless}}" ] && echo true\n')
    assert detect_engine() == Engine("podman", str(no_docker_daemon / "podman"), rootless=True)


def test_engine_choice_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCAST_CONTAINER_ENGINE", "containerd")
    with pytest.raises(EngineUnavailableError) as error:
        detect_engine()
    assert str(error.value) == "GRIDCAST_CONTAINER_ENGINE='containerd': choose docker or podman"


def test_sqlite_store_in_the_state_folder_needs_only_that_folder_and_no_network(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert tracking_access(f"sqlite:///{state}/mlflow.db", state) == ([state], "none")
    elsewhere = tmp_path / "db"
    assert tracking_access(f"sqlite:///{elsewhere}/mlflow.db", state) == ([state, elsewhere], "none")
    assert tracking_access(f"file://{tmp_path}/mlruns", state) == ([state, tmp_path / "mlruns"], "none")


def test_server_stores_get_the_network_they_need(tmp_path: Path) -> None:
    assert tracking_access("http://127.0.0.1:5000", tmp_path) == ([], "host")
    assert tracking_access("https://mlflow.example.org", tmp_path) == ([], None)


def test_relative_store_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError) as error:
        tracking_access("sqlite:///mlflow.db", tmp_path)
    assert str(error.value) == "tracking URI 'sqlite:///mlflow.db': container isolation needs an absolute path"


@pytest.mark.parametrize("user", ["", "0:0", "gridcast", "10001:staff"])
def test_image_user_must_be_numeric_and_not_root(user: str) -> None:
    with pytest.raises(EngineUnavailableError) as error:
        numeric_user(user)
    assert str(error.value) == f"the image's USER is {user or 'root'!r}; it must be a numeric non-root UID:GID"


def test_image_user_parsing() -> None:
    assert numeric_user("10001:10001") == (10001, 10001)
    assert numeric_user("4242") == (4242, 4242)


def test_never_root_in_the_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert user_args(PODMAN, (10001, 10001)) == ["--user", "10001:10001"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 100)
    assert user_args(Engine("docker", "docker"), (10001, 10001)) == ["--user", "1000:100"]
    assert user_args(Engine("podman", "podman", rootless=True), (10001, 10001)) == [
        "--userns", "keep-id", "--user", "1000:100",
    ]  # fmt: skip


def test_run_argv_mounts_exactly_the_declared_paths_at_their_host_paths(tmp_path: Path) -> None:
    state, data = tmp_path / "state", tmp_path / "load.csv"
    model = state / "runs" / "r1" / "train" / "model"
    decision = state / "runs" / "r1" / "promote" / "decision"
    mounts = step_mounts({"data": str(data), "candidate": str(model)}, {"decision": str(decision)}, [state])
    command = ["python", "-m", "ml.steps", "promote", "--data", str(data), "--candidate", str(model)]
    argv = run_argv(
        PODMAN, "gridcast:test", command, name="gridcast-r1-promote", mounts=mounts, masks=[state / "runs"],
        env_names=["MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_PASSWORD"], user=["--user", "10001:10001"], network="none",
    )  # fmt: skip
    assert argv[:3] == ["/usr/bin/podman", "run", "--rm"]
    assert argv[-len(command) - 1 :] == ["gridcast:test", *command]  # the plan's command, unchanged
    pairs = list(itertools.pairwise(argv))
    assert [value for flag, value in pairs if flag == "--mount"] == [
        f"type=bind,source={state},target={state}",
        f"type=bind,source={data},target={data},readonly",
        f"type=bind,source={model},target={model},readonly",
        f"type=bind,source={decision},target={decision}",
    ]
    assert ("--tmpfs", str(state / "runs")) in pairs  # other runs' folders stay hidden
    assert ("--network", "none") in pairs and ("--user", "10001:10001") in pairs and ("--pull", "never") in pairs
    assert {"--read-only", "--no-healthcheck"} <= set(argv) and ("--cap-drop", "ALL") in pairs
    # Values come from the engine's environment: nothing (e.g. a password) is visible on the command line.
    assert ("--env", "MLFLOW_TRACKING_PASSWORD") in pairs and ("--env", "HOME=/tmp") in pairs
    assert not [a for a in argv if a.startswith("MLFLOW_TRACKING_PASSWORD=")]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand folders to another user")
def test_root_hands_written_folders_to_the_image_user_except_masked_ones(tmp_path: Path) -> None:
    state, data = tmp_path / "state", tmp_path / "data.csv"
    (state / "artifacts" / "1").mkdir(parents=True)
    (state / "mlflow.db").write_text("")
    (state / "runs" / "old").mkdir(parents=True)
    data.write_text("")
    mounts = [Mount(state, state, read_only=False), Mount(data, data, read_only=True)]

    hand_over(mounts, [state / "runs"], 12345, 23456)

    for path in (state, state / "artifacts" / "1", state / "mlflow.db"):
        assert (path.stat().st_uid, path.stat().st_gid) == (12345, 23456)
    assert (state / "runs").stat().st_uid == 0 and data.stat().st_uid == 0


def test_the_plan_records_each_steps_declared_paths(tmp_path: Path, synthetic_csv: Path) -> None:
    runner = LocalRunner(tmp_path, f"sqlite:///{tmp_path}/mlflow.db")
    handle = runner.submit(load_spec(), RunRequest(synthetic_csv, tmp_path / "out"))
    plan = json.loads((tmp_path / "runs" / handle.run_id / "plan.json").read_text())
    promote = next(s for s in plan["steps"] if s["name"] == "promote")
    run_dir = tmp_path / "runs" / handle.run_id
    assert promote["inputs"] == {"data": str(synthetic_csv.resolve()), "candidate": str(run_dir / "train" / "model")}
    assert promote["outputs"] == {"decision": str(run_dir / "promote" / "decision")}
    assert "container" not in plan


def test_unknown_isolation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^unknown isolation 'vm'; choose one of process, container$"):
        create(BackendOptions(tmp_path, "sqlite:///x", isolation="vm"))


def runner_cli(tmp_path: Path, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_CONTAINER_ENGINE")}
    return subprocess.run(
        [str(RUNNER), "--backend", "local", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=env | {"PATH": str(path), "GRIDCAST_HOME": str(tmp_path / "state"), "COLUMNS": "250"},
    )  # fmt: skip


def test_cli_container_isolation_without_engine_says_why_and_what_to_do(tmp_path: Path, no_docker_daemon: Path) -> None:
    result = runner_cli(tmp_path, no_docker_daemon, "--isolation", "container")
    assert result.returncode == 1
    assert " ".join(result.stderr.split()) == (
        f"error: container isolation needs docker or podman, and none is usable here (docker: {NO_DAEMON}; "
        "podman: not installed); install one, or run with --isolation process"
    )
    assert not (tmp_path / "state" / "runs").exists()  # nothing started


def test_cli_container_isolation_with_a_missing_image(tmp_path: Path, stub_bin) -> None:  # type: ignore[no-untyped-def]
    folder = stub_bin("podman", '[ "$1" = info ] && echo false && exit 0\nexit 125\n')
    result = runner_cli(tmp_path, folder, "--isolation", "container", "--image", "localhost/nothing:1")
    assert result.returncode == 1
    assert " ".join(result.stderr.split()) == (
        "error: image localhost/nothing:1 is not in podman's local storage; build it (docker/README.md) "
        "or pull it first"
    )


def test_cli_isolation_option_is_validated(tmp_path: Path) -> None:
    result = runner_cli(tmp_path, Path(os.environ["PATH"].split(os.pathsep)[0]), "--isolation", "vm")
    assert result.returncode == 2
    assert "'vm' is not one of 'process', 'container'" in " ".join(result.stderr.split())
