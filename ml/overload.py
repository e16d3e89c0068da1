"""When does the forecast cross the transformer's limit, for how long, and how sure are we."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.uncertainty import OverloadSimulation


@dataclass(frozen=True)
class OverloadReport:
    """The answer a planning engineer acts on. Timestamps are ISO-8601 strings or None."""

    limit_kw: float
    horizon_start: str
    horizon_end: str
    first_overload_at: str | None
    """First hour the point forecast exceeds the limit."""
    first_overload_earliest: str | None
    """First hour the interval's upper bound exceeds it: the date to plan for if growth runs high."""
    first_overload_latest: str | None
    """First hour even the interval's lower bound exceeds it: by then an overload is near certain."""
    overload_hours: int
    """Hours over the limit in the point forecast."""
    overload_hours_range: tuple[int, int]
    """Hours over the limit by the interval's lower and upper bound."""
    overload_episodes: int
    """Separate runs of consecutive overloaded hours in the point forecast."""
    max_predicted_kw: float
    max_predicted_at: str
    interval_coverage: float
    first_overload_p10: str | None = None
    """From the simulation (coefficient draws plus residual noise): 10% of futures overload by then.
    When linear and compounding growth are close in evidence, the draws mix both forms by weight."""
    first_overload_p50: str | None = None
    first_overload_p90: str | None = None
    """90% of simulated futures have overloaded by then; None if fewer do within the horizon."""
    p_overload_by_year_end: dict[str, float] = field(default_factory=dict)
    """Probability that the first overload has happened by 31 December of each year."""
    p_overload_within_horizon: float | None = None
    """Share of simulated futures that overload at all within the horizon."""
    expected_overload_hours: float | None = None
    """Mean hours over the limit across the simulated futures."""
    simulation_draws: int = 0

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["overload_hours_range"] = list(self.overload_hours_range)
        return data


def analyse_overload(
    forecast: pd.DataFrame, limit_kw: float, coverage: float, simulation: OverloadSimulation | None = None
) -> OverloadReport:
    """Read the overload answer off an hourly forecast with ``predicted_kw``, ``lower_kw``, ``upper_kw``.

    With a ``simulation`` of the same horizon (:func:`ml.uncertainty.simulate_overload`), the report
    also carries the distribution of the first-overload date.
    """
    if forecast.empty:
        raise ValueError("the forecast is empty: nothing to analyse")
    stamps = pd.DatetimeIndex(forecast["timestamp"])
    return OverloadReport(
        limit_kw=float(limit_kw),
        horizon_start=stamps[0].isoformat(),
        horizon_end=stamps[-1].isoformat(),
        **point_summary(stamps, forecast["predicted_kw"].to_numpy(), limit_kw),
        first_overload_earliest=_first(stamps, (forecast["upper_kw"] > limit_kw).to_numpy()),
        first_overload_latest=_first(stamps, (forecast["lower_kw"] > limit_kw).to_numpy()),
        overload_hours_range=(
            int((forecast["lower_kw"] > limit_kw).sum()),
            int((forecast["upper_kw"] > limit_kw).sum()),
        ),
        interval_coverage=coverage,
        **(simulation_summary(simulation) if simulation is not None else {}),
    )


def point_summary(stamps: pd.DatetimeIndex, predicted_kw: np.ndarray, limit_kw: float) -> dict[str, Any]:
    """What the point forecast says, as both reports state it (the single run's and each fleet row):
    its first hour over the limit, hours and separate episodes over it, and its peak."""
    over = predicted_kw > limit_kw
    peak = int(predicted_kw.argmax())
    return {
        "first_overload_at": _first(stamps, over),
        "overload_hours": int(over.sum()),
        "overload_episodes": int((over[1:] & ~over[:-1]).sum() + over[0]),
        "max_predicted_kw": round(float(predicted_kw[peak]), 3),
        "max_predicted_at": stamps[peak].isoformat(),
    }


def simulation_summary(simulation: OverloadSimulation) -> dict[str, Any]:
    """The first-overload distribution as both reports state it (the single run's and each fleet row)."""
    return {
        "first_overload_p10": simulation.first_overload_quantile(0.1),
        "first_overload_p50": simulation.first_overload_quantile(0.5),
        "first_overload_p90": simulation.first_overload_quantile(0.9),
        "p_overload_by_year_end": simulation.p_overload_by_year_end(),
        "p_overload_within_horizon": round(float(np.mean(simulation.first_index >= 0)), 4),
        "expected_overload_hours": simulation.expected_overload_hours,
        "simulation_draws": len(simulation.first_index),
    }


def _first(stamps: pd.DatetimeIndex, mask: object) -> str | None:
    hits = stamps[mask]  # type: ignore[index]
    return hits[0].isoformat() if len(hits) else None
