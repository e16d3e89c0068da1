"""Transformers over the same hours share designs (and their factors) through the clock cache; no
transformer's fit may depend on which others were fitted before it in the same process."""

from __future__ import annotations

import numpy as np
import pytest

import ml.model as model_module
from ml.evaluate import forecast_index
from ml.model import SeasonalTrendForecaster
from ml.scenarios import LoadTruth, history
from ml.uncertainty import simulate_overload

CASES = [
    ("smooth", LoadTruth(), {}),
    ("bigger", LoadTruth(base_kw=130.0, growth_kw_per_year=2.0, daily_kw=12.0, yearly_kw=25.0, noise_kw=4.0), {}),
    ("stepped", LoadTruth(shift_kw=15.0, shift_at="2023-09-01"), {}),
    ("compounding", LoadTruth(compound_pct_per_year=6.0, base_kw=400.0, daily_kw=40, yearly_kw=60), {}),
    ("profile", LoadTruth(daily_kw=2, yearly_kw=2, noise_rho=0.8), {"structure": "profile"}),
]


def _fit_and_simulate(name: str) -> dict[str, object]:
    _, truth, options = next(case for case in CASES if case[0] == name)
    series = history(truth, seed=11)
    model = SeasonalTrendForecaster(**options).fit(series.index, series.to_numpy())
    future = forecast_index(series.index[-1], 3.0)
    limit = float(np.quantile(model.predict(future), 0.98))
    simulation = simulate_overload(model, future, limit, 100, [1])
    return {
        "coef": model.coef_,
        "cov": model.coef_cov_,
        "shifts": model.level_shift_hours_,
        "weights": model.trend_weights_,
        "trend": model.trend_,
        "first": simulation.first_index,
        "hours_over": simulation.hours_over,
    }


def _fresh_process_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "_recent_clocks", [])


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
def test_a_fit_is_the_same_alone_and_after_others_over_the_same_hours(order: list[int], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    names = [CASES[i][0] for i in order]
    together = {}
    _fresh_process_caches(monkeypatch)
    for name in names:
        together[name] = _fit_and_simulate(name)
    for name in names:
        _fresh_process_caches(monkeypatch)
        alone = _fit_and_simulate(name)
        for key, value in alone.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(together[name][key], value, err_msg=f"{name}: {key}")
            else:
                assert together[name][key] == value, (name, key)
    assert len(together["stepped"]["shifts"]) == 1 and not len(together["smooth"]["shifts"])  # type: ignore[arg-type]
    # Two transformers on the same hours, both linear without steps: what they share is exercised.
    assert (
        not len(together["bigger"]["shifts"]) and together["bigger"]["trend"] == together["smooth"]["trend"] == "linear"
    )  # type: ignore[arg-type]


def test_adding_a_column_to_a_span_is_least_squares_on_all_columns() -> None:
    rng = np.random.default_rng(2)
    hours = np.arange(5000.0)
    columns = np.column_stack([np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24), hours > 2000])
    growth = np.exp(0.05 * hours / 8766)
    target = 50 * growth + columns @ [3.0, -2.0, 7.0] + rng.normal(0, 1, len(hours))
    span = model_module.Span.of(columns)
    coef = span.with_column(growth, target, span.coordinates(target))
    expected = np.linalg.lstsq(np.column_stack([growth, columns]), target, rcond=None)[0]
    np.testing.assert_allclose(coef, expected, rtol=1e-9)
    # a column inside the span, or a span with a repeated column: None, and the caller takes lstsq's answer
    inside = 2 * columns[:, 0] + columns[:, 2]
    assert span.with_column(inside, target, span.coordinates(target)) is None
    repeated = model_module.Span.of(np.column_stack([columns, columns[:, :1]]))
    assert repeated.with_column(growth, target, repeated.coordinates(target)) is None


@pytest.mark.parametrize("name", ["compounding", "stepped"])
def test_the_compound_gram_by_blocks_is_the_jacobians_own(name: str) -> None:
    _, truth, options = next(case for case in CASES if case[0] == name)
    series = history(truth, seed=3)
    model = SeasonalTrendForecaster(**options).fit(series.index, series.to_numpy())
    design = model._design(model._clock(series.index))
    params = model.coef_ if model.trend_ == "compound" else model.runner_up_coef_
    jacobian = design.jacobian("compound", params)
    np.testing.assert_allclose(design.gram("compound", params), jacobian.T @ jacobian, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("name", ["smooth", "compounding", "stepped"])
def test_the_growth_rate_search_by_power_series_is_the_exact_search(name: str) -> None:
    """The series gives the residual sum of squares of every trial rate to ~1e-11, so the rate found
    is the exact search's within the search's own tolerance (1e-7)."""
    from scipy import optimize

    _, truth, options = next(case for case in CASES if case[0] == name)
    series = history(truth, seed=5)
    model = SeasonalTrendForecaster(**options).fit(series.index, series.to_numpy())
    design = model._design(model._clock(series.index))
    span = model_module.Span.of(design.linear)
    powers = model_module.GrowthPowers.of(design.years, span, model_module.MAX_LOG_GROWTH)
    assert powers is not None
    target = series.to_numpy()
    along = span.coordinates(target)
    outside = float(target @ target - along @ along)

    def exact(rate: float) -> float:
        growth = np.exp(rate * design.years)
        along_growth = span.coordinates(growth)
        inner = growth @ target - along_growth @ along
        return outside - inner**2 / (growth @ growth - along_growth @ along_growth)

    by_series = powers.rss(target, along, outside)
    for rate in np.linspace(-model_module.MAX_LOG_GROWTH, model_module.MAX_LOG_GROWTH, 57):
        assert by_series(rate) == pytest.approx(exact(rate), rel=1e-10)
    searched = [
        optimize.minimize_scalar(f, bounds=(-0.7, 0.7), method="bounded", options={"xatol": 1e-7}).x
        for f in (by_series, exact)
    ]
    assert abs(searched[0] - searched[1]) < 1e-7


def test_a_history_too_long_for_the_series_takes_the_exact_search() -> None:
    years = np.linspace(0.0, 12.0, 2000)
    columns = np.column_stack([np.sin(2 * np.pi * years), np.cos(2 * np.pi * years)])
    assert model_module.GrowthPowers.of(years, model_module.Span.of(columns), model_module.MAX_LOG_GROWTH) is None
    assert model_module.GrowthPowers.of(years[:300], model_module.Span.of(columns[:300]), 0.7) is not None
