"""Utility-scale input: Parquet as well as CSV, long files, folders of parts, read per shard;
and ``--shard-index auto`` taking the instance's place from SageMaker's or Azure ML's cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fleet_data import LIMITS, transformer_frame

from ml.fleet import shard_of
from ml.steps import cluster
from ml.steps.fleet import merge_fleet, run_fleet
from ml.steps.fleet_input import discover, read_table
from ml.validation import DataValidationError


@pytest.fixture(scope="module")
def parquet_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test fleet as typed Parquet: a folder of one file each, a long file, and two long parts."""
    root = tmp_path_factory.mktemp("parquet")
    folder = root / "folder"
    folder.mkdir()
    frames = []
    for tid in LIMITS:
        frame = transformer_frame(tid).assign(timestamp=lambda f: pd.to_datetime(f["timestamp"]))
        frame["kw"] = frame["kw"].astype(float)
        frame.to_parquet(folder / f"{tid}.parquet", index=False)
        frames.append(frame.assign(transformer_id=tid)[["transformer_id", "timestamp", "kw"]])
    long = pd.concat(frames, ignore_index=True)
    long.to_parquet(root / "long.parquet", index=False, row_group_size=5_000)
    parts = root / "parts"
    parts.mkdir()
    ids = list(LIMITS)
    long[long["transformer_id"].isin(ids[:3])].to_parquet(parts / "part-0.parquet", index=False)
    long[long["transformer_id"].isin(ids[3:])].to_parquet(parts / "part-1.parquet", index=False)
    return {"folder": folder, "long": root / "long.parquet", "parts": parts}


def report(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "fleet_report.csv").drop(columns=["data_repairs"])


@pytest.mark.parametrize("layout", ["folder", "long", "parts"])
def test_parquet_layouts_forecast_like_the_csv_folder(
    layout: str, parquet_files: dict[str, Path], fleet_files: dict[str, Path], state: Path, tmp_path: Path
) -> None:
    csv = run_fleet(fleet_files["folder"], fleet_files["limits"], tmp_path / "csv", jobs=1)
    parquet = run_fleet(parquet_files[layout], fleet_files["limits"], tmp_path / "pq", jobs=1)

    assert (parquet["forecast"], parquet["failed"]) == (csv["forecast"], csv["failed"]) == (6, 1)
    pd.testing.assert_frame_equal(report(tmp_path / "pq"), report(tmp_path / "csv"))
    errors = pd.read_csv(tmp_path / "pq" / "fleet_errors.csv")
    assert list(errors["transformer_id"]) == ["BAD"] and "'kw'" in errors["error"].iloc[0]


def test_a_shard_reads_only_its_rows_of_a_long_parquet_file(parquet_files: dict[str, Path]) -> None:
    for index in range(3):
        found = discover(parquet_files["long"], index, 3)
        assert {tid for tid, _ in found.items} == {t for t in LIMITS if shard_of(t, 3) == index}
        assert found.layout == "long" and found.load is not None  # typed rows become text in the worker
    folder = discover(parquet_files["folder"], 1, 3)
    assert all(isinstance(source, Path) for _, source in folder.items) and folder.load is read_table


def test_unreadable_parquet_and_mixed_ids_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DataValidationError, match=r"broken\.parquet: not a readable Parquet file"):
        discover(broken)
    folder = tmp_path / "twice"
    folder.mkdir()
    transformer_frame("FAST").to_csv(folder / "T1.csv", index=False)
    transformer_frame("FAST").to_parquet(folder / "T1.parquet", index=False)
    with pytest.raises(DataValidationError, match=r"transformer id\(s\) T1 have more than one file"):
        discover(folder)


def sagemaker_config(folder: Path, host: int, hosts: int, data: str, distribution: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"algo-{i + 1}" for i in range(hosts)]
    (folder / "resourceconfig.json").write_text(json.dumps({"current_host": names[host], "hosts": names}))
    inputs = [{"InputName": "data", "S3Input": {"LocalPath": data, "S3DataDistributionType": distribution}}]
    (folder / "processingjobconfig.json").write_text(json.dumps({"ProcessingInputs": inputs}))
    return folder


def test_auto_shard_comes_from_sagemaker_hosts_and_its_input_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RANK", raising=False)
    data = "/opt/ml/processing/input/data"
    monkeypatch.setenv(
        cluster.SAGEMAKER_CONFIG_ENV, str(sagemaker_config(tmp_path / "a", 2, 4, data, "ShardedByS3Key"))
    )
    assert cluster.resolve("auto", 4, Path(data)) == cluster.ShardPlace(2, 4, True, "SageMaker job")
    monkeypatch.setenv(
        cluster.SAGEMAKER_CONFIG_ENV, str(sagemaker_config(tmp_path / "b", 0, 4, data, "FullyReplicated"))
    )
    assert cluster.resolve("auto", 4, Path(data)).take_all is False
    with pytest.raises(DataValidationError, match="--shard-count 3 but the SageMaker job has 4 instance"):
        cluster.resolve("auto", 3, Path(data))


