"""``runner fleet`` end to end: shards as parallel processes, the merge, one ranked report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_HOME")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("runner")), *args],
        cwd=cwd,
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_runner_fleet_ranks_the_whole_fleet_from_two_shards(fleet_files: dict[str, Path], tmp_path: Path) -> None:
    result = runner(
        "fleet",
        "--data",
        str(fleet_files["folder"]),
        "--limits",
        str(fleet_files["limits"]),
        "--shards",
        "2",
        "--output-dir",
        "out",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert "fleet shard 0/2" in result.stdout and "fleet shard 1/2" in result.stdout
    report = pd.read_csv(tmp_path / "out" / "fleet_report.csv")
    assert set(report["transformer_id"]) == {"FAST", "FLAT", "MID1", "MID2", "MID3", "SLOW"}
    assert report.iloc[0]["transformer_id"] == "FAST"  # the fast grower is the first to act on
    assert report.iloc[-1]["transformer_id"] == "FLAT"
    errors = pd.read_csv(tmp_path / "out" / "fleet_errors.csv")
    assert list(errors["transformer_id"]) == ["BAD"]  # reported, and the rest of the fleet still ran


def test_runner_fleet_refuses_a_missing_limits_file(fleet_files: dict[str, Path], tmp_path: Path) -> None:
    result = runner("fleet", "--data", str(fleet_files["folder"]), "--limits", "nope.csv", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: nope.csv: no such file or folder" in result.stderr
