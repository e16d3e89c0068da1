"""The same pipeline against a real ``mlflow server`` on loopback, behind a proxy that answers MLflow 3's
logged-models API with 404 as Azure ML does: only the tracking URI changes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.conftest import Run
from tests.pipeline.azure_like_tracking import AzureLikeProxy, azure_like_proxy

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


# The registry endpoints whose features Azure ML's MLflow support matrix marks supported (README,
# "Lineage and the registry layout"): no aliases, no registered-model search (by tag or LIKE).
AZURE_ML_SUPPORTED = {
    "POST /api/2.0/mlflow/registered-models/create",  # register models
    "GET /api/2.0/mlflow/registered-models/get",  # get_registered_model, the doc's own example (MLflow's prompt check)
    "POST /api/2.0/mlflow/model-versions/create",  # register models from runs' artifacts
    "GET /api/2.0/mlflow/model-versions/get",  # retrieve a model's versions
    "GET /api/2.0/mlflow/model-versions/search",  # ... by exact model name
    "POST /api/2.0/mlflow/model-versions/set-tag",  # edit model versions' tags
    "GET /api/2.0/mlflow/model-versions/get-download-uri",  # load models from the registry
}


@pytest.fixture
def azure_like(mlflow_server: str) -> Iterator[AzureLikeProxy]:
    with azure_like_proxy(mlflow_server) as proxy:
        yield proxy


def test_the_proxy_refuses_logged_models_as_azure_ml_does(azure_like: AzureLikeProxy) -> None:
    """The fake reproduces the public failure (Azure/azure-sdk-for-python#44896) word for word."""
    client = MlflowClient(tracking_uri=azure_like.url, registry_uri=azure_like.url)
    experiment = client.create_experiment("probe")
    with pytest.raises(MlflowException) as caught:
        client.create_logged_model(experiment)
    assert (
        "API request to endpoint /api/2.0/mlflow/logged-models failed with error code 404 != 200. Response body: ''"
        in str(caught.value)
    )
    assert azure_like.refused == ["POST /api/2.0/mlflow/logged-models"]
    assert client.get_experiment(experiment).name == "probe"  # everything else reaches the real server


def test_pipeline_without_the_logged_models_api(tmp_path: Path, run_runner: Run, azure_like: AzureLikeProxy) -> None:
    uri = azure_like.url
    first = run_runner("--backend", "local", "--tracking-uri", uri)
    assert first.returncode == 0, first.stderr
    second = run_runner("--backend", "local", "--tracking-uri", uri, "--output-dir", "again")
    assert second.returncode == 0, second.stderr

    assert azure_like.refused == []  # no step ever asked for the API Azure ML lacks
    assert azure_like.forwarded > 0
    registry_calls = {c for c in azure_like.calls if "/registered-models" in c or "/model-versions" in c}
    assert registry_calls <= AZURE_ML_SUPPORTED, registry_calls - AZURE_ML_SUPPORTED
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = "gridcast-builtin-synthetic"
    versions = {v.version: v.tags for v in client.search_model_versions(f"name='{name}'")}
    assert versions["1"]["gate.decision"] == versions["2"]["gate.decision"] == "promoted"
    assert versions["2"]["gate.promotion"] == "2" and versions["2"]["transformer_id"] == "builtin-synthetic"
    report = json.loads((tmp_path / "again" / "overload_report.json").read_text())
    assert report["model_uri"] == f"models:/{name}/2" and report["challenger"]["previous_champion_version"] == "1"
    assert report["since_last_run"]["previous_model_version"] == "1"
    run = client.get_run(report["run_id"])
    assert run.data.tags["first_overload_timestamp"] == report["first_overload_at"]
    assert run.data.tags["transformer_id"] == "builtin-synthetic"
    assert not (tmp_path / ".gridcast" / "mlflow.db").exists()  # nothing went to the embedded store
    # By artifact location: MLflow 3's list_artifacts(run_id, ...) itself searches logged models, so on
    # Azure ML it fails with the 404 above. gridcast reads runs' files the same way.
    outputs = mlflow.artifacts.list_artifacts(artifact_uri=f"{run.info.artifact_uri}/outputs", tracking_uri=uri)
    assert "outputs/forecast.png" in {a.path for a in outputs}
    # The registered version is plain files: the estimator's JSON and arrays, and no code.
    files = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(name, "2"), dst_path=str(tmp_path / "v2"), tracking_uri=uri
    )
    shipped = sorted(p.relative_to(files).as_posix() for p in Path(files).rglob("*") if p.is_file())
    assert "data/estimator/estimator.json" in shipped and "data/estimator/arrays.npz" in shipped
    assert not [f for f in shipped if f.endswith(".py") or f.startswith("code/")]
