"""``runner --backend local --isolation container``: the whole pipeline in the image gives the process answer."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.container.conftest import BuiltImage

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

RUNNER = Path(sys.executable).with_name("runner")


def run_pipeline(workdir: Path, data: Path, *isolation: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_HOME")}
    return subprocess.run(
        [str(RUNNER), "--backend", "local", "--data", str(data), "--output-dir", "out", *isolation],
        cwd=workdir, capture_output=True, text=True, timeout=900,
        env=env | {"GRIDCAST_HOME": str(workdir / "state"), "GRIDCAST_CONTAINER_ENGINE": "podman", "COLUMNS": "200"},
    )  # fmt: skip


def close(a: Any, b: Any, tolerance: float = 1e-6) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=tolerance)
    return bool(a == b)


def test_pipeline_in_containers_matches_the_process_run(image: BuiltImage, tmp_path: Path, synthetic_csv: Path) -> None:
    process = run_pipeline(tmp_path / "process", synthetic_csv)
    assert process.returncode == 0, process.stderr
    container = run_pipeline(tmp_path / "container", synthetic_csv, "--isolation", "container", "--image", image.ref)
    assert container.returncode == 0, container.stderr + container.stdout
    for step in ("train", "promote", "predict"):
        assert re.search(rf"succeeded\s+{step} \([\d.]+ s in podman\)", container.stdout), container.stdout

    modes = ("process", "container")
    reports = [json.loads((tmp_path / m / "out" / "overload_report.json").read_text()) for m in modes]
    assert reports[1]["first_overload_at"] == reports[0]["first_overload_at"] is not None
    assert reports[1]["overload_hours"] == reports[0]["overload_hours"] > 0
    assert close({**reports[1], "run_id": None}, {**reports[0], "run_id": None})
    frames = [pd.read_csv(tmp_path / m / "out" / "predictions.csv") for m in modes]
    assert frames[1]["timestamp"].equals(frames[0]["timestamp"])
    numeric = frames[0].select_dtypes("number").columns
    assert len(numeric) >= 1 and (frames[1][numeric] - frames[0][numeric]).abs().max().max() <= 1e-6
    assert (tmp_path / "container" / "out" / "forecast.png").stat().st_size > 10_000

    # The steps ran in the image: its revision is on every MLflow run, and they ran as its user.
    state = tmp_path / "container" / "state"
    uri = f"sqlite:///{state / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("transformer-load").experiment_id])
    steps = {r.data.tags["gridcast.step"]: r.data.tags["git_commit"] for r in runs if "gridcast.step" in r.data.tags}
    assert steps == {"train": image.commit, "promote": image.commit, "predict": image.commit}
    (run_dir,) = (state / "runs").iterdir()
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["container"] == {"engine": "podman", "image": image.ref}
    assert (run_dir / "predict" / "predictions").stat().st_uid == 10001
    command = (run_dir / "train.log").read_text().splitlines()[0]
    assert command.startswith(f"$ {image.podman} run --rm ") and "--network none" in command
