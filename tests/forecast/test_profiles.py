"""Real load shapes: day types, holidays, seasonal daily profiles, and the peaks that overload.

The suite is eight transformers mixed from BDEW-like household, commerce and farm profiles
(ml/loadprofiles.py), grown 2-8% a year or by kW a year, metered with 1-4% noise, with the
noise-free truth known. The targets are the issue's: median error at most 3% of load against the
truth, the first overload within 60 days for at least 7 of 8, and no loss on the smooth cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ml.evaluate import chronological_split, forecast_index
from ml.fleet import model_state, pack_models, unpack_models
from ml.loadprofiles import PROFILE_SUITE, ProfileTruth
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history
from ml.steps.data_io import load_series
from ml.steps.model_io import load_estimator, save_estimator
from ml.uncertainty import simulate_overload
from ml.validation import DataPolicy, DataValidationError, validate_load

ZONE = "Europe/Berlin"


def _fit(truth: ProfileTruth, series: pd.Series, **options: object) -> SeasonalTrendForecaster:
    model = SeasonalTrendForecaster(holidays=truth.holidays, timezone=ZONE, **options)  # type: ignore[arg-type]
    return model.fit(series.index, series.to_numpy())


@pytest.fixture(scope="module")
def suite() -> list[dict[str, object]]:
    """Each case: two years of history, fitted with default options, scored over five years."""
    results = []
    for seed, case in enumerate(PROFILE_SUITE):
        series = case.truth.history(seed=seed)
        future = forecast_index(series.index[-1], 5.0)
        truth = case.truth.expected(future)
        limit = case.truth.limit_crossed_after(future, case.crossing_years)
        model = _fit(case.truth, series)
        predicted = model.predict(future)
        over = predicted > limit
        first = future[over.argmax()] if over.any() else None
        true_first = future[(truth > limit).argmax()]
        results.append(
            {
                "name": case.name,
                "model": model,
                "series": series,
                "error_pct": float(np.median(np.abs(predicted - truth) / truth) * 100),
                "days_off": abs((first - true_first).days) if first is not None else None,
            }
        )
    return results


def test_profile_suite_meets_the_accuracy_target(suite: list[dict[str, object]]) -> None:
    errors = [float(r["error_pct"]) for r in suite]  # type: ignore[arg-type]
    assert np.median(errors) <= 3.0, errors
    assert max(errors) <= 3.0, errors


def test_first_overload_within_60_days_for_at_least_7_of_8(suite: list[dict[str, object]]) -> None:
    days = [r["days_off"] for r in suite]
    assert sum(d is not None and d <= 60 for d in days) >= 7, days  # type: ignore[operator]


def test_evidence_picks_the_profile_for_every_peaky_load(suite: list[dict[str, object]]) -> None:
    for result in suite:
        model = result["model"]
        assert model.structure_ == "profile", (result["name"], model.structure_selection_)  # type: ignore[attr-defined]


def test_growth_form_follows_the_truth(suite: list[dict[str, object]]) -> None:
    """Compounding growth scales the whole profile; a flat load added by kW a year is additive."""
    by_name = {r["name"]: r["model"] for r in suite}
    assert by_name["new estate, +8%/yr"].trend_ == "compound"  # type: ignore[attr-defined]
    assert by_name["new estate, +8%/yr"].growth_pct_per_year_ == pytest.approx(8.0, abs=1.0)  # type: ignore[attr-defined]
    assert by_name["shops + EV chargers, +6 kW/yr"].trend_ == "linear"  # type: ignore[attr-defined]
    assert by_name["shops + EV chargers, +6 kW/yr"].growth_kw_per_year_ == pytest.approx(6.0, abs=1.5)  # type: ignore[attr-defined]


def test_the_fourier_structure_cannot_draw_these_loads(suite: list[dict[str, object]]) -> None:
    """The previous model on the same case errs several times more: the structure was the limit."""
    case = PROFILE_SUITE[0]
    series = suite[0]["series"]
    future = forecast_index(series.index[-1], 5.0)  # type: ignore[attr-defined]
    truth = case.truth.expected(future)
    fourier = _fit(case.truth, series, structure="fourier").predict(future)  # type: ignore[arg-type]
    error = float(np.median(np.abs(fourier - truth) / truth) * 100)
    assert error > 3 * float(suite[0]["error_pct"])  # type: ignore[arg-type]


def test_a_good_profile_model_beats_seasonal_naive_by_far_on_the_holdout() -> None:
    """Same chronological hold-out as the gate: the naive forecasts are the same hour a day and a
    week earlier (which already know the day's shape); the model must beat both by a wide margin."""
    truth = PROFILE_SUITE[0].truth
    series = truth.history(seed=11)
    split = chronological_split(series)
    model = _fit(truth, split.train)
    test = split.test
    rmse = float(np.sqrt(np.mean((model.predict(test.index) - test.to_numpy()) ** 2)))
    for lag, ratio in ((24, 0.4), (168, 0.6)):
        naive = series.shift(lag).reindex(test.index).to_numpy()
        assert rmse < ratio * float(np.sqrt(np.nanmean((naive - test.to_numpy()) ** 2))), lag


def test_public_holidays_take_the_sunday_shape() -> None:
    """1 May 2025 is a Thursday: with the German calendar it is forecast as a holiday, as it happens."""
    truth = PROFILE_SUITE[2].truth  # commerce: working days and holidays differ most
    series = truth.history(seed=3)
    may_day = pd.date_range("2025-05-01 08:00", periods=10, freq="h")  # UTC, 10:00-19:00 local
    actual = truth.expected(may_day)
    with_calendar = _fit(truth, series).predict(may_day)
    without = SeasonalTrendForecaster(timezone=ZONE).fit(series.index, series.to_numpy()).predict(may_day)
    assert np.mean(np.abs(with_calendar - actual) / actual) < 0.05
    assert np.mean(without) > 1.5 * np.mean(actual)  # it expected shops open


def test_smooth_loads_keep_the_fourier_model_and_its_accuracy() -> None:
    """Today's smooth cases: auto chooses Fourier, so the forecast is exactly the previous model's."""
    for i, truth in enumerate((LoadTruth(), LoadTruth(compound_pct_per_year=10.0), LoadTruth(noise_rho=0.6))):
        series = history(truth, seed=40 + i)
        auto = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
        fourier = SeasonalTrendForecaster(structure="fourier").fit(series.index, series.to_numpy())
        assert auto.structure_ == "fourier", auto.structure_selection_
        future = forecast_index(series.index[-1], 1.0)
        np.testing.assert_array_equal(auto.predict(future), fourier.predict(future))


def test_reference_data_keeps_the_fourier_model(reference_csv: Path) -> None:
    series, _ = load_series(reference_csv)
    model = SeasonalTrendForecaster(holidays="DE").fit(series.index, series.to_numpy())
    assert model.structure_ == "fourier", model.structure_selection_


def test_spread_is_kept_per_hour_and_evening_peaks_are_noisier(suite: list[dict[str, object]]) -> None:
    """Metering noise is a share of load, so the winter evening peak is noisier than the night."""
    model = suite[0]["model"]
    table = model.spread_kw_  # type: ignore[attr-defined]
    assert table.shape == (3, 24, 4)
    winter_working = table[0, :, 0]
    assert winter_working[18] > 1.5 * winter_working[3]


def test_intervals_cover_the_peak_hours_as_promised() -> None:
    """80% intervals over two summer months hold at least about 80% of the evening readings and of the
    night's, although the evening spread is much wider than the night's: one global sigma could not
    do both. (They hold more than 80%: the yearly harmonics smooth BDEW's abrupt season switches,
    and that misfit in the history widens the spread of the hours whose shape switches.)"""
    truth = ProfileTruth((1.0, 0.0, 0.0), 200.0, 4.0, noise_pct=4.0, noise_rho=0.0)
    series = truth.history(seed=21)
    train, test = series[:"2024-06-30"], series["2024-07-01":"2024-08-31"]
    model = _fit(truth, train)
    band = model.predict_interval(test.index)
    local_hour = test.index.tz_localize("UTC").tz_convert(ZONE).hour
    evening = (local_hour >= 19) & (local_hour <= 22)
    night = (local_hour >= 1) & (local_hour <= 4)
    inside = (band["lower_kw"].to_numpy() <= test.to_numpy()) & (test.to_numpy() <= band["upper_kw"].to_numpy())
    assert 0.75 <= inside[evening].mean() <= 0.99
    assert 0.75 <= inside[night].mean() <= 0.99
    width = (band["upper_kw"] - band["lower_kw"]).to_numpy()
    assert width[evening].mean() > 1.5 * width[night].mean()


def test_simulation_uses_each_hours_spread(suite: list[dict[str, object]]) -> None:
    model = suite[0]["model"]
    series = suite[0]["series"]
    future = forecast_index(series.index[-1], 2.0)  # type: ignore[attr-defined]
    sigma = model.hourly_sigma(future)  # type: ignore[attr-defined]
    assert sigma.max() > 2 * sigma.min()
    limit = float(np.quantile(model.predict(future), 0.999))  # type: ignore[attr-defined]
    simulation = simulate_overload(model, future, limit, draws=20, seed=1)
    single = simulate_overload(model, future, limit, draws=20, seed=1, dtype=np.float32)
    assert simulation.expected_overload_hours > 0
    assert single.expected_overload_hours == pytest.approx(simulation.expected_overload_hours, rel=1e-3)


def test_profile_model_round_trips_through_the_artifact_and_the_fleet_pack(
    tmp_path: Path, suite: list[dict[str, object]]
) -> None:
    model = suite[5]["model"]
    future = pd.date_range("2025-06-01", periods=72, freq="h")
    expected = model.predict_interval(future)  # type: ignore[attr-defined]
    loaded = load_estimator(save_estimator(model, tmp_path / "estimator"))  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(loaded.predict_interval(future), expected)
    fourier = suite[0]["model"]
    smooth = SeasonalTrendForecaster().fit(*_smooth())
    packed = pack_models(["p", "f", "s"], [model_state(m) for m in (model, fourier, smooth)])  # type: ignore[arg-type]
    rebuilt = unpack_models(packed)
    pd.testing.assert_frame_equal(rebuilt["p"].predict_interval(future), expected)
    np.testing.assert_array_equal(rebuilt["s"].predict(future), smooth.predict(future))
    assert rebuilt["p"].holidays == "DE-BY" and rebuilt["p"].timezone == ZONE


def _smooth() -> tuple[pd.DatetimeIndex, np.ndarray]:
    series = history(LoadTruth(), seed=5)
    return series.index, series.to_numpy()


def test_options_are_plain_and_bad_ones_are_refused_by_name() -> None:
    model = SeasonalTrendForecaster(structure="profile", holidays="DE-BY", timezone=ZONE)
    assert clone(model).get_params()["holidays"] == "DE-BY"
    index, values = _smooth()
    for options, word in (
        ({"holidays": "XX"}, "'XX'"),
        ({"holidays": "DE-ZZ"}, "'ZZ'"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"structure": "weekly"}, "weekly"),
    ):
        with pytest.raises(ValueError, match=word):
            SeasonalTrendForecaster(**options).fit(index, values)  # type: ignore[arg-type]


