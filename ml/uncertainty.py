"""How sure is the first-overload date: a distribution by simulation, not one crossing of one line.

Each draw takes coefficients from their (autocorrelation-inflated) covariance: one plausible
expected load. Its first crossing of the limit is a draw of the first-overload date, the same
quantity as the point forecast's ``first_overload_at``, so P10/P50/P90 bracket that date rather
than answer a different question. When linear and compounding growth are close in evidence, the
draws mix both forms by their BIC weights (``model.trend_weights_``): a fixed, stratified number of
draws (``draws * w`` rounded half up) come from the runner-up form, its own coefficients and covariance on
the same horizon design, so the P10-P90 still holds the truth when the chosen form is the wrong one.
A runner-up weight under 1% (:data:`ml.trend.MIN_MIX_WEIGHT`) gives it no draws: the result is
then exactly the chosen form's.

Expected overload hours add the hourly noise (each hour's own residual spread, by local hour, day
type and season), because it is the hours the transformer actually sees that count. They are
computed in closed form per growth form (the normal identity, see :func:`_expected_hours_over`),
weighted by the forms' shares of the draws: the value the average over draws tends to.

Paths are built only at the hours some draw can reach the limit, in blocks of hours from the start
of the horizon, and only for the draws that have not crossed yet, so memory stays bounded by a block
and a transformer far from its limit (or over it early) costs little.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

if TYPE_CHECKING:
    from ml.model import DrawSampler

DRAWS = 100  # as in the calibration test; P10/P90 are the 10th and 90th of 100 ordered draws
BLOCK_HOURS = 2048  # hours of paths built at a time: 100 draws x 2,048 hours of float64 is 1.6 MB
SEED = 20250101
CHOLESKY_ABOVE = 64  # coefficients
FAR_Z = 8.5
"""An hour this many standard deviations from the limit is over it with probability 1 or 0 to within 1e-17."""


@dataclass(frozen=True)
class OverloadSimulation:
    """Per draw, the first hour the expected load is over the limit (-1 for none); and the expected
    hours over it across the futures, hourly noise included."""

    stamps: pd.DatetimeIndex
    first_index: np.ndarray
    hours_over: float

    def first_overload_quantile(self, q: float) -> str | None:
        """The q-quantile of the first-overload time; None when it lies beyond the horizon."""
        never = len(self.stamps)
        ordered = np.sort(np.where(self.first_index < 0, never, self.first_index))
        rank = int(np.ceil(q * len(ordered))) - 1
        value = ordered[min(max(rank, 0), len(ordered) - 1)]
        return None if value >= never else self.stamps[value].isoformat()

    def p_overload_by_year_end(self) -> dict[str, float]:
        """Share of draws with a first overload on or before 31 December of each year in the horizon."""
        if not len(self.stamps):
            return {}
        firsts = np.where(self.first_index < 0, len(self.stamps), self.first_index)
        years = range(self.stamps[0].year, self.stamps[-1].year + 1)  # the stamps are ordered
        year_ends = pd.DatetimeIndex([pd.Timestamp(year + 1, 1, 1) for year in years], tz=self.stamps.tz)
        last_of_year = np.searchsorted(self.stamps, year_ends, side="left") - 1
        return {
            str(year): round(float(np.mean(firsts <= last)), 4) for year, last in zip(years, last_of_year, strict=True)
        }

    @property
    def expected_overload_hours(self) -> float:
        return round(float(self.hours_over), 1)


def draw_coefficients(mean: np.ndarray, cov: np.ndarray, draws: int, seed: int | list[int]) -> np.ndarray:
    """Coefficient draws from their normal approximation. A profile model has ~500 coefficients, where
    a Cholesky factor is seven times faster than the eigendecomposition the Fourier model's ~30 use
    (kept there, so its draws are what they were); a covariance that is only semi-definite falls back."""
    rng = np.random.default_rng(seed)
    try:
        if len(mean) > CHOLESKY_ABOVE:
            return rng.multivariate_normal(mean, cov, size=draws, method="cholesky")
        return rng.multivariate_normal(mean, cov, size=draws, method="eigh")
    except np.linalg.LinAlgError:
        return np.random.default_rng(seed).multivariate_normal(mean, cov, size=draws, method="eigh")


def simulate_overload(
    model: object,
    stamps: pd.DatetimeIndex,
    limit_kw: float,
    draws: int = DRAWS,
    seed: int | list[int] = SEED,
    block_hours: int = BLOCK_HOURS,
    dtype: type = np.float64,
    sampler: DrawSampler | None = None,
) -> OverloadSimulation:
    """Simulate ``draws`` futures of a fitted :class:`~ml.model.SeasonalTrendForecaster` over ``stamps``.

    The one simulator of the single-transformer report and the fleet: the fleet passes ``float32``
    paths (half the memory) and the ``sampler`` (``model.draw_sampler(stamps)``) it already built for
    its point forecast. The first draws are the chosen growth form's, the last ``round(draws *
    w_runner_up)`` the runner-up's (see the module docstring). Paths are built ``block_hours`` at a
    time, from the start of the horizon, for the draws that have not crossed yet (memory is bounded
    by the block).
    """
    expected = sampler or model.draw_sampler(stamps)  # type: ignore[attr-defined]
    sigma = np.maximum(model.hourly_sigma(stamps), 1e-9)  # type: ignore[attr-defined]
    first = np.full(draws, -1, dtype=np.int64)
    hours_over, at = 0.0, 0
    for form in _draws_by_form(model, draws, seed):
        n = len(form.draws)
        first[at : at + n] = _first_crossings(expected, form, limit_kw, block_hours, dtype)
        hours_over += n / draws * _expected_hours_over(expected, form, limit_kw, sigma)
        at += n
    return OverloadSimulation(pd.DatetimeIndex(stamps), first, hours_over)


def _first_crossings(expected: DrawSampler, form: Form, limit_kw: float, block_hours: int, dtype: type) -> np.ndarray:
    """Per draw, the first hour its expected load is over the limit (-1: never).

    Only the hours some draw can reach the limit at are built (the sampler's envelope bounds every
    draw at once; an hour below it cannot be a crossing), in time order, block by block, for the
    draws still below: a draw is done at its first crossing. The answer is the one over every hour."""
    hours = expected.reachable(form.draws, limit_kw, form.kind)
    first = np.full(len(form.draws), -1, dtype=np.int64)
    pending = np.arange(len(form.draws))
    for lo in range(0, len(hours), block_hours):
        block = hours[lo : lo + block_hours]
        paths: np.ndarray = expected(form.draws[pending], form.kind, block).astype(dtype, copy=False)
        crossing = paths > limit_kw
        crossed = crossing.any(axis=1)
        first[pending[crossed]] = block[crossing[crossed].argmax(axis=1)]
        pending = pending[~crossed]
        if not len(pending):
            break
    return first


def _expected_hours_over(expected: DrawSampler, form: Form, limit_kw: float, sigma: np.ndarray) -> float:
    """Expected hours over the limit in this form's futures, hourly noise included, in closed form.

    An hour's load is its expected load (normal through the coefficients, variance ``v_h``) plus
    its own noise (``sigma_h``), so ``P(over) = Phi((mean_h - limit) / sqrt(sigma_h^2 + v_h))``
    (the normal identity ``E[Phi(a + bZ)] = Phi(a / sqrt(1 + b^2))``); the hours add up. This is the
    limit the average over coefficient draws tends to, without the draws' sampling noise and in
    one pass over the hours; exact for linear growth, first order (the delta method, as the
    intervals) for compounding growth. Noise memory changes the spread of the count, not its mean."""
    peaks = expected.peaks(form.coef, form.cov, form.kind)
    if peaks is not None and peaks[0] + FAR_Z * np.sqrt(float(sigma.max()) ** 2 + peaks[1] ** 2) < limit_kw:
        return 0.0  # every hour further below the limit than FAR_Z of its widest spread: none counts
    mean, sd_bound, variance_at = expected.moments(form.coef, form.cov, form.kind)
    if sd_bound is None:  # no bound on the spread: every hour through the normal CDF
        return float(special.ndtr((mean - limit_kw) / np.sqrt(sigma**2 + variance_at(None))).sum())
    # Hours further than FAR_Z of their widest possible spread from the limit count 0 or 1 (to 1e-17 each);
    # only the hours between need their exact variance.
    widest = FAR_Z * np.sqrt(sigma**2 + sd_bound**2)
    surely_over = int(np.count_nonzero(mean - widest > limit_kw))
    band = np.flatnonzero(np.abs(mean - limit_kw) <= widest)
    if not len(band):
        return float(surely_over)
    z = (mean[band] - limit_kw) / np.sqrt(sigma[band] ** 2 + variance_at(band))
    return surely_over + float(special.ndtr(z).sum())


def runner_up_draws(model: object, draws: int) -> int:
    """How many of ``draws`` the runner-up growth form gets: its weight's share, rounded half up."""
    share = model.runner_up_share() if hasattr(model, "runner_up_share") else 0.0
    return int(np.floor(draws * share + 0.5))


