"""Helpers for fault injection: a runner started in the background, its run's status, the store's state."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import RUNNER

Start = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Start]:
    """``runner ARGS`` in the background in a scratch folder; every one started is reaped at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_HOME")}
        process = subprocess.Popen(
            [str(RUNNER), *args],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=base | {"COLUMNS": "200", **(env or {})},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def latest_run(home: Path) -> Path:
    runs = sorted((home / "runs").glob("*/status.json"), key=lambda p: p.stat().st_mtime)
    assert runs, f"no run under {home / 'runs'}"
    return runs[-1].parent


def status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def wait_for(condition: Callable[[], bool], timeout_s: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, ValueError, AssertionError):
            pass
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")


def wait_for_log(home: Path, step: str, marker: str, timeout_s: float = 120) -> Path:
    """Wait until the newest run's ``step`` log contains ``marker``; returns the run folder."""

    def found() -> bool:
        return marker in (latest_run(home) / f"{step}.log").read_text()

    wait_for(found, timeout_s, f"{marker!r} in the {step} log")
    return latest_run(home)


def pid_alive(pid: int, started: str | None) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and fields[19] == started


def store(home: Path) -> MlflowClient:
    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def runs_of(client: MlflowClient, pipeline_run_id: str) -> list:
    experiment = client.get_experiment_by_name("transformer-load")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`gridcast.pipeline_run_id` = '{pipeline_run_id}'"
    )


def mounted_tmpfs(target: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``target`` (root only; skipped where it cannot be mounted), unmounted after."""
    target.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=False)