# -- local time -----------------------------------------------------------------------------
def _local_csv(tmp_path: Path) -> tuple[Path, pd.Series]:
    """Two years of a profile load exported in Berlin wall-clock time: 02:00 twice each October."""
    truth = ProfileTruth((0.7, 0.3, 0.0), 200.0, 4.0)
    series = truth.history(seed=8)
    local = series.index.tz_localize("UTC").tz_convert(ZONE).tz_localize(None)
    path = tmp_path / "local.csv"
    pd.DataFrame({"timestamp": local.strftime("%Y-%m-%d %H:%M"), "kw": series.to_numpy()}).to_csv(path, index=False)
    return path, series


def test_local_time_export_with_daylight_saving_is_read_into_utc(tmp_path: Path) -> None:
    path, series = _local_csv(tmp_path)
    with pytest.raises(DataValidationError, match=r"repeats .*lines .*pass --timezone"):
        load_series(path)
    read, quality = load_series(path, timezone=ZONE)
    assert quality.missing_hours == 0 and quality.exact_duplicates_dropped == 0
    assert read.index.equals(series.index.rename(read.index.name))
    np.testing.assert_allclose(read.to_numpy(), series.to_numpy())


def test_a_wall_clock_time_skipped_in_spring_is_refused_with_its_line() -> None:
    raw = pd.DataFrame({"timestamp": ["2024-03-31 01:00", "2024-03-31 02:00", "2024-03-31 03:00"], "kw": ["1"] * 3})
    with pytest.raises(DataValidationError, match=r"load.csv: .*do not exist in Europe/Berlin.*line 3"):
        validate_load(raw, "load.csv", DataPolicy(min_history_hours=1), timezone=ZONE)


