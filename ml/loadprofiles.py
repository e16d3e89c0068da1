"""Transformers whose load is a mix of standard load profiles, with known truth: the profile suite.

The shapes follow the pattern of the public BDEW standard load profiles planners use (H0 households,
G0 commerce, L0 farms): a 15-minute daily curve per day type (working day, Saturday, Sunday or
public holiday; 24 and 31 December count as Saturdays) that switches with BDEW's seasons (winter
1 Nov-20 Mar, summer 15 May-14 Sep, transition between), plus the H0 dynamisation polynomial over
the day of the year. They are written as sums of smooth bumps, not copied from the tables (demandlib
would need pandas < 3). Each transformer mixes the three, is scaled to a size, grows 2-8% a year
(compounding, so growth scales the whole profile) or by kW a year (a flat new load), and is metered
as the hourly peak of the 15-minute values with 1-4% noise. Everything follows the local clock
(Europe/Berlin by default) while stamps are UTC, as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal

from ml.calendar import day_types, local_clock

HOURS_PER_YEAR = 8766.0
Bumps = tuple[float, tuple[tuple[float, float, float], ...]]  # base, (centre hour, width h, height)...

# Per profile, per BDEW season, per day type (working day, Saturday, Sunday/holiday).
SHAPES: dict[str, dict[str, tuple[Bumps, Bumps, Bumps]]] = {
    "H0": {
        "winter": (
            (0.33, ((7.0, 0.9, 0.25), (12.5, 1.4, 0.22), (18.6, 1.7, 0.68))),
            (0.36, ((9.5, 1.5, 0.33), (12.5, 1.4, 0.34), (18.6, 1.9, 0.62))),
            (0.34, ((10.0, 1.4, 0.34), (12.3, 1.1, 0.52), (18.4, 2.0, 0.56))),
        ),
        "transition": (
            (0.30, ((7.0, 0.9, 0.22), (12.5, 1.4, 0.22), (19.4, 1.7, 0.50))),
            (0.33, ((9.5, 1.5, 0.30), (12.5, 1.4, 0.32), (19.4, 1.9, 0.46))),
            (0.31, ((10.0, 1.4, 0.30), (12.3, 1.1, 0.48), (19.2, 2.0, 0.42))),
        ),
        "summer": (
            (0.28, ((6.8, 0.9, 0.20), (12.5, 1.4, 0.24), (20.6, 1.6, 0.36))),
            (0.30, ((9.5, 1.5, 0.28), (12.5, 1.4, 0.32), (20.6, 1.8, 0.34))),
            (0.29, ((10.0, 1.4, 0.26), (12.3, 1.1, 0.44), (20.4, 1.9, 0.32))),
        ),
    },
    "G0": {
        "winter": (
            (0.26, ((12.5, 4.0, 0.62), (8.5, 1.0, 0.12), (17.0, 1.2, 0.16))),
            (0.26, ((10.5, 2.0, 0.42),)),
            (0.24, ()),
        ),
        "transition": (
            (0.25, ((12.5, 4.0, 0.58), (8.5, 1.0, 0.10))),
            (0.25, ((10.5, 2.0, 0.38),)),
            (0.23, ()),
        ),
        "summer": (
            (0.24, ((12.5, 4.0, 0.54), (14.5, 2.0, 0.12))),
            (0.24, ((10.5, 2.0, 0.36),)),
            (0.22, ()),
        ),
    },
    "L0": {
        "winter": (
            (0.34, ((6.0, 1.0, 0.62), (18.0, 1.3, 0.55), (12.5, 2.5, 0.12))),
            (0.34, ((6.0, 1.0, 0.60), (18.0, 1.3, 0.52), (12.5, 2.5, 0.10))),
            (0.33, ((6.5, 1.0, 0.56), (18.0, 1.3, 0.50))),
        ),
        "transition": (
            (0.33, ((5.8, 1.0, 0.58), (18.5, 1.3, 0.46), (13.0, 2.8, 0.18))),
            (0.33, ((5.8, 1.0, 0.56), (18.5, 1.3, 0.44), (13.0, 2.8, 0.16))),
            (0.32, ((6.3, 1.0, 0.52), (18.5, 1.3, 0.42))),
        ),
        "summer": (
            (0.32, ((5.5, 1.0, 0.54), (19.0, 1.3, 0.40), (13.5, 3.0, 0.30))),
            (0.32, ((5.5, 1.0, 0.52), (19.0, 1.3, 0.38), (13.5, 3.0, 0.28))),
            (0.31, ((6.0, 1.0, 0.48), (19.0, 1.3, 0.36), (13.5, 3.0, 0.22))),
        ),
    },
}


def _curve(bumps: Bumps, hour: np.ndarray) -> np.ndarray:
    base, terms = bumps
    value = np.full(hour.shape, base)
    for centre, width, height in terms:
        distance = (hour - centre + 12.0) % 24.0 - 12.0  # wraps around midnight
        value += height * np.exp(-0.5 * (distance / width) ** 2)
    return value


def bdew_season(clock: pd.DatetimeIndex) -> np.ndarray:
    """BDEW's seasons by local date: 0 winter (1 Nov-20 Mar), 2 summer (15 May-14 Sep), 1 transition."""
    month_day = clock.month.to_numpy() * 100 + clock.day.to_numpy()
    winter = (month_day >= 1101) | (month_day <= 320)
    summer = (month_day >= 515) & (month_day <= 914)
    return np.where(winter, 0, np.where(summer, 2, 1))


