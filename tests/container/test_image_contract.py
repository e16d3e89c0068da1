"""The built image itself: who it runs as, what is installed, and the SageMaker failure-file contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.container.conftest import REPO, BuiltImage, run

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

PROBE = """
import importlib.metadata as md, json, os, shutil
from pathlib import Path
plugins = list(md.entry_points(group="mlflow.tracking_store"))
for plugin in plugins:
    plugin.load()
print(json.dumps({
    "uid": os.getuid(),
    "python": shutil.which("python"),
    "writable": sorted(p for p in ("/opt/ml/input/data", "/opt/ml/model", "/opt/ml/output", "/opt/ml/processing")
                       if os.access(p, os.W_OK)),
    "build_tools": sorted(t for t in ("gcc", "cc", "make") if shutil.which(t)) + [
        p for p in ("/opt/venv/bin/pip", "/opt/venv/lib/python3.11/site-packages/setuptools") if Path(p).exists()],
    "dists": sorted(f"{d.metadata['Name']}=={d.version}" for d in md.distributions()),
    "plugins": sorted(p.name for p in plugins),
}))
"""


def normalized(requirement: str) -> str:
    name, _, version = requirement.partition("==")
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"


def locked() -> set[str]:
    lock = (REPO / "requirements" / "image.lock").read_text()
    return {normalized(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.-]*==[^\s\\]+)", lock, re.MULTILINE)}


def test_image_metadata(image: BuiltImage) -> None:
    inspected = json.loads(run([image.podman, "image", "inspect", image.ref]).stdout)[0]
    config = inspected["Config"]
    assert config.get("User", "") in ("", "0", "root")  # starts as root only to hand SageMaker's mounts over
    assert config["Labels"]["org.gridcast.job-user"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/gridcast-entrypoint"]
    assert config["Labels"]["org.opencontainers.image.revision"] == image.commit
    assert config["Labels"]["org.opencontainers.image.base.name"] == "localhost/gridcast-base:bookworm"
    assert f"GRIDCAST_GIT_COMMIT={image.commit}" in config["Env"]
    assert inspected["Healthcheck"]["Test"] == [  # podman: top level
        "CMD",
        "/usr/local/bin/gridcast-entrypoint",
        "python",
        "-c",
        "import ml.steps",
    ]
    assert config["Cmd"] == ["python", "-m", "ml.steps", "--help"]


def test_runtime_is_exactly_the_lock_plus_gridcast_as_non_root(image: BuiltImage) -> None:
    out = run([image.podman, "run", "--rm", "--network", "none", image.ref, "python", "-c", PROBE]).stdout
    facts = json.loads(out.strip().splitlines()[-1])
    assert facts["uid"] == 10001
    assert facts["python"] == "/opt/venv/bin/python"  # what SageMaker's ContainerEntrypoint ["python"] finds
    assert facts["writable"] == ["/opt/ml/input/data", "/opt/ml/model", "/opt/ml/output", "/opt/ml/processing"]
    assert facts["build_tools"] == []
    assert {normalized(d) for d in facts["dists"]} == locked() | {"gridcast==0.1.0"}
    assert facts["plugins"] == ["arn", "azureml"]  # SageMaker and AzureML tracking URIs resolve in the job


def test_sagemaker_training_paths_and_failure_file(image: BuiltImage, tmp_path: Path) -> None:
    """A training job as SageMaker lays it out: channel, model and output folders under /opt/ml."""
    channel, model, output, store = (tmp_path / name for name in ("channel", "model", "output", "store"))
    for folder in (channel, model, output, store):
        folder.mkdir()
        os.chown(folder, 10001, 10001)  # SageMaker's volumes are writable by the job user
    (channel / "load.csv").write_text("timestamp,kw\n2023-01-01 00:00,-4\n")
    data = "/opt/ml/input/data/data/load.csv"
    result = subprocess.run(
        [
            image.podman, "run", "--rm", "--network", "none",
            "-v", f"{channel}:/opt/ml/input/data/data:ro", "-v", f"{model}:/opt/ml/model",
            "-v", f"{output}:/opt/ml/output", "-v", f"{store}:/store",
            "-e", "MLFLOW_TRACKING_URI=sqlite:////store/mlflow.db", "-e", "GRIDCAST_HOME=/store",
            image.ref, "python", "-m", "ml.steps", "train", "--data", data, "--model-out", "/opt/ml/model",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (message,) = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert message.startswith(f"{data}: column 'kw' has 1 negative reading(s) at line 2 ('-4')")
    assert (output / "failure").read_text() == message + "\n"  # SageMaker shows it as the FailureReason
    assert list(model.iterdir()) == []
