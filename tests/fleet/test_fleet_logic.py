"""Pure fleet logic: ranking, limits, failures, sharding, input layouts, the packed artifact."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fleet_data import GROWTH, LIMITS, YEARS, transformer_frame

from ml.fleet import (
    forecast_fleet,
    pack_models,
    rank_fleet,
    resolve_limits,
    shard_of,
    split_long_frame,
    unpack_models,
)
from ml.steps.data_io import read_raw
from ml.steps.fleet import discover
from ml.validation import DataValidationError

GOOD = [tid for tid in LIMITS if tid != "BAD"]


@pytest.fixture(scope="module")
def fleet() -> object:
    items = [(tid, transformer_frame(tid).astype(str)) for tid in LIMITS]
    return forecast_fleet(items, LIMITS, n_jobs=2)


def test_fast_grower_ranks_first_flat_last_and_never_overloading_by_ratio(fleet) -> None:  # type: ignore[no-untyped-def]
    report = fleet.report()
    assert list(report["rank"]) == list(range(1, len(GOOD) + 1))
    assert report["transformer_id"].iloc[0] == "FAST"
    assert report["transformer_id"].iloc[-1] == "FLAT"
    overloading = report[report["first_overload_p50"].notna()]
    never = report[report["first_overload_p50"].isna()]
    assert set(overloading["transformer_id"]) >= {"FAST"} and "FLAT" in set(never["transformer_id"])
    assert list(overloading.index) == list(range(len(overloading)))  # all overloading ones come first
    assert list(pd.to_datetime(overloading["first_overload_p50"])) == sorted(
        pd.to_datetime(overloading["first_overload_p50"])
    )
    assert list(never["max_load_ratio"]) == sorted(never["max_load_ratio"], reverse=True)
    fast = report.iloc[0]
    assert fast["first_overload_p10"] <= fast["first_overload_p50"] <= fast["first_overload_p90"]
    assert fast["p_overload_within_horizon"] == 1.0 and fast["expected_overload_hours"] > 0
    assert abs(fast["growth_kw_per_year"] - GROWTH["FAST"]) < 1.0


def test_each_transformer_uses_its_own_limit(fleet) -> None:  # type: ignore[no-untyped-def]
    report = fleet.report().set_index("transformer_id")
    assert report["limit_kw"].to_dict() == {tid: LIMITS[tid] for tid in GOOD}
    assert np.allclose(report["max_load_ratio"], report["max_predicted_kw"] / report["limit_kw"], atol=1e-3)
    # the same history against two limits: the lower limit overloads, the higher one does not
    frame = transformer_frame("MID1").astype(str)
    twins = forecast_fleet([("LOW", frame), ("HIGH", frame)], {"LOW": 70.0, "HIGH": 200.0}, n_jobs=1).report()
    assert list(twins["transformer_id"]) == ["LOW", "HIGH"]
    assert twins["first_overload_p50"].notna().tolist() == [True, False]


def test_missing_limit_is_refused_by_name_unless_a_default_is_given() -> None:
    with pytest.raises(DataValidationError) as caught:
        resolve_limits(["T1", "T2", "T3"], {"T2": 90.0}, None, "limits.csv")
    assert str(caught.value) == (
        "limits.csv: no 'limit_kw' for transformer(s) T1, T3; add a 'transformer_id,limit_kw' row for each "
        "or pass --default-limit-kw."
    )
    assert resolve_limits(["T1", "T2"], {"T2": 90.0}, 70.0, "limits.csv") == {"T1": 70.0, "T2": 90.0}


def test_a_bad_transformer_is_reported_with_its_file_line_and_the_rest_goes_on(fleet_files: dict[str, Path]) -> None:
    items = split_long_frame(read_raw(fleet_files["long"]), str(fleet_files["long"]))
    result = forecast_fleet(items, LIMITS, n_jobs=1)
    assert sorted(f.row["transformer_id"] for f in result.forecasts) == sorted(GOOD)
    errors = result.errors()
    assert list(errors["transformer_id"]) == ["BAD"]
    rows_each = round(YEARS * 365 * 24)
    line = 6 * rows_each + 100 + 2  # BAD's rows come seventh in the long file; its row 100 is bad
    assert errors["error"].iloc[0].startswith("[BAD]")
    assert f"negative reading(s) at line {line} ('-5.0')" in errors["error"].iloc[0]


def test_sharding_is_stable_and_covers_every_transformer_once() -> None:
    ids = [f"T{i:05d}" for i in range(500)]
    for count in (1, 3, 8):
        owners = [shard_of(tid, count) for tid in ids]
        assert all(0 <= o < count for o in owners)
        assert owners == [int(hashlib.sha256(t.encode()).hexdigest()[:16], 16) % count for t in ids]
    shares = np.bincount([shard_of(t, 4) for t in ids], minlength=4) / len(ids)
    assert shares.min() > 0.15  # a hash, not a lump


def test_long_frame_and_folder_give_the_same_transformers_and_answers(fleet_files: dict[str, Path]) -> None:
    long_items, long_paths, _ = discover(fleet_files["long"], 1, 2)
    folder_items, folder_paths, _ = discover(fleet_files["folder"], 1, 2)
    assert (long_paths, folder_paths) == (False, True)
    assert sorted(t for t, _ in long_items) == sorted(t for t, _ in folder_items)
    assert {t for t, _ in long_items} == {t for t in LIMITS if shard_of(t, 2) == 1}
    good = [(t, s) for t, s in long_items if t != "BAD"][:2]
    by_long = forecast_fleet(good, LIMITS, n_jobs=1).report()
    by_folder = forecast_fleet(
        [(t, fleet_files["folder"] / f"{t}.csv") for t, _ in good], LIMITS, load=read_raw, n_jobs=1
    ).report()
    pd.testing.assert_frame_equal(by_long, by_folder)


def test_packed_artifact_rebuilds_every_model(fleet) -> None:  # type: ignore[no-untyped-def]
    packed = pack_models([f.row["transformer_id"] for f in fleet.forecasts], [f.params for f in fleet.forecasts])
    models = unpack_models(packed)
    assert sorted(models) == sorted(GOOD)
    stamps = pd.date_range("2026-01-01", periods=48, freq="h")
    frame = transformer_frame("FAST")
    from ml.model import SeasonalTrendForecaster

    series = pd.Series(frame["kw"].to_numpy(float), index=pd.to_datetime(frame["timestamp"]))
    direct = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    np.testing.assert_allclose(models["FAST"].predict(stamps), direct.predict(stamps))
    assert models["FAST"].predict_interval(stamps).shape == (48, 4)


def test_ranking_is_idempotent_and_handles_an_empty_fleet(fleet) -> None:  # type: ignore[no-untyped-def]
    report = fleet.report()
    pd.testing.assert_frame_equal(rank_fleet(report.sample(frac=1, random_state=1)), report)
    assert rank_fleet(pd.DataFrame()).empty


def test_each_row_carries_the_chosen_growth_form_and_its_weight(fleet) -> None:  # type: ignore[no-untyped-def]
    report = fleet.report()
    assert report["trend"].isin(["linear", "compound"]).all()
    assert report["trend_weight"].between(0.0, 1.0).all()


def test_a_fleet_row_says_what_the_single_report_says_for_the_same_model() -> None:
    """One report builder: the point forecast's answer and the simulation's, read off the same way."""
    from ml.evaluate import forecast_index
    from ml.fleet import _seed, forecast_one
    from ml.model import SeasonalTrendForecaster
    from ml.overload import analyse_overload
    from ml.uncertainty import simulate_overload
    from ml.validation import validate_load

    raw = transformer_frame("FAST").astype(str)  # as read from a file: text
    series, _ = validate_load(raw, "FAST")
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    limit = LIMITS["FAST"]
    horizon = forecast_index(series.index[-1], 5.0)
    simulation = simulate_overload(model, horizon, limit, seed=_seed("FAST"), dtype=np.float32)  # the fleet's draws
    single = analyse_overload(model.predict_interval(horizon), limit, model.coverage, simulation)
    row = forecast_one("FAST", raw, limit).row  # the same data and options: the same fit
    assert row["first_overload_at"] is not None and row["first_overload_p90"] is not None
    for key in ("first_overload_at", "max_predicted_kw", "first_overload_p10", "first_overload_p50",
                "first_overload_p90", "p_overload_within_horizon", "expected_overload_hours"):  # fmt: skip
        assert row[key] == getattr(single, key), key


def test_a_stored_champion_that_does_not_forecast_is_refused_by_its_version() -> None:
    """Its arrays pass the load checks (finite, fitted) but do not fit together: nothing is reported from it."""
    import copy

    from ml.fleet import Champion, TransformerFailure, forecast_one
    from ml.gate import Gate
    from ml.model import SeasonalTrendForecaster
    from ml.validation import validate_load

    tid = GOOD[0]
    raw = transformer_frame(tid).astype(str)
    series, _ = validate_load(raw, tid)
    fitted = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    broken = copy.deepcopy(fitted)
    broken.coef_ = broken.coef_[:-3]  # finite and non-zero, but three coefficients short
    refused_challenger = Gate(threshold_kw=1e-9)  # the champion answers
    with pytest.raises(ValueError, match=r"fleet model version 7, which answers for this transformer, does not form"):
        forecast_one(tid, raw, LIMITS[tid], gate=refused_challenger, champion=Champion("7", broken))
    kept = forecast_one(tid, raw, LIMITS[tid], gate=refused_challenger, champion=Champion("7", fitted))
    assert kept.row["decision"] == "kept" and kept.row["model_version"] == "7"
    result = forecast_fleet(
        [(tid, raw)], LIMITS, n_jobs=1, gate=refused_challenger, champions={tid: Champion("7", broken)}
    )
    assert not result.forecasts and isinstance(result.failures[0], TransformerFailure)
    assert "version 7" in result.failures[0].error