def h0_dynamisation(clock: pd.DatetimeIndex) -> np.ndarray:
    """BDEW's H0 factor over the day of the year (about 1.24 in January, 0.8 in summer)."""
    d = clock.day_of_year.to_numpy().astype(float)
    return -3.92e-10 * d**4 + 3.2e-7 * d**3 - 7.02e-5 * d**2 + 2.1e-3 * d + 1.24


def standard_profile(name: str, clock: pd.DatetimeIndex, holidays: str | None) -> np.ndarray:
    """Relative load of one standard profile at local times ``clock`` (15-minute resolution or any)."""
    kinds = day_types(clock, holidays)
    christmas_eves = (clock.month == 12) & np.isin(clock.day, (24, 31)) & (kinds == 0)
    kinds = np.where(christmas_eves, 1, kinds)  # BDEW: 24 and 31 December are Saturdays
    season = bdew_season(clock)
    hour = clock.hour.to_numpy() + clock.minute.to_numpy() / 60.0
    value = np.empty(len(clock))
    for s, season_name in enumerate(("winter", "transition", "summer")):
        for kind in range(3):
            at = (season == s) & (kinds == kind)
            value[at] = _curve(SHAPES[name][season_name][kind], hour[at])
    return value * h0_dynamisation(clock) if name == "H0" else value


