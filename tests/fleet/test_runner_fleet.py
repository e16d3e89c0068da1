"""``runner fleet`` end to end: shards as parallel processes, the merge, one ranked report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Run

pytestmark = pytest.mark.slow


def test_runner_fleet_ranks_the_whole_fleet_from_two_shards(
    fleet_files: dict[str, Path], tmp_path: Path, run_runner: Run
) -> None:
    result = run_runner(
        "fleet",
        "--data",
        str(fleet_files["folder"]),
        "--limits",
        str(fleet_files["limits"]),
        "--shards",
        "2",
        "--output-dir",
        "out",
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert "fleet shard 0/2" in result.stdout and "fleet shard 1/2" in result.stdout
    report = pd.read_csv(tmp_path / "out" / "fleet_report.csv")
    assert set(report["transformer_id"]) == {"FAST", "FLAT", "MID1", "MID2", "MID3", "SLOW"}
    assert report.iloc[0]["transformer_id"] == "FAST"  # the fast grower is the first to act on
    assert report.iloc[-1]["transformer_id"] == "FLAT"
    errors = pd.read_csv(tmp_path / "out" / "fleet_errors.csv")
    assert list(errors["transformer_id"]) == ["BAD"]  # reported, and the rest of the fleet still ran


def test_runner_fleet_refuses_a_missing_limits_file(fleet_files: dict[str, Path], run_runner: Run) -> None:
    result = run_runner("fleet", "--data", str(fleet_files["folder"]), "--limits", "nope.csv")
    assert result.returncode == 1
    assert "error: nope.csv: no such file or folder" in result.stderr
