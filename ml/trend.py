"""The two growth shapes a load can follow, and the honest rule that picks one.

Linear: a fixed number of kW added each year. Compound: a fixed percentage each year (new
connections in proportion to the existing ones). On two years of history they differ by a few
tenths of a kW; five years out by several kW, which moves the first overload by months.
"""

from __future__ import annotations

import numpy as np
from scipy import special

KINDS = ("linear", "compound")
MAX_LOG_GROWTH = 0.7
"""Compound growth searched within about -50%/yr to +100%/yr: anything beyond is not load growth."""
EVIDENCE_MARGIN = 2.0
"""BIC difference needed to leave the simpler linear default ("positive evidence", Kass & Raftery)."""
MIN_MIX_WEIGHT = 0.01
"""Runner-up weight below which the simulation ignores the runner-up form: under one draw in a hundred,
so the report is exactly the chosen form's and no second covariance is computed or stored."""


def trend_value(kind: str, level: np.ndarray, rate: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Trend in kW ``years`` after the fit's origin; broadcasts over draws of ``level`` and ``rate``."""
    if kind == "linear":
        return level + rate * years
    if kind == "compound":
        return level * np.exp(rate * years)
    raise ValueError(f"unknown trend {kind!r}; expected one of {KINDS}")


def trend_jacobian(kind: str, level: float, rate: float, years: np.ndarray) -> np.ndarray:
    """Derivatives of the trend by (level, rate): the two columns the delta method needs."""
    if kind == "linear":
        return np.column_stack([np.ones_like(years), years])
    growth = np.exp(rate * years)
    return np.column_stack([growth, level * years * growth])


def lag1_autocorrelation(values: np.ndarray) -> float:
    """Correlation of each value with the next (``np.corrcoef`` of the two shifted copies, in fewer passes);
    0 for fewer than three values or when either copy is constant, where it is undefined."""
    if len(values) < 3:
        return 0.0
    before, after = values[:-1] - values[:-1].mean(), values[1:] - values[1:].mean()
    scale = float(np.sqrt((before @ before) * (after @ after)))
    return float(np.clip(before @ after / scale, -1.0, 1.0)) if scale > 0 else 0.0


def effective_bic(rss: float, n: int, n_params: int, autocorrelation: float) -> float:
    """BIC counted on the effective sample size, so autocorrelated hours do not overstate the evidence."""
    rho = float(np.clip(autocorrelation, 0.0, 0.99))
    n_eff = max(n * (1 - rho) / (1 + rho), n_params + 1.0)
    return float(n_eff * np.log(rss / n) + n_params * np.log(n_eff))


def choose_trend(bic: dict[str, float], margin: float = EVIDENCE_MARGIN) -> str:
    """Linear unless compound growth explains the history better by at least ``margin`` BIC points."""
    return "compound" if bic["compound"] < bic["linear"] - margin else "linear"


def trend_weights(bic: dict[str, float], chosen: str) -> dict[str, float]:
    """BIC (Akaike-style) weights of the two forms, ``{chosen: w, runner-up: 1 - w}``.

    ``w = 1 / (1 + exp(-(bic_runner_up - bic_chosen) / 2))``: the posterior odds of equally likely
    forms. When the two are close, neither deserves all the draws of the first-overload simulation.
    """
    runner_up = next(kind for kind in KINDS if kind != chosen)
    weight = float(special.expit((bic[runner_up] - bic[chosen]) / 2))
    return {chosen: weight, runner_up: 1.0 - weight}
