"""The local calendar a load follows: wall-clock hour, day type (working day, Saturday, Sunday or
public holiday) and season, from stamps stored in UTC.

People switch lights on by the local clock and stay home on public holidays, so the daily profile
is indexed by local time even though every stored timestamp is UTC. ``timezone=None`` means the
stamps already are the clock the load follows (naive data with no time zone given).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

WORKING_DAY, SATURDAY, SUNDAY_OR_HOLIDAY = 0, 1, 2
DAY_TYPES = ("working day", "Saturday", "Sunday/holiday")
SEASONS = ("winter", "spring", "summer", "autumn")  # Dec-Feb, Mar-May, Jun-Aug, Sep-Nov
NO_HOLIDAYS = ("", "none")


def local_clock(stamps: pd.DatetimeIndex, timezone: str | None) -> pd.DatetimeIndex:
    """Wall-clock time: naive stamps are UTC when a ``timezone`` is given; aware stamps are converted."""
    if timezone is None:
        return stamps.tz_localize(None) if stamps.tz is not None else stamps
    aware = stamps if stamps.tz is not None else stamps.tz_localize("UTC")
    return aware.tz_convert(timezone).tz_localize(None)


def split_holiday_code(code: str) -> tuple[str, str | None]:
    """``"DE"`` -> (``"DE"``, None); ``"DE-BY"`` -> (``"DE"``, ``"BY"``): a country and optional region."""
    country, _, region = code.strip().partition("-")
    return country.upper(), (region or None)


def check_holidays(code: str | None) -> None:
    """Refuse an unknown country or region with the list of what is known (before any fitting)."""
    if code is None or code.strip().lower() in NO_HOLIDAYS:
        return
    import holidays

    country, region = split_holiday_code(code)
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"holidays={code!r}: unknown country {country!r}; use an ISO code such as 'DE', or 'none'")
    if region is not None and region not in supported[country]:
        raise ValueError(
            f"holidays={code!r}: {country} has no region {region!r}; known: {', '.join(supported[country])}"
        )


@lru_cache(maxsize=64)
def holiday_dates(code: str, first_year: int, last_year: int) -> np.ndarray:
    """Public holidays of a country (``"DE"``) or region (``"DE-BY"``) as sorted ``datetime64[D]``."""
    import holidays

    country, region = split_holiday_code(code)
    calendar = holidays.country_holidays(country, subdiv=region, years=range(first_year, last_year + 1))
    return np.array(sorted(calendar.keys()), dtype="datetime64[D]")


def clock_fields(clock: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """``day_of_year``, ``hour``, ``day_of_week`` and ``month`` of naive stamps, equal to pandas' fields.

    Read straight off the datetime64 values (floor division to days, hours, months and years), a few
    times faster than pandas' per-field conversions; stamps with a gap (NaT) go through pandas."""
    values = clock.to_numpy()
    if values.dtype.kind != "M" or clock.hasnans:
        return {
            "day_of_year": clock.day_of_year.to_numpy(),
            "hour": clock.hour.to_numpy(),
            "day_of_week": clock.day_of_week.to_numpy(),
            "month": clock.month.to_numpy(),
        }
    days = values.astype("datetime64[D]")
    day_number = days.astype(np.int64)
    months = values.astype("datetime64[M]")
    year_start = values.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    return {
        "day_of_year": (day_number - year_start + 1).astype(np.int32),
        "hour": (values.astype("datetime64[h]").astype(np.int64) - day_number * 24).astype(np.int32),
        "day_of_week": ((day_number + 3) % 7).astype(np.int32),  # 1970-01-01 was a Thursday
        "month": (months.astype(np.int64) % 12 + 1).astype(np.int32),
    }


def day_types(clock: pd.DatetimeIndex, holiday_code: str | None, weekday: np.ndarray | None = None) -> np.ndarray:
    """0 working day, 1 Saturday, 2 Sunday or public holiday, by the local date of each stamp.

    ``weekday`` (Monday 0), when already known, saves reading it again."""
    weekday = clock.day_of_week.to_numpy() if weekday is None else weekday
    kinds = np.where(weekday == 6, SUNDAY_OR_HOLIDAY, np.where(weekday == 5, SATURDAY, WORKING_DAY))
    if holiday_code is None or holiday_code.strip().lower() in NO_HOLIDAYS or len(clock) == 0:
        return kinds
    dates = clock.to_numpy().astype("datetime64[D]")
    holidays = holiday_dates(holiday_code, int(clock.year.min()), int(clock.year.max()))
    return np.where(np.isin(dates, holidays), SUNDAY_OR_HOLIDAY, kinds)


def seasons(clock: pd.DatetimeIndex, month: np.ndarray | None = None) -> np.ndarray:
    """0 winter (Dec-Feb), 1 spring, 2 summer, 3 autumn: the spread of the noise is kept per season."""
    return ((clock.month.to_numpy() if month is None else month) % 12) // 3
