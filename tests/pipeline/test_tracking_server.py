"""The same pipeline against a real ``mlflow server`` on loopback: only the tracking URI changes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ml.steps import CHAMPION, MODEL_NAME
from tests.conftest import Run

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{server_dir / 'server.db'}",
        "--artifacts-destination",
        str(server_dir / "artifacts"),
        "--workers",
        "1",
    ]
    log = (server_dir / "server.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=server_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start:\n{(server_dir / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_pipeline_against_a_real_tracking_server(tmp_path: Path, run_runner: Run, mlflow_server: str) -> None:
    result = run_runner("--backend", "local", "--tracking-uri", mlflow_server)
    assert result.returncode == 0, result.stderr

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    version = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert str(version.version) == "1"
    report = json.loads((tmp_path / "outputs" / "overload_report.json").read_text())
    run = client.get_run(report["run_id"])
    assert run.data.tags["first_overload_timestamp"] == report["first_overload_at"]
    assert not (tmp_path / ".gridcast" / "mlflow.db").exists()  # nothing went to the embedded store
    artifacts = {a.path for a in client.list_artifacts(report["run_id"], "outputs")}
    assert "outputs/forecast.png" in artifacts
