"""The fleet step and its merge: one MLflow run, one model artifact, shards that add up to the whole."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from fleet_data import LIMITS
from typer.testing import CliRunner

from ml.fleet import shard_of, unpack_models
from ml.steps import EXIT_BAD_INPUT
from ml.steps.__main__ import app
from ml.steps.fleet import merge_fleet, run_fleet


def runs(step: str) -> list:  # type: ignore[type-arg]
    return mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.`gridcast.step` = '{step}'", output_format="list"
    )


def test_step_logs_one_run_with_one_model_artifact_and_shards_merge_to_the_whole(
    state: Path, fleet_files: dict[str, Path], tmp_path: Path
) -> None:
    whole = run_fleet(fleet_files["folder"], fleet_files["limits"], tmp_path / "whole", jobs=2)
    assert (whole["transformers"], whole["forecast"], whole["failed"]) == (7, 6, 1)
    out = tmp_path / "whole"
    assert {p.name for p in out.iterdir()} == {
        "fleet_report.csv",
        "fleet_errors.csv",
        "fleet_risk.png",
        "fleet_model.npz",
        "fleet_manifest.json",
    }
    errors = pd.read_csv(out / "fleet_errors.csv")
    assert list(errors["transformer_id"]) == ["BAD"] and "BAD.csv [BAD]: column 'kw'" in errors["error"].iloc[0]

    (run,) = runs("fleet")
    assert run.data.metrics["transformers"] == 7 and run.data.metrics["failed"] == 1
    assert run.data.params["shard_count"] == "1" and len(run.data.tags["data_sha256"]) == 64
    client = mlflow.MlflowClient()
    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == ["model/fleet_model.npz"]
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "outputs")}
    assert {"outputs/fleet_report.csv", "outputs/fleet_risk.png", "outputs/fleet_errors.csv"} <= logged
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model/fleet_model.npz")
    assert sorted(unpack_models(np.load(local, allow_pickle=False))) == sorted(t for t in LIMITS if t != "BAD")

    parts = tmp_path / "parts"
    for index in range(3):
        shard = run_fleet(fleet_files["long"], fleet_files["limits"], parts, jobs=1, shard_index=index, shard_count=3)
        assert shard["transformers"] == sum(shard_of(t, 3) == index for t in LIMITS)
    merge_fleet([parts], tmp_path / "merged")
    for name in ("fleet_report.csv", "fleet_errors.csv"):
        merged = pd.read_csv(tmp_path / "merged" / name)
        unsharded = pd.read_csv(out / name)
        if name == "fleet_report.csv":  # the merge registered the fleet's first version; the lone shard did not
            assert set(merged.pop("model_version")) == {1} and unsharded.pop("model_version").isna().all()
            assert set(merged["decision"]) == {"promoted"}
        if name == "fleet_errors.csv":  # same failure; the message names the file it came from
            merged["error"] = merged["error"].str.replace(r"line \d+", "line N", regex=True).str.split(": ", n=1).str[1]
            unsharded["error"] = (
                unsharded["error"].str.replace(r"line \d+", "line N", regex=True).str.split(": ", n=1).str[1]
            )
        pd.testing.assert_frame_equal(merged, unsharded)
    assert len(runs("fleet")) == 4 and len(runs("fleet-merge")) == 1


def test_merge_refuses_an_incomplete_set_of_shards(state: Path, fleet_files: dict[str, Path], tmp_path: Path) -> None:
    run_fleet(fleet_files["folder"], fleet_files["limits"], tmp_path / "parts", jobs=1, shard_index=0, shard_count=2)
    result = CliRunner().invoke(app, ["fleet-merge", "--parts", str(tmp_path / "parts"), "--out", str(tmp_path / "m")])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "found shard indices [0] of counts [2]" in result.output


def test_cli_missing_limit_and_all_failed_exit_2(state: Path, fleet_files: dict[str, Path], tmp_path: Path) -> None:
    limits = tmp_path / "limits.csv"
    limits.write_text("transformer_id,limit_kw\nFAST,85\n")
    args = ["fleet", "--data", str(fleet_files["folder"]), "--out", str(tmp_path / "o"), "--jobs", "1"]
    result = CliRunner().invoke(app, [*args, "--limits", str(limits)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{limits}: no 'limit_kw' for transformer(s) BAD, FLAT, MID1, MID2, MID3, SLOW;" in result.output

    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "BAD.csv").write_text((fleet_files["folder"] / "BAD.csv").read_text())
    result = CliRunner().invoke(
        app,
        [
            "fleet",
            "--data",
            str(only_bad),
            "--limits",
            str(limits),
            "--out",
            str(tmp_path / "b"),
            "--default-limit-kw",
            "90",
        ],
    )
    assert result.exit_code == EXIT_BAD_INPUT
    assert "none of the 1 transformer(s) could be forecast" in result.output
    assert pd.read_csv(tmp_path / "b" / "fleet_errors.csv")["transformer_id"].tolist() == ["BAD"]


@pytest.mark.parametrize("args", [["--shard-index", "3", "--shard-count", "3"]])
def test_cli_refuses_a_shard_index_out_of_range(
    state: Path, fleet_files: dict[str, Path], tmp_path: Path, args: list[str]
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "fleet",
            "--data",
            str(fleet_files["folder"]),
            "--limits",
            str(fleet_files["limits"]),
            "--out",
            str(tmp_path),
            *args,
        ],
    )
    assert result.exit_code == EXIT_BAD_INPUT and "shard index 3 is not in 0..2" in result.output
