"""How sure is the first-overload date: a distribution by simulation, not one crossing of one line.

Each draw takes coefficients from their (autocorrelation-inflated) covariance: one plausible
expected load. Its first crossing of the limit is a draw of the first-overload date, the same
quantity as the point forecast's ``first_overload_at``, so P10/P50/P90 bracket that date rather
than answer a different question. When linear and compounding growth are close in evidence, the
draws mix both forms by their BIC weights (``model.trend_weights_``): a fixed, stratified number of
draws (``draws * w`` rounded half up) come from the runner-up form, its own coefficients and covariance on
the same horizon design, so the P10-P90 still holds the truth when the chosen form is the wrong one.
A runner-up weight under 1% (:data:`ml.trend.MIN_MIX_WEIGHT`) gives it no draws: the result is
then exactly the chosen form's. Expected overload hours add the hourly noise (each hour's own
residual spread, by local hour, day type and season), because it is the hours the transformer
actually sees that count.

Draws are processed in chunks so memory stays bounded (a 100 x 43,824 grid of floats would be
35 MB at once; a chunk of 25 is 9 MB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

DRAWS = 100  # as in the calibration test; P10/P90 are the 10th and 90th of 100 ordered draws
CHUNK = 25
SEED = 20250101
CHOLESKY_ABOVE = 64  # coefficients
NEAR_SIGMAS = 8.0  # hours further below the limit add under 1e-15 hours each


@dataclass(frozen=True)
class OverloadSimulation:
    """Per draw: first hour the expected load is over the limit (-1 for none); expected hours over it."""

    stamps: pd.DatetimeIndex
    first_index: np.ndarray
    overload_hours: np.ndarray

    def first_overload_quantile(self, q: float) -> str | None:
        """The q-quantile of the first-overload time; None when it lies beyond the horizon."""
        never = len(self.stamps)
        ordered = np.sort(np.where(self.first_index < 0, never, self.first_index))
        rank = int(np.ceil(q * len(ordered))) - 1
        value = ordered[min(max(rank, 0), len(ordered) - 1)]
        return None if value >= never else self.stamps[value].isoformat()

    def p_overload_by_year_end(self) -> dict[str, float]:
        """Share of draws with a first overload on or before 31 December of each year in the horizon."""
        firsts = np.where(self.first_index < 0, len(self.stamps), self.first_index)
        result = {}
        for year in sorted(set(self.stamps.year)):
            last_of_year = int(np.searchsorted(self.stamps, pd.Timestamp(year + 1, 1, 1), side="left")) - 1
            result[str(year)] = round(float(np.mean(firsts <= last_of_year)), 4)
        return result

    @property
    def expected_overload_hours(self) -> float:
        return round(float(self.overload_hours.mean()), 1)


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
    chunk: int = CHUNK,
    dtype: type = np.float64,
    near_sigmas: float = NEAR_SIGMAS,
    sampler: Callable[..., np.ndarray] | None = None,
) -> OverloadSimulation:
    """Simulate ``draws`` futures of a fitted :class:`~ml.model.SeasonalTrendForecaster` over ``stamps``.

    The one simulator of the single-transformer report and the fleet: the fleet passes ``float32``
    paths (half the memory) and the ``sampler`` it already built for its point forecast. Each hour's
    noise is its own (``model.hourly_sigma``: by local hour, day type and season), because overloads
    happen at the peaks and the peaks are the noisiest hours. The first draws are the chosen growth
    form's, the last ``round(draws * w_runner_up)`` the runner-up's (see the module docstring); a
    ``sampler`` must then accept the form as its second argument, as ``draw_sampler``'s does.
    """
    first = np.empty(draws, dtype=np.int64)
    hours_over = np.zeros(draws, dtype=float)
    expected = sampler or model.draw_sampler(stamps)  # type: ignore[attr-defined]
    sigma = np.maximum(model.hourly_sigma(stamps), 1e-9).astype(dtype)  # type: ignore[attr-defined]
    at = 0
    for kind, coefficients in _draws_by_form(model, draws, seed):
        for lo in range(0, len(coefficients), chunk):
            block = coefficients[lo : lo + chunk]
            paths: np.ndarray = (expected(block) if kind is None else expected(block, kind)).astype(dtype, copy=False)
            first[at : at + len(paths)], hours_over[at : at + len(paths)] = _score(paths, limit_kw, sigma, near_sigmas)
            at += len(paths)
    return OverloadSimulation(pd.DatetimeIndex(stamps), first, hours_over)


def runner_up_draws(model: object, draws: int) -> int:
    """How many of ``draws`` the runner-up growth form gets: its weight's share, rounded half up."""
    share = model.runner_up_share() if hasattr(model, "runner_up_share") else 0.0
    return int(np.floor(draws * share + 0.5))


def _draws_by_form(model: object, draws: int, seed: int | list[int]) -> list[tuple[str | None, np.ndarray]]:
    """Coefficient draws per growth form: ``(None, chosen draws)`` then the runner-up's, if it has any.

    The chosen form's draws come from ``seed`` as they always did, the runner-up's from a seed of
    their own, so a decisive fit (no runner-up draws) reproduces the chosen-form-only numbers exactly.
    """
    n_runner_up = runner_up_draws(model, draws)
    groups: list[tuple[str | None, np.ndarray]] = []
    if draws - n_runner_up:
        groups.append((None, draw_coefficients(model.coef_, model.coef_cov_, draws - n_runner_up, seed)))  # type: ignore[attr-defined]
    if n_runner_up:
        own_seed = [*seed, 1] if isinstance(seed, list | tuple) else [seed, 1]
        runner_up = draw_coefficients(model.runner_up_coef_, model.runner_up_coef_cov_, n_runner_up, own_seed)  # type: ignore[attr-defined]
        groups.append((model.runner_up_trend_, runner_up))  # type: ignore[attr-defined]
    return groups


def _score(paths: np.ndarray, limit_kw: float, sigma: np.ndarray, near_sigmas: float) -> tuple[np.ndarray, np.ndarray]:
    """Per path: the first hour over the limit (-1 for none) and the expected hours over it.

    Expected hours over the limit once hourly noise is added: the sum of each hour's exceedance
    probability. Exact for any noise memory (autocorrelation changes the spread, not the mean).
    Hours more than ``near_sigmas`` of their own noise below the limit in every draw add nothing; hours
    that far above it in every draw add one each (both to within 1e-15 of an hour): only the band
    between needs the normal CDF, which keeps a transformer far over its limit as cheap as one far under.
    """
    crossing = paths > limit_kw
    first = np.where(crossing.any(axis=1), crossing.argmax(axis=1), -1)
    margin = near_sigmas * sigma
    surely_over = paths.min(axis=0) > limit_kw + margin
    band = (paths.max(axis=0) > limit_kw - margin) & ~surely_over
    hours_over = np.full(len(paths), float(surely_over.sum()))
    if band.any():
        z = ((paths[:, band] - limit_kw) / sigma[band]).astype(np.float64, copy=False)
        hours_over += special.ndtr(z).sum(axis=1)  # scipy's float64 loop is faster than its float32 one
    return first, hours_over
