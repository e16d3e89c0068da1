"""SageMaker's root-owned mounts: the image's entrypoint hands them to the job user, then drops root.

SageMaker starts the container as root and mounts /opt/ml/model, /opt/ml/output and
/opt/ml/processing/output/<name> as root-owned volumes, hiding the image's chown
(aws/sagemaker-python-sdk#4764). Here the same mounts are real root-owned host folders, and the
container starts the way the compiled definition starts it: ``ContainerEntrypoint`` =
``[IMAGE_ENTRYPOINT, "python"]`` (rootful podman, default capabilities, as on a SageMaker host).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from runners.aws.compile import IMAGE_ENTRYPOINT
from tests.container.conftest import BuiltImage

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

PROBE = (
    "import json, os; status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines());"
    "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cap_eff': status['CapEff'].strip(),"
    "'no_new_privs': status['NoNewPrivs'].strip(), 'home': os.environ.get('HOME')}))"
)


def root_owned(*folders: Path) -> None:
    for folder in folders:
        folder.mkdir(parents=True)
        os.chown(folder, 0, 0)
        folder.chmod(0o755)  # what SageMaker's volumes look like to the image's user: not writable


def sagemaker_run(
    image: BuiltImage, mounts: dict[Path, str], argv: list[str], entrypoint: str = IMAGE_ENTRYPOINT
) -> subprocess.CompletedProcess[str]:
    volumes = [arg for host, target in mounts.items() for arg in ("-v", f"{host}:{target}")]
    return subprocess.run(
        [image.podman, "run", "--rm", "--network", "none", "--entrypoint", json.dumps([entrypoint, "python"]),
         *volumes, image.ref, *argv],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_step_runs_as_the_job_user_without_privileges(image: BuiltImage) -> None:
    result = sagemaker_run(image, {}, ["-c", PROBE])
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts == {"uid": 10001, "gid": 10001, "cap_eff": "0000000000000000", "no_new_privs": "1",
                     "home": "/home/gridcast"}  # fmt: skip


def test_training_job_writes_its_model_into_root_owned_mounts(
    image: BuiltImage, tmp_path: Path, synthetic_csv: Path
) -> None:
    model, output, channel, store = (tmp_path / n for n in ("model", "output", "channel", "store"))
    root_owned(model, output)
    channel.mkdir()
    (channel / "data.csv").write_bytes(synthetic_csv.read_bytes())
    store.mkdir()
    os.chown(store, 10001, 10001)  # stands for the remote tracking server, not a SageMaker mount
    mounts = {model: "/opt/ml/model", output: "/opt/ml/output", channel: "/opt/ml/input/data/data:ro", store: "/store"}
    argv = ["-m", "ml.steps", "train", "--data", "/opt/ml/input/data/data/data.csv", "--model-out", "/opt/ml/model",
            "--tracking-uri", "sqlite:////store/mlflow.db"]  # fmt: skip

    result = sagemaker_run(image, mounts, argv)

    assert result.returncode == 0, result.stderr
    assert (model / "candidate.json").is_file()
    assert {p.stat().st_uid for p in model.rglob("*")} == {10001}
    assert not (output / "failure").exists()


def test_processing_job_failure_reaches_the_failure_file_in_a_root_owned_mount(
    image: BuiltImage, tmp_path: Path
) -> None:
    decision, output, inputs = tmp_path / "decision", tmp_path / "output", tmp_path / "input"
    root_owned(decision, output)
    inputs.mkdir()
    (inputs / "data.csv").write_text("timestamp,kw\n2023-01-01 00:00,4\n")
    (inputs / "candidate").mkdir()  # the train step's output, but empty: promote refuses it
    argv = ["-m", "ml.steps", "promote", "--data", "/opt/ml/processing/input/data/data.csv",
            "--candidate", "/opt/ml/processing/input/data/candidate",
            "--decision-out", "/opt/ml/processing/output/decision"]  # fmt: skip
    mounts = {decision: "/opt/ml/processing/output/decision", output: "/opt/ml/output",
              inputs: "/opt/ml/processing/input/data:ro"}  # fmt: skip

    result = sagemaker_run(image, mounts, argv)

    assert result.returncode == 1, result.stderr
    (message,) = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "candidate.json: no candidate here" in message
    assert (output / "failure").read_text() == message + "\n"
    assert (output / "message").read_text() == message + "\n"
    assert decision.stat().st_uid == 10001  # handed over, though nothing was written into it


def test_without_the_entrypoint_the_step_fails_with_its_own_error(image: BuiltImage, tmp_path: Path) -> None:
    """Bypassing the hand-over (as a definition without IMAGE_ENTRYPOINT would): the job user cannot write
    the root-owned mounts, and the unwritable failure file does not hide the step's own error."""
    model, output, channel = tmp_path / "model", tmp_path / "output", tmp_path / "channel"
    root_owned(model, output)
    channel.mkdir()
    (channel / "data.csv").write_text("timestamp,kw\n2023-01-01 00:00,abc\n")
    argv = ["-m", "ml.steps", "train", "--data", "/opt/ml/input/data/data/data.csv", "--model-out", "/opt/ml/model"]
    mounts = {model: "/opt/ml/model", output: "/opt/ml/output", channel: "/opt/ml/input/data/data:ro"}

    result = subprocess.run(
        [image.podman, "run", "--rm", "--network", "none", "--user", "10001:10001", *(
            a for host, target in mounts.items() for a in ("-v", f"{host}:{target}")),
         image.ref, "python", *argv],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert "error: /opt/ml/input/data/data/data.csv: column 'kw' has non-numeric text" in result.stderr
    assert "warning: could not write the failure file /opt/ml/output/failure: Permission denied" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (output / "failure").exists()
