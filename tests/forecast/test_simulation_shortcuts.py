"""The simulator's shortcuts give the answer of the plain computation.

First crossings: paths are built only at hours some draw can reach the limit, block by block, for the
draws still below; here the same draws are compared with every hour built at once. Expected hours over
the limit: the closed form against the average over many coefficient draws of the per-hour
exceedance probability (what the simulator computed before, with 100 draws).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import special

from ml.evaluate import forecast_index
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history
from ml.uncertainty import _draws_by_form, draw_coefficients, runner_up_draws, simulate_overload


def _plain_first_crossings(
    model: SeasonalTrendForecaster, future: pd.DatetimeIndex, limit: float, dtype: type
) -> np.ndarray:
    sampler = model.draw_sampler(future)
    firsts = []
    for form in _draws_by_form(model, 100, [5]):
        crossing = sampler(form.draws, form.kind).astype(dtype) > limit
        firsts.append(np.where(crossing.any(axis=1), crossing.argmax(axis=1), -1))
    return np.concatenate(firsts)


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[SeasonalTrendForecaster, pd.DatetimeIndex]]:
    fitted = {}
    for name, truth, options in (
        ("fourier-linear", LoadTruth(), {}),
        ("fourier-compound", LoadTruth(compound_pct_per_year=6.0), {"trend": "compound"}),
        ("fourier-mixed", LoadTruth(compound_pct_per_year=6.0), {}),  # compound chosen, linear drawn by weight
        (
            "profile",
            LoadTruth(compound_pct_per_year=4.0, daily_kw=2, yearly_kw=2, noise_rho=0.8),
            {"structure": "profile"},
        ),
    ):
        series = history(truth, seed=4)
        model = SeasonalTrendForecaster(**options).fit(series.index, series.to_numpy())
        fitted[name] = (model, forecast_index(series.index[-1], 5.0))
    return fitted


@pytest.mark.parametrize("name", ["fourier-linear", "fourier-compound", "fourier-mixed", "profile"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_first_crossings_match_every_hour_built_at_once(models, name: str, dtype: type) -> None:  # type: ignore[no-untyped-def]
    model, future = models[name]
    peak = float(model.predict(future).max())
    for limit in (peak * 0.8, peak * 0.97, peak, peak * 1.01, peak * 1.3):  # early, late, at the edge, never
        for block in (7, 2048, len(future)):
            simulation = simulate_overload(model, future, limit, 100, [5], block_hours=block, dtype=dtype)
            np.testing.assert_array_equal(simulation.first_index, _plain_first_crossings(model, future, limit, dtype))


@pytest.mark.parametrize("name", ["fourier-linear", "fourier-compound", "fourier-mixed"])
def test_only_the_hours_a_draw_can_reach_are_built(models, name: str) -> None:  # type: ignore[no-untyped-def]
    model, future = models[name]
    sampler = model.draw_sampler(future)
    for form in _draws_by_form(model, 100, [5]):
        point = sampler(form.coef, form.kind)[0]
        assert len(sampler.reachable(form.draws, float(point.max()) * 2, form.kind)) == 0  # far: nothing to build
        limit = float(np.quantile(point, 0.9))
        reachable = sampler.reachable(form.draws, limit, form.kind)
        assert 0 < len(reachable) < 0.5 * len(future)
        over = np.flatnonzero((sampler(form.draws, form.kind) > limit).any(axis=0))
        assert set(over) <= set(reachable)  # every hour any draw crosses at is among them


@pytest.mark.parametrize("name", ["fourier-linear", "fourier-compound", "fourier-mixed", "profile"])
def test_expected_hours_over_is_the_limit_of_the_average_over_draws(models, name: str) -> None:  # type: ignore[no-untyped-def]
    model, future = models[name]
    limit = float(np.quantile(model.predict(future), 0.97))
    closed = simulate_overload(model, future, limit, 100, [5]).hours_over
    sampler, sigma = model.draw_sampler(future), model.hourly_sigma(future)
    per_draw = []
    for form in _draws_by_form(model, 100, [5]):
        draws = draw_coefficients(form.coef, form.cov, 4000, [6])
        hours = [
            special.ndtr((sampler(chunk, form.kind) - limit) / sigma).sum(axis=1) for chunk in np.array_split(draws, 40)
        ]
        per_draw.append((len(form.draws) / 100, np.concatenate(hours)))
    average = sum(share * hours.mean() for share, hours in per_draw)
    error = np.sqrt(sum(share**2 * hours.var() / len(hours) for share, hours in per_draw))
    assert closed > 10
    # Exact for linear growth; first order for compounding growth, well inside the draws' own error here.
    assert abs(closed - average) < 4 * error + 0.002 * average, (closed, average, error)


@pytest.mark.parametrize("name", ["fourier-linear", "fourier-compound", "fourier-mixed", "profile"])
def test_only_hours_near_the_limit_need_their_variance(models, name: str) -> None:  # type: ignore[no-untyped-def]
    model, future = models[name]
    sampler, sigma = model.draw_sampler(future), model.hourly_sigma(future)
    mean, _, variance_at = sampler.moments(model.coef_, model.coef_cov_)
    for limit in [*np.quantile(mean, [0.5, 0.99]).tolist(), float(mean.max()) * 2]:
        every_hour = special.ndtr((mean - limit) / np.sqrt(sigma**2 + variance_at(None))).sum()
        alone = _chosen_form_only(model)
        assert runner_up_draws(alone, 100) == 0
        assert simulate_overload(alone, future, limit, 100, [5]).hours_over == pytest.approx(every_hour, abs=1e-9)


def _chosen_form_only(model: SeasonalTrendForecaster) -> SeasonalTrendForecaster:
    alone = copy.deepcopy(model)
    alone.trend_weights_ = {model.trend_: 1.0, model.runner_up_trend_: 0.0}
    return alone


@pytest.mark.parametrize("name", ["fourier-linear", "fourier-compound", "fourier-mixed"])
def test_the_coarse_peaks_bound_every_hour(models, name: str) -> None:  # type: ignore[no-untyped-def]
    model, future = models[name]
    sampler = model.draw_sampler(future)
    for form in _draws_by_form(model, 100, [5]):
        centre = form.draws.mean(axis=0)
        peak = sampler.design.peak_bound(form.kind, centre, np.abs(form.draws - centre).max(axis=0))
        assert (
            peak >= sampler.design.upper_envelope(form.kind, form.draws).max() >= sampler(form.draws, form.kind).max()
        )
        load, spread = sampler.peaks(form.coef, form.cov, form.kind)
        mean, sd_bound, _ = sampler.moments(form.coef, form.cov, form.kind)
        assert load >= mean.max() and spread >= sd_bound.max()
        assert load < 1.5 * mean.max()  # coarse, not useless


@pytest.mark.parametrize("name", ["fourier-linear", "fourier-compound", "fourier-mixed"])
def test_a_limit_far_above_the_load_is_settled_by_the_peaks_alone(models, name: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model, future = models[name]
    limit = 2 * float(model.predict(future).max())
    design = model.draw_sampler(future).design
    with monkeypatch.context() as without_peaks:
        without_peaks.setattr(type(design), "peak_bound", lambda *args: None)
        without_peaks.setattr(type(design), "spread_peak", lambda *args: None)
        expected = simulate_overload(model, future, limit, 100, [5])

    def not_needed(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the per-hour bounds were built for a limit the peaks settle")

    monkeypatch.setattr(type(design), "upper_envelope", not_needed)
    monkeypatch.setattr(type(design), "spread_bound", not_needed)
    settled = simulate_overload(model, future, limit, 100, [5])
    assert settled.hours_over == expected.hours_over == 0.0
    assert (settled.first_index == -1).all() and (expected.first_index == -1).all()
