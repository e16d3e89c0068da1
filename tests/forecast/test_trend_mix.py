"""Honest uncertainty across growth forms: when linear and compounding growth are close in evidence,
the first-overload draws mix both by weight, so the P10-P90 holds the truth when the chosen form is wrong."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.fleet import pack_models, unpack_models
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history
from ml.steps.model_io import ModelFormatError, load_estimator, save_estimator
from ml.trend import trend_weights
from ml.uncertainty import simulate_overload

CLOSE = LoadTruth(compound_pct_per_year=5.0, noise_rho=0.7)
"""Two years of autocorrelated hours say little about the curvature: the forms end up close in evidence."""
LIMIT_KW = 85.0


def _future(series: pd.Series, years: int = 5) -> pd.DatetimeIndex:
    return pd.date_range(series.index[-1] + pd.Timedelta(hours=1), periods=years * 8760, freq="h")


def _chosen_only(model: SeasonalTrendForecaster) -> SeasonalTrendForecaster:
    """The model as simulated before forms were mixed: every draw from the chosen form."""
    alone = copy.copy(model)
    alone.trend_weights_ = {model.trend_: 1.0, model.runner_up_trend_: 0.0}
    return alone


def _saved_before_the_mix(model: SeasonalTrendForecaster) -> SeasonalTrendForecaster:
    """A model as saved before this change: no weights, no runner-up covariance."""
    old = copy.copy(model)
    del old.trend_weights_, old.runner_up_coef_cov_
    return old


def _window(simulation: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    never = pd.Timestamp.max
    p10, p90 = (simulation.first_overload_quantile(q) for q in (0.1, 0.9))  # type: ignore[attr-defined]
    return pd.Timestamp(p10) if p10 else never, pd.Timestamp(p90) if p90 else never


@pytest.fixture(scope="module")
def close() -> tuple[SeasonalTrendForecaster, pd.DatetimeIndex]:
    series = history(CLOSE, seed=3)
    return SeasonalTrendForecaster().fit(series.index, series.to_numpy()), _future(series)


def test_weights_are_the_bic_posterior_of_two_equally_likely_forms() -> None:
    assert trend_weights({"linear": 10.0, "compound": 10.0}, "linear") == {"linear": 0.5, "compound": 0.5}
    weights = trend_weights({"linear": 10.0, "compound": 12.0}, "linear")
    assert weights["linear"] == pytest.approx(1 / (1 + np.exp(-1)))
    assert sum(weights.values()) == pytest.approx(1.0)


def test_close_forms_share_the_draws_and_the_window_reaches_the_runner_up(close) -> None:  # type: ignore[no-untyped-def]
    model, future = close
    share = model.trend_weights_[model.runner_up_trend_]
    assert 0.2 < share < 0.8
    assert model.runner_up_coef_cov_.shape == (len(model.runner_up_coef_),) * 2
    n_runner_up = round(100 * share)
    mixed = simulate_overload(model, future, LIMIT_KW)
    # Stratified: the first draws are exactly the chosen form's, the rest the runner-up's.
    chosen = simulate_overload(_chosen_only(model), future, LIMIT_KW, draws=100 - n_runner_up)
    np.testing.assert_array_equal(mixed.first_index[: 100 - n_runner_up], chosen.first_index)
    over = model.predict_runner_up(future) > LIMIT_KW
    runner_up_first = future[over.argmax()]
    low, high = _window(mixed)
    assert low <= runner_up_first <= high
    alone_low, _ = _window(simulate_overload(_chosen_only(model), future, LIMIT_KW))
    assert runner_up_first < alone_low  # the chosen form alone would have excluded it
    again = simulate_overload(model, future, LIMIT_KW)
    np.testing.assert_array_equal(mixed.first_index, again.first_index)


def test_a_decisive_fit_simulates_exactly_as_before() -> None:
    series = history(LoadTruth(), seed=0)  # clearly linear: the compound form gets a weight of 3e-6
    model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
    assert model.trend_weights_[model.runner_up_trend_] < 0.01 and model.runner_up_coef_cov_.shape == (0, 0)
    future = _future(series, 3)
    new = simulate_overload(model, future, 75.0)
    old = simulate_overload(_saved_before_the_mix(model), future, 75.0)
    np.testing.assert_array_equal(new.first_index, old.first_index)
    assert new.hours_over == old.hours_over


def test_a_profile_model_mixes_its_forms_on_the_same_design() -> None:
    """Profile growth is added kW or a scaled profile: close when the profile is nearly flat."""
    series = history(LoadTruth(compound_pct_per_year=4.0, daily_kw=2, yearly_kw=2, noise_rho=0.8), seed=0)
    model = SeasonalTrendForecaster(structure="profile").fit(series.index, series.to_numpy())
    assert model.runner_up_coef_cov_.shape == (len(model.coef_),) * 2 and model.runner_up_share() > 0.1
    future = _future(series)
    mixed = simulate_overload(model, future, 70.0, dtype=np.float32)
    alone = simulate_overload(_chosen_only(model), future, 70.0, dtype=np.float32)
    assert _window(mixed)[0] <= _window(mixed)[1]
    assert not np.array_equal(mixed.first_index, alone.first_index)


def test_a_fixed_trend_takes_every_draw() -> None:
    series = history(CLOSE, seed=3)
    model = SeasonalTrendForecaster(trend="linear").fit(series.index, series.to_numpy())
    assert model.trend_weights_ == {"linear": 1.0, "compound": 0.0}
    assert model.runner_up_share() == 0.0 and model.runner_up_coef_cov_.shape == (0, 0)


def test_a_model_saved_before_the_mix_simulates_its_chosen_form_alone(close) -> None:  # type: ignore[no-untyped-def]
    model, future = close
    old = _saved_before_the_mix(model)
    assert old.runner_up_share() == 0.0
    np.testing.assert_array_equal(
        simulate_overload(old, future, LIMIT_KW).first_index,
        simulate_overload(_chosen_only(model), future, LIMIT_KW).first_index,
    )


def test_the_mix_survives_the_model_artifact_and_a_broken_one_is_refused(close, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, _ = close
    loaded = load_estimator(save_estimator(model, tmp_path / "new"))
    assert loaded.trend_weights_ == model.trend_weights_
    np.testing.assert_array_equal(loaded.runner_up_coef_cov_, model.runner_up_coef_cov_)
    older = load_estimator(save_estimator(_saved_before_the_mix(model), tmp_path / "old"))
    assert older.runner_up_share() == 0.0
    broken = copy.copy(model)
    broken.trend_weights_ = {model.trend_: 0.2, model.runner_up_trend_: 0.2}
    with pytest.raises(ModelFormatError, match="sum to 1"):
        load_estimator(save_estimator(broken, tmp_path / "broken"))
    broken = copy.copy(model)
    broken.runner_up_coef_cov_ = np.empty((0, 0))  # weight says mix, covariance is gone
    with pytest.raises(ModelFormatError, match="runner_up_coef_cov_"):
        load_estimator(save_estimator(broken, tmp_path / "no-cov"))


def test_the_mix_survives_the_fleet_artifact_beside_models_packed_before_it(close) -> None:  # type: ignore[no-untyped-def]
    model, future = close
    states = [
        {"params": m.get_params(), "fitted": {k: v for k, v in vars(m).items() if k.endswith("_")}}
        for m in (model, _saved_before_the_mix(model))
    ]
    models = unpack_models(pack_models(["NEW", "OLD"], states))
    assert models["NEW"].runner_up_share() == model.runner_up_share() > 0
    assert models["OLD"].runner_up_share() == 0.0
    np.testing.assert_array_equal(
        simulate_overload(models["NEW"], future, LIMIT_KW).first_index,
        simulate_overload(model, future, LIMIT_KW).first_index,
    )
    states[0]["fitted"]["trend_weights_"] = {model.trend_: 1.5, model.runner_up_trend_: -0.5}
    with pytest.raises(ValueError, match="NEW"):
        unpack_models(pack_models(["NEW", "OLD"], states))


# -- calibration ------------------------------------------------------------------------------
FLEET = 48
HOURS_PER_YEAR = 8760


def _fleet_truth(i: int) -> tuple[LoadTruth, float]:
    """Transformer ``i`` of a fleet from 10 kW to 2 MW: odd ones compound, every third has a level step
    of +-10%; growth 2-8% a year; AR(1) noise of 3% of the load; and the limit, set a third of a year's
    growth above the expected peak of the first 1 to 3.5 horizon years, so the truth overloads inside it."""
    rng = np.random.default_rng([13, i])
    size = float(np.geomspace(10.0, 2000.0, FLEET)[i])
    pct = float(rng.uniform(2.0, 8.0))
    step = i % 3 == 0
    truth = LoadTruth(
        base_kw=size,
        growth_kw_per_year=pct / 100 * size,
        compound_pct_per_year=pct if i % 2 else 0.0,
        daily_kw=0.1 * size,
        yearly_kw=0.15 * size,
        noise_kw=0.03 * size,
        noise_rho=0.5,
        shift_kw=float(rng.choice([-0.1, 0.1])) * size if step else 0.0,
        shift_at="2024-03-01" if step else None,
    )
    return truth, float(rng.uniform(1.0, 3.5))


def _covers(simulation: object, truth_first: pd.Timestamp) -> bool:
    low, high = _window(simulation)
    return bool(low <= truth_first <= high)


def test_p10_to_p90_holds_the_true_first_overload_on_a_fleet_mixing_growth_forms() -> None:
    """48 transformers, half compounding, sizes 10 kW to 2 MW, a third with a level step; the fleet's
    simulation settings (float32, its shared sampler). The truth is the noise-free expected load's first
    crossing. Measured: the mixed draws hold it for 43 of 48 (0.90; nominal 0.80, one binomial standard
    error 0.06); the chosen form alone for 31 of 48 (0.65), because on two years a compounding load is
    often called linear (and the odd linear one compound), and its narrow window then sits entirely on
    the early side of the truth. (On 60 transformers of another draw: 0.78 against 0.60.)"""
    covered = {"mixed": 0, "chosen_only": 0}
    for i in range(FLEET):
        truth, years = _fleet_truth(i)
        series = history(truth, seed=100 + i)
        model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
        future = _future(series)
        expected = truth.expected(future)
        limit = float(expected[: int(years * HOURS_PER_YEAR)].max()) + truth.growth_kw_per_year / 3
        truth_first = future[(expected > limit).argmax()]
        sampler = model.draw_sampler(future)
        args = (future, limit, 100, [i])
        mixed = _covers(simulate_overload(model, *args, dtype=np.float32, sampler=sampler), truth_first)  # type: ignore[arg-type]
        covered["mixed"] += mixed
        # Without runner-up draws the chosen form alone is the same simulation (see the decisive test).
        alone = mixed
        if model.runner_up_share():
            alone = _covers(simulate_overload(_chosen_only(model), *args, dtype=np.float32), truth_first)  # type: ignore[arg-type]
        covered["chosen_only"] += alone
    share = {k: v / FLEET for k, v in covered.items()}
    assert 0.7 <= share["mixed"] <= 0.95, share  # neither too narrow nor uselessly wide
    assert share["chosen_only"] < 0.7, share  # what the mix fixes