@dataclass(frozen=True)
class Form:
    """One growth form's share of a simulation: its fitted coefficients, their covariance, its draws."""

    kind: str
    coef: np.ndarray
    cov: np.ndarray
    draws: np.ndarray


def _draws_by_form(model: object, draws: int, seed: int | list[int]) -> list[Form]:
    """Coefficient draws per growth form: the chosen form's, then the runner-up's, if it has any.

    The chosen form's draws come from ``seed`` as they always did, the runner-up's from a seed of
    their own, so a decisive fit (no runner-up draws) reproduces the chosen-form-only numbers exactly.
    """
    n_runner_up = runner_up_draws(model, draws)
    forms: list[Form] = []
    m: Any = model
    if draws - n_runner_up:
        forms.append(
            Form(m.trend_, m.coef_, m.coef_cov_, draw_coefficients(m.coef_, m.coef_cov_, draws - n_runner_up, seed))
        )
    if n_runner_up:
        own_seed = [*seed, 1] if isinstance(seed, list | tuple) else [seed, 1]
        runner_up = draw_coefficients(m.runner_up_coef_, m.runner_up_coef_cov_, n_runner_up, own_seed)
        forms.append(Form(m.runner_up_trend_, m.runner_up_coef_, m.runner_up_coef_cov_, runner_up))
    return forms
