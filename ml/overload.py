"""When does the forecast cross the transformer's limit, for how long, and how sure are we."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


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

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["overload_hours_range"] = list(self.overload_hours_range)
        return data


def analyse_overload(forecast: pd.DataFrame, limit_kw: float, coverage: float) -> OverloadReport:
    """Read the overload answer off an hourly forecast with ``predicted_kw``, ``lower_kw``, ``upper_kw``."""
    if forecast.empty:
        raise ValueError("the forecast is empty: nothing to analyse")
    stamps = pd.DatetimeIndex(forecast["timestamp"])
    over = (forecast["predicted_kw"] > limit_kw).to_numpy()
    peak = int(forecast["predicted_kw"].to_numpy().argmax())
    return OverloadReport(
        limit_kw=float(limit_kw),
        horizon_start=stamps[0].isoformat(),
        horizon_end=stamps[-1].isoformat(),
        first_overload_at=_first(stamps, over),
        first_overload_earliest=_first(stamps, (forecast["upper_kw"] > limit_kw).to_numpy()),
        first_overload_latest=_first(stamps, (forecast["lower_kw"] > limit_kw).to_numpy()),
        overload_hours=int(over.sum()),
        overload_hours_range=(
            int((forecast["lower_kw"] > limit_kw).sum()),
            int((forecast["upper_kw"] > limit_kw).sum()),
        ),
        overload_episodes=int((over[1:] & ~over[:-1]).sum() + over[0]),
        max_predicted_kw=round(float(forecast["predicted_kw"].iloc[peak]), 3),
        max_predicted_at=stamps[peak].isoformat(),
        interval_coverage=coverage,
    )


def _first(stamps: pd.DatetimeIndex, mask: object) -> str | None:
    hits = stamps[mask]  # type: ignore[index]
    return hits[0].isoformat() if len(hits) else None
