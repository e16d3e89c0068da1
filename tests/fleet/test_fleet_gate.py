"""The fleet goes through the single run's gate, per transformer, against its own champion.

Each fleet run registers one version of the fleet's model holding every transformer's answering fit;
the report says per transformer which version answered and why. Built as a utility runs it: the
same fleet again with new data, one transformer whose load jumped in its last weeks (a new large
customer: no model fitted before the jump can be trusted yet, last week's load does better), a new
transformer whose challenger is no good for the same reason, a run on part of the fleet, and
two runs of one fleet at the same time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fleet_data import transformer_frame
from mlflow.tracking import MlflowClient

from ml.steps.fleet import merge_fleet, run_fleet
from ml.steps.fleet_registry import ChampionMovedError, fleet_model_name, load_champions
from ml.steps.model_io import ModelFormatError
from ml.steps.model_store import champion

LIMIT_KW = 85.0


def write_fleet(folder: Path, members: dict[str, str]) -> Path:
    """One CSV per transformer: ``good`` is its synthetic load; ``jump`` the same with +60% over the test
    window (the last 10% of hours), which the challenger's training window never saw."""
    folder.mkdir(parents=True)
    for tid, kind in members.items():
        frame = transformer_frame(tid)
        if kind == "jump":
            frame.loc[int(len(frame) * 0.9) :, "kw"] *= 1.6
        frame.to_csv(folder / f"{tid}.csv", index=False)
    limits = folder.parent / f"{folder.name}-limits.csv"
    pd.DataFrame({"transformer_id": list(members), "limit_kw": LIMIT_KW}).to_csv(limits, index=False)
    return limits


def fleet_run(tmp_path: Path, name: str, members: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:  # type: ignore[type-arg]
    """One whole fleet run (one shard, then the merge that registers), as ``runner fleet`` does it."""
    limits = write_fleet(tmp_path / name, members)
    run_fleet(tmp_path / name, limits, tmp_path / f"{name}-parts", jobs=1, fleet="north")
    manifest = merge_fleet([tmp_path / f"{name}-parts"], tmp_path / f"{name}-out")
    report = pd.read_csv(tmp_path / f"{name}-out" / "fleet_report.csv", dtype={"model_version": str})
    errors = pd.read_csv(tmp_path / f"{name}-out" / "fleet_errors.csv")
    return report.set_index("transformer_id"), errors, manifest


def test_each_transformer_is_promoted_kept_or_refused_and_the_report_names_the_version(
    state: Path, tmp_path: Path
) -> None:
    first, _, manifest = fleet_run(tmp_path, "run1", {"MID1": "good", "MID2": "good"})
    assert manifest["model_version"] == "1" and (manifest["promoted"], manifest["kept"]) == (2, 0)
    assert set(first["decision"]) == {"promoted"} and set(first["model_version"]) == {"1"}
    assert first["decision_reason"].str.contains("seasonal-naive").all()

    second, errors, manifest = fleet_run(tmp_path, "run2", {"MID1": "good", "MID2": "jump", "NEW": "jump"})
    assert manifest["model_version"] == "2"
    assert (manifest["promoted"], manifest["kept"], manifest["refused"]) == (1, 1, 1)
    assert second.loc["MID1", "decision"] == "promoted" and second.loc["MID1", "model_version"] == "2"
    # MID2's challenger fails the gate: its champion from version 1 answers, with the same forecast as then
    assert second.loc["MID2", "decision"] == "kept" and second.loc["MID2", "model_version"] == "1"
    assert "does not beat the seasonal-naive" in second.loc["MID2", "decision_reason"]
    assert "version 1 answers" in second.loc["MID2", "decision_reason"]
    for column in ("growth_kw_per_year", "max_predicted_kw", "first_overload_p50"):
        assert second.loc["MID2", column] == first.loc["MID2", column]
    # NEW has no champion: refused, no forecast, listed with the gate's reason
    assert "NEW" not in second.index
    (message,) = errors.loc[errors["transformer_id"] == "NEW", "error"]
    assert "the gate refused the challenger" in message and "there is no champion" in message


def test_a_run_on_part_of_the_fleet_keeps_the_other_champions(state: Path, tmp_path: Path) -> None:
    fleet_run(tmp_path, "run1", {"MID1": "good", "MID2": "good"})
    _, _, manifest = fleet_run(tmp_path, "run2", {"MID1": "good"})
    assert manifest["carried_over"] == 1
    current, members = load_champions("north", None)
    assert current is not None and current.version == "2"
    assert {tid: m.version for tid, m in members.items()} == {"MID1": "2", "MID2": "1"}
    other_fleet, none = load_champions("south", None)
    assert other_fleet is None and none == {}
    assert fleet_model_name("north") != fleet_model_name("south")


def test_a_run_that_judged_against_an_old_champion_registers_nothing(state: Path, tmp_path: Path) -> None:
    limits = write_fleet(tmp_path / "slow", {"MID1": "good"})
    run_fleet(tmp_path / "slow", limits, tmp_path / "slow-parts", jobs=1, fleet="north")  # judged: no champion
    fleet_run(tmp_path, "fast", {"MID1": "good"})  # finishes first: version 1 is the champion
    name = fleet_model_name("north")
    with pytest.raises(ChampionMovedError, match=r"version 1 .* became the champion while this run judged against no"):
        merge_fleet([tmp_path / "slow-parts"], tmp_path / "slow-out")
    assert champion(name) is not None and champion(name).version == "1"  # type: ignore[union-attr]
    assert [str(v.version) for v in MlflowClient().search_model_versions(f"name='{name}'")] == ["1"]


def test_a_changed_champion_artifact_is_refused(state: Path, tmp_path: Path) -> None:
    fleet_run(tmp_path, "run1", {"MID1": "good"})
    name = fleet_model_name("north")
    uri = MlflowClient().get_model_version_download_uri(name, "1")
    stored = Path(uri.removeprefix("file://")) / "fleet_model.npz"
    arrays = dict(np.load(stored, allow_pickle=False))
    arrays["array__coef_"] = arrays["array__coef_"] * 1.5  # someone "improves" the registered weights
    np.savez_compressed(stored, **arrays)
    with pytest.raises(ModelFormatError, match="changed since registration"):
        fleet_run(tmp_path, "run2", {"MID1": "good"})
    assert champion(name).version == "1"  # type: ignore[union-attr]
