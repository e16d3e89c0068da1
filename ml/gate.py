"""The gate a challenger passes to answer for its transformer: the same rule for one run and a fleet.

Scale-free, so it holds for a 10 kW pole transformer and a 2 MW substation alike: the challenger
must beat the seasonal-naive forecast (the same hour one week earlier) on the test window by a
margin, its registered weights must too (a model fitted to shuffled data or to another
transformer's data cannot pass), it may be no worse than the champion within a tolerance, and
optionally its test RMSE is under an absolute cap. Pure: numbers in, a verdict and its reason out.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ml.evaluate import chronological_split, holdout_scores, score, seasonal_naive_rmse
from ml.model import SeasonalTrendForecaster

DEFAULT_MARGIN = 0.05
DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Gate:
    margin: float = DEFAULT_MARGIN
    """How much better than the seasonal-naive forecast a model must be (0.05: 5% lower RMSE)."""
    tolerance: float = DEFAULT_TOLERANCE
    """How much worse than the champion a challenger may be (0.02: 2% higher RMSE)."""
    threshold_kw: float | None = None
    """Optional absolute cap on the test RMSE in kW."""


@dataclass(frozen=True)
class Scores:
    """The challenger's numbers on this data's test window, all in kW."""

    rmse: float
    """Refitted on the training window, scored on the test window (the protocol)."""
    registered_rmse: float
    """The registered weights as they are, on the test window."""
    naive_rmse: float
    """The seasonal-naive forecast (same hour one week earlier) on the test window."""


def judge(scores: Scores, champion_rmse: float | None, gate: Gate) -> tuple[bool, str]:
    """The gate itself, free of MLflow so it can be read and tested on its own."""
    rmse, naive = scores.rmse, scores.naive_rmse
    bar = naive * (1 - gate.margin)
    if gate.threshold_kw is not None and rmse > gate.threshold_kw:
        return False, f"test RMSE {rmse:.3f} kW is above the cap {gate.threshold_kw:.3f} kW"
    if rmse > bar:
        return False, (
            f"test RMSE {rmse:.3f} kW does not beat the seasonal-naive forecast's {naive:.3f} kW by "
            f"{gate.margin:.0%} (at most {bar:.3f} kW)"
        )
    if scores.registered_rmse > bar:
        return False, (
            f"the registered weights score {scores.registered_rmse:.3f} kW on the test window, not {gate.margin:.0%} "
            f"better than the seasonal-naive {naive:.3f} kW: they were not fitted to this transformer's data"
        )
    skill = f"test RMSE {rmse:.3f} kW is {1 - rmse / naive:.0%} below the seasonal-naive {naive:.3f} kW"
    if champion_rmse is None:
        return True, f"{skill} and there is no champion yet"
    if rmse > champion_rmse * (1 + gate.tolerance):
        return False, (
            f"test RMSE {rmse:.3f} kW is worse than the champion's {champion_rmse:.3f} kW "
            f"by more than {gate.tolerance:.0%} on the same test window"
        )
    return True, f"{skill} and within {gate.tolerance:.0%} of the champion's {champion_rmse:.3f} kW"


def challenger_scores(model: SeasonalTrendForecaster, series: pd.Series) -> Scores:
    split = chronological_split(series)  # once: every score below is on its windows
    return Scores(
        rmse=holdout_scores(model, series, split)["rmse"],
        registered_rmse=score(model, split.test)["rmse"],
        naive_rmse=seasonal_naive_rmse(series, test=split.test),
    )