@dataclass(frozen=True)
class ProfileTruth:
    """One transformer: a mix of H0/G0/L0 scaled to ``size_kw``, its growth and its metering noise."""

    mix: tuple[float, float, float] = (0.6, 0.3, 0.1)  # shares of H0, G0, L0
    size_kw: float = 200.0
    growth_pct_per_year: float = 4.0
    """Compounding growth that scales the whole profile (0 for none)."""
    growth_kw_per_year: float = 0.0
    """Additive growth: a flat load added at this pace (0 for none)."""
    noise_pct: float = 2.0
    noise_rho: float = 0.5
    start: str = "2023-01-01"
    timezone: str = "Europe/Berlin"
    holidays: str | None = "DE"

    def expected(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        """Noise-free hourly peak of the 15-minute load at UTC ``stamps`` (each the start of its hour)."""
        quarters = np.concatenate([stamps + pd.Timedelta(minutes=15 * q) for q in range(4)])
        clock = local_clock(pd.DatetimeIndex(quarters), self.timezone)
        shape = sum(w * standard_profile(n, clock, self.holidays) for w, n in zip(self.mix, SHAPES, strict=True))
        peak = np.asarray(shape).reshape(4, len(stamps)).max(axis=0)
        start = pd.Timestamp(self.start)
        years = np.asarray((stamps - start) / pd.Timedelta(hours=1)) / HOURS_PER_YEAR
        growth = (1 + self.growth_pct_per_year / 100) ** years
        return self.size_kw * peak * growth + self.growth_kw_per_year * years

    def sample(self, stamps: pd.DatetimeIndex, seed: int) -> np.ndarray:
        """Metered hourly peaks: the truth times (1 + AR(1) noise of ``noise_pct`` percent)."""
        rng = np.random.default_rng(seed)
        sd = self.noise_pct / 100
        innovations = rng.normal(0.0, sd * np.sqrt(1 - self.noise_rho**2), len(stamps))
        innovations[0] = rng.normal(0.0, sd)
        noise = signal.lfilter([1.0], [1.0, -self.noise_rho], innovations)
        return self.expected(stamps) * (1 + noise)

    def history(self, seed: int, years: float = 2.0) -> pd.Series:
        """``years`` of hourly history from local midnight of ``start``, indexed by naive UTC stamps."""
        first = pd.Timestamp(self.start).tz_localize(self.timezone).tz_convert("UTC").tz_localize(None)
        stamps = pd.date_range(first, periods=round(years * 365) * 24, freq="h", name="timestamp")
        return pd.Series(np.round(self.sample(stamps, seed), 3), index=stamps, name="kw")

    def limit_crossed_after(self, future: pd.DatetimeIndex, years: float) -> float:
        """A limit the truth first exceeds within a year after ``years`` into ``future``: halfway between
        the highest expected load until then and the highest one year later (half a year's growth of
        margin each way, as a planner's limit falls between two winters' peaks, not on one)."""
        expected = self.expected(future)
        until, year_later = int(years * HOURS_PER_YEAR), int((years + 1) * HOURS_PER_YEAR)
        return float(np.round((expected[:until].max() + expected[:year_later].max()) / 2, 2))


@dataclass(frozen=True)
class ProfileCase:
    name: str
    truth: ProfileTruth
    crossing_years: float
    """When, into the 5-year horizon, the truth first crosses the case's limit."""


PROFILE_SUITE = (
    ProfileCase("households, +3%/yr", ProfileTruth((1.0, 0.0, 0.0), 180.0, 3.0, noise_pct=2.0), 2.3),
    ProfileCase("households+shops, +5%/yr", ProfileTruth((0.7, 0.3, 0.0), 250.0, 5.0, noise_pct=3.0), 1.6),
    ProfileCase("commerce, +2%/yr", ProfileTruth((0.1, 0.9, 0.0), 400.0, 2.0, noise_pct=1.0), 3.1),
    ProfileCase("village with farms, +4%/yr", ProfileTruth((0.6, 0.1, 0.3), 120.0, 4.0, noise_pct=4.0), 2.6),
    ProfileCase("new estate, +8%/yr", ProfileTruth((0.9, 0.1, 0.0), 150.0, 8.0, noise_pct=2.5), 1.3),
    ProfileCase("mixed, Bavaria, +6%/yr", ProfileTruth((0.5, 0.4, 0.1), 300.0, 6.0, holidays="DE-BY"), 2.0),
    ProfileCase("farms, +2.5%/yr", ProfileTruth((0.2, 0.0, 0.8), 90.0, 2.5, noise_pct=3.5), 3.6),
    ProfileCase(
        "shops + EV chargers, +6 kW/yr",
        ProfileTruth((0.4, 0.6, 0.0), 220.0, 0.0, growth_kw_per_year=6.0, noise_pct=1.5),
        2.8,
    ),
)