def test_auto_shard_comes_from_azureml_rank_or_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cluster.SAGEMAKER_CONFIG_ENV, str(tmp_path / "none"))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cluster.resolve("auto", 2, tmp_path) == cluster.ShardPlace(1, 2, False, "Azure ML job")
    monkeypatch.delenv("RANK")
    with pytest.raises(DataValidationError, match="no cluster here tells this instance its place"):
        cluster.resolve("auto", 2, tmp_path)
    assert cluster.resolve("3", 4, tmp_path) == cluster.ShardPlace(3, 4)


def test_files_split_by_the_cluster_merge_to_the_unsharded_fingerprint(
    fleet_files: dict[str, Path], state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ShardedByS3Key: each instance gets some files and takes all of them; an instance may get none."""
    whole = run_fleet(fleet_files["folder"], fleet_files["limits"], tmp_path / "whole", jobs=1)
    files = sorted(fleet_files["folder"].glob("*.csv"))
    parts = tmp_path / "parts"
    for host, mine in enumerate([files[0::2], files[1::2], []]):  # three instances, the last one got nothing
        given = tmp_path / f"in{host}"
        given.mkdir()
        for f in mine:
            (given / f.name).write_bytes(f.read_bytes())
        config = sagemaker_config(tmp_path / f"cfg{host}", host, 3, str(given), "ShardedByS3Key")
        monkeypatch.setenv(cluster.SAGEMAKER_CONFIG_ENV, str(config))
        shard = run_fleet(  # each instance's folder has its own name: the fleet's comes from the spec
            given, fleet_files["limits"], parts, jobs=1, shard_index="auto", shard_count=3, fleet="net"
        )
        assert shard["transformers"] == len(mine)
    merged = merge_fleet([parts], tmp_path / "merged")
    assert merged["data_sha256"] == whole["data_sha256"]
    assert (merged["forecast"], merged["failed"]) == (6, 1)


def test_typed_columns_become_text_that_reads_back_to_the_same_values() -> None:
    """Parquet values are rendered by Arrow (naive times, numbers) or pandas (the rest); validation then
    reads them exactly as it reads pandas' rendering."""
    import numpy as np

    from ml.steps.fleet_input import as_text
    from ml.validation import validate_load

    stamps = pd.date_range("2023-01-01", periods=24 * 500, freq="h")
    typed = pd.DataFrame({"timestamp": stamps, "kw": np.random.default_rng(3).normal(60, 9, len(stamps)).round(3)})
    typed.loc[7, "kw"] = np.nan
    typed.loc[8, "kw"] = 50.0
    text = as_text(typed)
    assert text.loc[8, "kw"] == "50" and pd.isna(text.loc[7, "kw"])
    assert text.loc[1, "timestamp"] == "2023-01-01 01:00:00"
    by_pandas = typed.astype({"kw": str}).assign(timestamp=stamps.strftime("%Y-%m-%d %H:%M:%S"))
    by_pandas.loc[7, "kw"] = np.nan
    fast, _ = validate_load(text, "typed")
    slow, _ = validate_load(by_pandas.astype("str"), "typed")
    pd.testing.assert_series_equal(fast, slow)
    aware = pd.DataFrame({"timestamp": stamps[:3].tz_localize("Europe/Berlin"), "kw": [1, 2, 3]})
    assert as_text(aware)["timestamp"].tolist() == [
        "2023-01-01 00:00:00+0100",
        "2023-01-01 01:00:00+0100",
        "2023-01-01 02:00:00+0100",
    ]
    assert as_text(aware)["kw"].tolist() == ["1", "2", "3"]


def test_parquet_times_with_a_zone_are_read_as_the_instants_they_are(tmp_path: Path) -> None:
    """Across the spring clock change: 02:00 does not exist in Berlin, and the hours stay one apart in UTC."""
    import numpy as np

    from ml.validation import DataPolicy, validate_load

    local = pd.date_range("2024-03-20", periods=24 * 20, freq="h", tz="Europe/Berlin")
    kw = np.random.default_rng(4).uniform(20, 80, len(local)).round(2)
    pd.DataFrame({"timestamp": local, "kw": kw}).to_parquet(tmp_path / "TX1.parquet")
    series, quality = validate_load(read_table(tmp_path / "TX1.parquet"), "TX1", DataPolicy(min_history_hours=48))
    expected = local.tz_convert("UTC").tz_localize(None)
    np.testing.assert_array_equal(series.index.to_numpy(), expected.as_unit(series.index.unit).to_numpy())
    np.testing.assert_array_equal(series.to_numpy(), kw)
    assert quality.missing_hours == 0 and quality.exact_duplicates_dropped == 0