def test_offsets_in_the_data_are_honoured_with_or_without_a_timezone() -> None:
    raw = pd.DataFrame(
        {
            "timestamp": ["2024-10-27 02:00+02:00", "2024-10-27 02:00+01:00", "2024-10-27 03:00+01:00"],
            "kw": ["1", "2", "3"],
        }
    )
    for zone in (None, ZONE):
        series, _ = validate_load(raw, "x.csv", DataPolicy(min_history_hours=1, min_distinct_readings=1), timezone=zone)
        assert list(series.index) == list(pd.date_range("2024-10-27 00:00", periods=3, freq="h"))


def test_the_daily_profile_follows_the_local_clock() -> None:
    """People switch lights on by the local clock: a model on UTC hours blurs summer-time evenings."""
    truth = ProfileTruth((1.0, 0.0, 0.0), 200.0, 3.0, noise_pct=1.0)
    series = truth.history(seed=9)
    summer = pd.date_range("2025-07-01", periods=14 * 24, freq="h")  # UTC, CEST = UTC+2
    actual = truth.expected(summer)
    local = _fit(truth, series).predict(summer)
    utc_clock = SeasonalTrendForecaster(holidays="DE").fit(series.index, series.to_numpy()).predict(summer)
    local_error = np.mean(np.abs(local - actual))
    assert local.reshape(14, 24).mean(axis=0).argmax() == actual.reshape(14, 24).mean(axis=0).argmax()
    assert local_error < 0.5 * np.mean(np.abs(utc_clock - actual))


