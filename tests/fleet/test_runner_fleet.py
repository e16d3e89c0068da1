"""``runner fleet`` end to end: shards as parallel processes, the merge, one ranked report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from runners.base import Status, StepReport
from runners.local.shards import run_shards
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
    assert re.search(r"succeeded  fleet \([\d.]+ s, 2 shards\)", result.stdout), result.stdout
    assert "6 of 7 transformers forecast" in result.stdout and "1 could not be forecast" in result.stdout
    (run_dir,) = (tmp_path / ".gridcast" / "runs").iterdir()  # through the Runner: a plan, one log per shard
    plan = json.loads((run_dir / "plan.json").read_text())
    assert [c[-4:] for c in plan["steps"][0]["shards"]] == [
        ["--shard-index", str(i), "--shard-count", "2"] for i in (0, 1)
    ]
    for i in (0, 1):
        assert "progress: " in (run_dir / f"fleet.shard-{i}.log").read_text()
    report = pd.read_csv(tmp_path / "out" / "fleet_report.csv")
    assert set(report["transformer_id"]) == {"FAST", "FLAT", "MID1", "MID2", "MID3", "SLOW"}
    assert report.iloc[0]["transformer_id"] == "FAST"  # the fast grower is the first to act on
    assert report.iloc[-1]["transformer_id"] == "FLAT"
    errors = pd.read_csv(tmp_path / "out" / "fleet_errors.csv")
    assert list(errors["transformer_id"]) == ["BAD"]  # reported, and the rest of the fleet still ran
    assert set(report["decision"]) == {"promoted"} and set(report["model_version"]) == {1}
    assert "fleet folder: version 1 of gridcast-fleet-folder--" in result.stdout

    again = run_runner(*result.args[1:-1], "out2")  # the same fleet again: judged against version 1
    assert again.returncode == 0, again.stderr + again.stdout
    assert "fleet folder: version 2 of gridcast-fleet-folder--" in again.stdout
    second = pd.read_csv(tmp_path / "out2" / "fleet_report.csv")
    assert set(second["model_version"]) == {2}
    assert second["decision_reason"].str.contains("within 2% of the champion").all()


def test_runner_fleet_refuses_a_missing_limits_file(fleet_files: dict[str, Path], run_runner: Run) -> None:
    result = run_runner("fleet", "--data", str(fleet_files["folder"]), "--limits", "nope.csv")
    assert result.returncode == 1
    assert "error: nope.csv: no such file or folder" in result.stderr


def test_shards_see_the_narrow_step_environment_and_a_failing_shard_fails_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner hands each shard the environment it built, never the caller's whole one."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-steps")
    show = "import json, os, sys; print(json.dumps(sorted(os.environ))); sys.exit(int(sys.argv[1]))"
    step = {"name": "fleet", "shards": [["python", "-c", show, "0"], ["python", "-c", show, "3"]]}
    seen: list[StepReport] = []

    report = run_shards(tmp_path, step, {"PATH": "/usr/bin", "ONLY": "this"}, seen.append, lambda p: p.read_text())

    assert report.status is Status.FAILED and report.message.startswith("shard(s) 1 of 2 failed (exit code 3)")
    for i in (0, 1):
        names = set(json.loads((tmp_path / f"fleet.shard-{i}.log").read_text()))
        assert names - {"LC_CTYPE"} == {"ONLY", "PATH"}  # Python itself may add LC_CTYPE (PEP 538)
    assert "not-for-steps" not in (tmp_path / "fleet.log").read_text()