def test_a_fleet_of_local_time_profile_loads_uses_the_calendar_and_the_clock() -> None:
    """The fleet takes the same options: wall-clock exports with the autumn repeat are read, day types used."""
    from ml.fleet import forecast_fleet

    items = []
    for i, case in enumerate(PROFILE_SUITE[:2]):
        series = case.truth.history(seed=30 + i)
        local = series.index.tz_localize("UTC").tz_convert(ZONE).tz_localize(None)
        kw = series.to_numpy().round(3).astype(str)
        raw = pd.DataFrame({"timestamp": local.strftime("%Y-%m-%d %H:%M"), "kw": kw})
        items.append((f"T{i}", raw))
    limits = {"T0": 260.0, "T1": 320.0}
    plain = forecast_fleet(items, limits, draws=20, n_jobs=1)
    assert len(plain.failures) == 2 and "pass --timezone" in plain.failures[0].error
    result = forecast_fleet(items, limits, draws=20, n_jobs=1, model_params={"holidays": "DE", "timezone": ZONE})
    assert not result.failures
    models = unpack_models(pack_models(["T0", "T1"], [f.params for f in result.forecasts]))  # type: ignore[misc]
    assert {m.structure_ for m in models.values()} == {"profile"}
    assert all(m.timezone == ZONE for m in models.values())


def test_each_hour_gets_its_own_cells_spread(suite: list[dict[str, object]]) -> None:
    """The spread looked up by kept flat cells is the table's (day type, local hour, season) entry."""
    from ml.calendar import clock_fields, day_types, local_clock, seasons

    case = next(c for c in suite if not (c["model"].structure_ == "profile" and c["model"].trend_ == "compound"))  # type: ignore[attr-defined]
    model, series = case["model"], case["series"]  # growth that scales the profile scales its noise too
    future = forecast_index(series.index[-1], 1.0)  # type: ignore[attr-defined]
    local = local_clock(future, model.timezone)  # type: ignore[attr-defined]
    fields = clock_fields(local)
    day_type = day_types(local, model.holidays, fields["day_of_week"])  # type: ignore[attr-defined]
    table = np.asarray(model.spread_kw_)  # type: ignore[attr-defined]
    expected = table[day_type, fields["hour"], seasons(local, fields["month"])]
    np.testing.assert_array_equal(model.hourly_sigma(future), expected)  # type: ignore[attr-defined]
