"""Trend plus seasonal structure, fitted by least squares: a scikit-learn estimator.

Why this and not Prophet: on hourly load the seasonal shape is stable and the growth is close to
linear or compounding, so a least-squares fit recovers the structure in milliseconds, gives exact
prediction intervals, and is deterministic. Two seasonal structures are chosen between by evidence:
smooth Fourier cycles (daily, weekly, yearly) for smooth loads, and a daily profile per day type
(working day, Saturday, Sunday or public holiday) changing through the year for the peaky loads of
households, shops and farms (:mod:`ml.profile`). On top of the plain fit it leaves out sensor faults
(flat-lines, spikes), models steps in the level (a new tenant) instead of bending the slope through
them, picks linear or compounding growth by an information criterion that counts autocorrelated
hours honestly, and keeps the residual spread per local hour, day type and season (:mod:`ml.spread`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ml.anomalies import flatline_mask, gross_outlier_mask, spike_mask
from ml.calendar import DAY_TYPES, check_holidays, clock_fields, day_types, local_clock, seasons
from ml.level_shift import daily_medians, detect_level_shifts
from ml.profile import ProfileDesign, profile_layout
from ml.spread import cells as spread_cells
from ml.spread import spread_table
from ml.trend import (
    KINDS,
    MAX_LOG_GROWTH,
    MIN_MIX_WEIGHT,
    choose_trend,
    effective_bic,
    lag1_autocorrelation,
    trend_jacobian,
    trend_value,
    trend_weights,
)

HOURS_PER_YEAR = 8766.0  # 365.25 days, the period of the yearly cycle
PERIODS_HOURS = {"daily": 24.0, "weekly": 168.0, "yearly": HOURS_PER_YEAR}
EPOCH = pd.Timestamp("1970-01-01")
MIN_HOURS_PER_DAY = 12  # a day with fewer readings says too little about its level
SHIFT_PASSES = 2  # detect, refit the season with the steps, detect again
STRUCTURES = ("fourier", "profile")
STRUCTURE_MARGIN = 10.0
"""BIC points the profile (hundreds of parameters) must win by: "very strong evidence" (Kass & Raftery)."""
_DESIGNS_LOCK = threading.Lock()
DESIGNS_PER_CLOCK = 4  # a fit's: both structures, then with its level steps (two passes)
RECENT_CLOCKS = 8  # a fit's history and horizon, the gate's windows (train, validation, test), the next one's
_recent_clocks: list[tuple[pd.DatetimeIndex, tuple[str | None, str | None], Clock]] = []


def _same_stamps(a: pd.DatetimeIndex, b: pd.DatetimeIndex) -> bool:
    """Exactly the same stamps (values, resolution and zone), decided cheaply when they differ."""
    if a is b:
        return True
    if len(a) != len(b) or a.dtype != b.dtype:
        return False
    left, right = a.asi8, b.asi8  # integer ticks of the index's own resolution (UTC for an aware index)
    if len(left) and (left[0] != right[0] or left[-1] != right[-1]):
        return False
    return bool(np.array_equal(left, right))


def as_timestamps(X: object) -> pd.DatetimeIndex:
    """Accept a DatetimeIndex, a Series of datetimes or a frame with a ``timestamp`` column."""
    if isinstance(X, pd.DataFrame):
        if "timestamp" not in X.columns:
            raise ValueError("expected a 'timestamp' column")
        X = X["timestamp"]
    return pd.DatetimeIndex(pd.to_datetime(X))


def epoch_hours(stamps: pd.DatetimeIndex) -> np.ndarray:
    """Hours since 1970-01-01 as floats: the one time axis of every fitted coefficient."""
    return np.asarray((stamps - EPOCH) / pd.Timedelta(hours=1), dtype=float)


@dataclass(frozen=True)
class Clock:
    """Each stamp on the two clocks the model uses: UTC for growth and steps, local for the season."""

    hours: np.ndarray
    """UTC hours since 1970: the trend and the level steps."""
    clock_hours: np.ndarray
    """Local wall-clock hours since 1970: the Fourier cycles."""
    day_type: np.ndarray
    hour: np.ndarray
    season: np.ndarray
    phase: np.ndarray
    """Local day of the year in radians: the profile's change through the year."""

    def take(self, mask: np.ndarray) -> Clock:
        """The hours selected by ``mask``; the same mask as last time gives the same clock object back
        (a fit takes its usable hours several times, and designs built on them are then shared)."""
        mask = np.asarray(mask)
        if mask.dtype == bool and len(mask) == len(self.hours) and mask.all():
            return self  # every hour usable (the common case): the same clock, its designs shared
        last = self.__dict__.get("_taken")
        if last is not None and last[0].dtype == mask.dtype and np.array_equal(last[0], mask):
            return last[1]
        taken = Clock(*(getattr(self, name)[mask] for name in self.__dataclass_fields__))
        for key, terms in self._fourier_cache().items():  # rows of terms already built: no new sin/cos
            taken._fourier_cache()[key] = terms[mask]
        object.__setattr__(self, "_taken", (mask.copy(), taken))
        return taken

    def fourier(self, orders: dict[str, int]) -> np.ndarray:
        """:func:`fourier_terms` of these hours, built once per clock and orders (do not modify it)."""
        key = tuple(orders.items())
        cache = self._fourier_cache()
        if key not in cache:
            cache[key] = fourier_terms(self.clock_hours, orders)
        return cache[key]

    def profile_layout(
        self, order: int
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], dict[str, Any]]:
        """:func:`ml.profile.profile_layout` of these hours, built once per clock and order (do not modify it),
        and where the profile designs over these hours keep what they share."""
        cache = self.__dict__.get("_profile_layouts")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_profile_layouts", cache)
        if order not in cache:
            cache[order] = (profile_layout(self.cell, self.phase, order), {})
        return cache[order]

    def design(self, key: tuple[object, ...]) -> Design | None:
        """A design over these hours kept by :meth:`keep_design` under ``key`` (its structure and options)."""
        return self.__dict__.get("_designs", {}).get(key)

    def keep_design(self, key: tuple[object, ...], design: Design) -> Design:
        """Keep ``design`` with these hours; the oldest goes beyond :data:`DESIGNS_PER_CLOCK` (a transformer
        with its own level steps has its own designs, which the next transformer does not need)."""
        with _DESIGNS_LOCK:  # models may be used from several threads (a serving process)
            designs = self.__dict__.setdefault("_designs", {})
            designs[key] = design
            while len(designs) > DESIGNS_PER_CLOCK:
                del designs[next(iter(designs))]
        return design

    def _fourier_cache(self) -> dict[tuple[tuple[str, int], ...], np.ndarray]:
        cache = self.__dict__.get("_fourier")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_fourier", cache)  # a cache, not a field: the clock stays frozen
        return cache

    @property
    def cell(self) -> np.ndarray:
        return self.day_type * 24 + self.hour

    @functools.cached_property
    def spread_cells(self) -> np.ndarray:
        """Each hour's place in a flattened spread table (:func:`ml.spread.cells`), found once per clock."""
        return spread_cells(self.day_type, self.hour, self.season)


class Design(Protocol):
    """The columns of one structure over one set of hours (see :class:`FourierDesign`, :class:`ProfileDesign`)."""

    n_params: int
    memo: dict[str, Any]

    def fit(self, kind: str, target: np.ndarray) -> np.ndarray: ...
    def mean(self, kind: str, params: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray: ...
    def variance(
        self, kind: str, params: np.ndarray, cov: np.ndarray, hours: np.ndarray | None = None
    ) -> np.ndarray: ...
    def gram(self, kind: str, params: np.ndarray) -> np.ndarray: ...
    def profile(self, params: np.ndarray) -> np.ndarray: ...
    def upper_envelope(self, kind: str, draws: np.ndarray) -> np.ndarray | None: ...
    def spread_bound(self, kind: str, params: np.ndarray, sd: np.ndarray) -> np.ndarray | None: ...
    def peak_bound(self, kind: str, centre: np.ndarray, deviation: np.ndarray) -> float | None: ...
    def spread_peak(self, kind: str, params: np.ndarray, sd: np.ndarray) -> float | None: ...


class FourierDesign:
    """Trend (level, rate) + Fourier terms + level steps: ``[level, rate, linear terms...]``."""

    def __init__(self, years: np.ndarray, linear: np.ndarray, n_seasonal: int):
        self.years, self.linear, self.n_seasonal = years, linear, n_seasonal
        self.n_params = 2 + linear.shape[1]
        self._columns: np.ndarray | None = None
        self._abs_columns: np.ndarray | None = None
        self._column_peaks: np.ndarray | None = None
        self._linear_fit: tuple[np.ndarray, np.ndarray] | None = None
        self._normal: Factor | None = None
        self._span: Span | None = None
        self._powers: GrowthPowers | None = None
        self.memo: dict[str, Any] = {}
        """What callers keep with this design: what its hours alone give, and the last target's residuals."""

    def columns(self) -> np.ndarray:
        """Every column of the linear-trend model, ``[1, years, linear...]``, built once (do not modify it)."""
        if self._columns is None:
            self._columns = np.column_stack([np.ones_like(self.years), self.years, self.linear])
        return self._columns

    def mean(self, kind: str, params: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
        """Expected load for one parameter vector (1-D) or many draws (2-D, one row per draw); with
        ``hours`` (positions), at those hours only (the draws' case: the hours a simulation needs)."""
        params = np.asarray(params, dtype=float)
        if params.ndim == 1:
            return trend_value(kind, params[0], params[1], self.years) + self.linear @ params[2:]
        if kind == "linear":  # one matrix product straight into the result: no draws x hours temporaries
            return params @ (self.columns() if hours is None else self.columns()[hours]).T
        linear, years = (self.linear, self.years) if hours is None else (self.linear[hours], self.years[hours])
        out = params[:, 2:] @ linear.T
        out += trend_value(kind, params[:, :1], params[:, 1:2], years[None, :])
        return out

    def upper_envelope(self, kind: str, draws: np.ndarray) -> np.ndarray | None:
        """Per hour, a load no draw's expected load exceeds: the draws' centre plus, by the triangle
        inequality, ``|x_h| . max_d |d - centre|`` for the columns; for compounding growth, whose trend is
        not linear in its parameters, the trend's largest value over the draws' range of level and rate
        (``level * exp(rate * years)`` is linear in the level and monotone in the rate) instead."""
        centre = draws.mean(axis=0)
        deviation = np.abs(draws - centre).max(axis=0)
        if kind == "linear":
            return self.columns() @ centre + self._absolute_columns() @ deviation
        growth = np.exp(np.multiply.outer([draws[:, 1].min(), draws[:, 1].max()], self.years))
        top = float(draws[:, 0].max())
        trend = top * (growth.max(axis=0) if top >= 0 else growth.min(axis=0))
        return trend + self.linear @ centre[2:] + self._absolute_columns()[:, 2:] @ deviation[2:]

    def spread_bound(self, kind: str, params: np.ndarray, sd: np.ndarray) -> np.ndarray | None:
        """Per hour, a bound on the standard deviation of the expected load for coefficients of standard
        deviations ``sd`` around ``params``: ``x' C x <= (|x| . sd)^2`` with ``x`` the hour's gradient."""
        if kind == "linear":
            return self._absolute_columns() @ sd
        trend = np.abs(trend_jacobian(kind, params[0], params[1], self.years)) @ sd[:2]
        return trend + self._absolute_columns()[:, 2:] @ sd[2:]

    def peak_bound(self, kind: str, centre: np.ndarray, deviation: np.ndarray) -> float:
        """A load no parameter vector within ``deviation`` of ``centre`` (element by element) exceeds at any
        hour, in a few operations: the trend's largest value over the ranges of level and rate at the first
        and last hour (it is monotone in time for any rate) plus each other column's largest magnitude
        times its coefficient's. Far coarser than :meth:`upper_envelope`, enough to tell a load far below."""
        low, high, ends = centre - deviation, centre + deviation, self._year_ends()
        if kind == "linear":
            trend = high[0] + float(np.maximum(low[1] * ends, high[1] * ends).max())
        else:
            growth = np.exp(np.multiply.outer([low[1], high[1]], ends))
            trend = high[0] * float(growth.max() if high[0] >= 0 else growth.min())
        return float(trend + (np.abs(centre[2:]) + deviation[2:]) @ self._peaks())

    def spread_peak(self, kind: str, params: np.ndarray, sd: np.ndarray) -> float:
        """A bound on :meth:`spread_bound` over every hour, in a few operations (see :meth:`peak_bound`)."""
        ends = self._year_ends()
        longest = float(np.abs(ends).max())
        if kind == "linear":
            trend = sd[0] + longest * sd[1]
        else:
            growth = float(np.exp(params[1] * ends).max())
            trend = growth * (sd[0] + abs(float(params[0])) * longest * sd[1])
        return float(trend + sd[2:] @ self._peaks())

    def _year_ends(self) -> np.ndarray:
        """The first and last hour's years (the trend is monotone in time between them)."""
        return np.array([self.years.min(), self.years.max()]) if len(self.years) else np.zeros(1)

    def _peaks(self) -> np.ndarray:
        """Each non-trend column's largest magnitude over the hours."""
        if self._column_peaks is None:
            self._column_peaks = np.abs(self.linear).max(axis=0) if len(self.years) else np.zeros(self.linear.shape[1])
        return self._column_peaks

    def _absolute_columns(self) -> np.ndarray:
        if self._abs_columns is None:
            self._abs_columns = np.abs(self.columns())
        return self._abs_columns

    def jacobian(self, kind: str, params: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
        """Derivatives of the mean by each parameter (hours x parameters), at ``hours`` (positions) or every
        hour; for linear growth the columns themselves (do not modify it)."""
        if kind == "linear":
            return self.columns() if hours is None else self.columns()[hours]
        linear, years = (self.linear, self.years) if hours is None else (self.linear[hours], self.years[hours])
        return np.column_stack([trend_jacobian(kind, params[0], params[1], years), linear])

    def variance(self, kind: str, params: np.ndarray, cov: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
        if kind == "linear" and cov.size and cov[0, 0] > 0:
            scale, leverage = self._leverage(cov)
            return scale * (leverage if hours is None else leverage[hours])
        jac = self.jacobian(kind, params, hours)
        return np.einsum("ij,ij->i", jac @ cov, jac)  # a matrix product first: eight times the three-way einsum

    def _leverage(self, cov: np.ndarray) -> tuple[float, np.ndarray]:
        """``cov`` as a scale times a shape, and each hour's ``x' shape x``. With linear growth a fit's
        covariance is its noise's scale times the inverse Gram matrix of its history's hours, so transformers
        fitted over the same hours share the shape: the hours' values are kept for the next one. The shape is
        taken to float32 precision (7 digits, far finer than the covariance's own sampling error), so that
        the shared one is exactly each transformer's own and no result depends on which came first."""
        scale = float(cov[0, 0])
        shape = (cov / scale).astype(np.float32).astype(float)
        kept = self.memo.get("leverage")
        if kept is None or kept[0].shape != shape.shape or not np.array_equal(kept[0], shape):
            columns = self.columns()
            kept = (shape, np.einsum("ij,ij->i", columns @ shape, columns))
            self.memo["leverage"] = kept
        return scale, kept[1]

    def gram(self, kind: str, params: np.ndarray) -> np.ndarray:
        """``J' J`` of the Jacobian at ``params``. For compounding growth by blocks: the other columns' own
        products depend on the hours alone and are kept, so only the two trend columns' are new."""
        if kind == "linear":
            columns = self.columns()
            return columns.T @ columns
        if "linear_gram" not in self.memo:
            self.memo["linear_gram"] = self.linear.T @ self.linear
        trend = trend_jacobian(kind, params[0], params[1], self.years)
        across = self.linear.T @ trend
        return np.block([[trend.T @ trend, across.T], [across, self.memo["linear_gram"]]])

    def profile(self, params: np.ndarray) -> np.ndarray:
        """The seasonal part alone (the level steps and the trend left out)."""
        return self.linear[:, : self.n_seasonal] @ params[2 : 2 + self.n_seasonal]

    def fit(self, kind: str, target: np.ndarray) -> np.ndarray:
        """Best parameters [level, rate, linear terms...]; compound growth is profiled over its rate."""
        linear, years = self.linear, self.years
        if kind == "linear":  # the same target again (a fit's steps share designs) gets the same answer
            last = self._linear_fit
            if last is not None and np.array_equal(last[0], target):
                return last[1].copy()
            params = self._linear_solve(target)
            self._linear_fit = (np.array(target, dtype=float), params.copy())
            return params
        # For a fixed rate the model is linear: the residual sum of squares is what is left of the target
        # after projecting out the linear columns and the growth column. Inner products of the parts
        # orthogonal to the linear columns come from inner products minus those of the projections'
        # coordinates, so each trial rate costs one matrix-vector product instead of a new regression.
        if self._span is None:
            self._span = Span.of(linear)
            self._powers = GrowthPowers.of(years, self._span, MAX_LOG_GROWTH)
        coordinates = self._span.coordinates
        along_y = coordinates(target)
        yy = float(target @ target - along_y @ along_y)

        def exact_rss(rate: float) -> float:
            growth = np.exp(rate * years)
            along_g = coordinates(growth)
            gy = float(growth @ target - along_g @ along_y)
            return yy - gy**2 / float(growth @ growth - along_g @ along_g)

        rss = exact_rss if self._powers is None else self._powers.rss(target, along_y, yy)
        best = optimize.minimize_scalar(
            rss, bounds=(-MAX_LOG_GROWTH, MAX_LOG_GROWTH), method="bounded", options={"xatol": 1e-7}
        )
        growth = np.exp(best.x * years)
        coef = self._span.with_column(growth, target, along_y)
        if coef is None:  # the growth column (nearly) in the others' span: the minimum-norm solution
            coef = _solve(np.column_stack([growth, linear]), target)
        return np.concatenate([[coef[0], best.x], coef[1:]])

    def _linear_solve(self, target: np.ndarray) -> np.ndarray:
        """:func:`_solve` on the linear-trend columns, their Cholesky factor made once for every target."""
        if self._normal is None:
            self._normal = _normal_factor(self.columns())
        return _solve(self.columns(), target, self._normal)


def fourier_terms(clock_hours: np.ndarray, orders: dict[str, int]) -> np.ndarray:
    """Sine/cosine pairs of each cycle on the local clock.

    On whole hours (the usual case) a cycle of P hours has only P distinct rows: they are computed once
    for 0..P-1 and looked up, which gives exactly the values computed hour by hour, in a third of the time."""
    clock_hours = np.asarray(clock_hours, dtype=float)
    whole = (
        len(clock_hours) > 0
        and bool(np.all(np.abs(clock_hours) < 2.0**52))
        and bool(np.all(np.floor(clock_hours) == clock_hours))
    )
    hours = clock_hours.astype(np.int64) if whole else None
    blocks = []
    for cycle, order in orders.items():
        if order == 0:
            continue
        period = PERIODS_HOURS[cycle]
        if hours is not None and period == int(period) and len(clock_hours) > period:
            table = _cycle_terms(np.arange(period), period, order)
            blocks.append(np.take(table, hours % int(period), axis=0))
        else:
            blocks.append(_cycle_terms(clock_hours, period, order))
    return np.concatenate(blocks, axis=1) if blocks else np.empty((len(clock_hours), 0))


def _cycle_terms(clock_hours: np.ndarray, period: float, order: int) -> np.ndarray:
    terms = np.empty((len(clock_hours), 2 * order))
    phase = 2 * np.pi * (clock_hours % period) / period
    sin1, cos1 = np.sin(phase), np.cos(phase)
    sin_k, cos_k = sin1, cos1
    for k in range(order):  # angle addition: the k-th harmonic from the (k-1)-th, no new sin/cos
        terms[:, 2 * k], terms[:, 2 * k + 1] = sin_k, cos_k
        sin_k, cos_k = sin_k * cos1 + cos_k * sin1, cos_k * cos1 - sin_k * sin1
    return terms


class SeasonalTrendForecaster(RegressorMixin, BaseEstimator):
    """Trend (linear or compounding) + level steps + seasonal structure, with honest uncertainty.

    ``structure`` is "fourier" (smooth daily, weekly and yearly cycles: ``daily_order``,
    ``weekly_order``, ``yearly_order`` sine/cosine pairs, 0 switches one off), "profile" (a value per
    local hour and day type, changing through the year with ``profile_yearly_order`` harmonics), or
    "auto": the one an effective-sample BIC prefers, the profile only on very strong evidence.
    ``holidays`` is a country or region code of the ``holidays`` package ("DE", "DE-BY") or None:
    public holidays count as Sundays. ``timezone`` (an IANA name such as "Europe/Berlin") is the
    clock the load follows; stamps given without an offset are then taken as UTC. ``coverage`` is
    the default interval; ``trend`` is "auto", "linear" or "compound" (for the profile: growth
    added in kW, or scaling the whole profile); ``detect_level_shifts`` and ``robust`` (leave
    flat-lines and spikes out) default on. Intervals carry each hour's own noise (by hour, day
    type and season) and the coefficients' uncertainty, inflated for autocorrelated residuals; with
    ``trend="auto"`` the first-overload simulation also carries the doubt between the growth shapes.
    """

    def __init__(
        self,
        daily_order: int = 4,
        weekly_order: int = 2,
        yearly_order: int = 4,
        coverage: float = 0.8,
        trend: str = "auto",
        detect_level_shifts: bool = True,
        robust: bool = True,
        structure: str = "auto",
        holidays: str | None = None,
        timezone: str | None = None,
        profile_yearly_order: int = 3,
    ):
        self.daily_order = daily_order
        self.weekly_order = weekly_order
        self.yearly_order = yearly_order
        self.coverage = coverage
        self.trend = trend
        self.detect_level_shifts = detect_level_shifts
        self.robust = robust
        self.structure = structure
        self.holidays = holidays
        self.timezone = timezone
        self.profile_yearly_order = profile_yearly_order

    # -- features ---------------------------------------------------------------------------
    def _clock(self, X: object) -> Clock:
        # The same horizon is asked for by the sampler and the hourly spread, and a fleet's transformers
        # mostly share their history's and horizon's hours: stamps seen recently (an index, which is
        # immutable, holding the very same values), with the same calendar options, get the clock built then.
        global _recent_clocks
        key = (self.timezone, self.holidays)
        recent = _recent_clocks
        if isinstance(X, pd.DatetimeIndex):
            for stamps_seen, key_seen, clock_seen in recent:
                if key_seen == key and _same_stamps(X, stamps_seen):
                    return clock_seen
        stamps = as_timestamps(X)
        utc = stamps.tz_convert("UTC").tz_localize(None) if stamps.tz is not None else stamps
        local = local_clock(stamps, self.timezone)
        fields = clock_fields(local)
        day_of_year = fields["day_of_year"] - 1 + fields["hour"] / 24.0
        clock = Clock(
            hours=epoch_hours(utc),
            clock_hours=epoch_hours(local),
            day_type=day_types(local, self.holidays, fields["day_of_week"]),
            hour=fields["hour"],
            season=seasons(local, fields["month"]),
            phase=2 * np.pi * day_of_year / 365.25,
        )
        if isinstance(X, pd.DatetimeIndex):
            _recent_clocks = [(X, key, clock), *recent[: RECENT_CLOCKS - 1]]  # one assignment: thread-safe
        return clock

    def _design(self, clock: Clock, structure: str | None = None, shift_hours: np.ndarray | None = None) -> Design:
        """The design over ``clock``'s hours. It depends on the hours and the options, not on the loads, so it
        is kept with the clock: the steps of a fit, its forecasts, and every other transformer fitted over
        the same hours with the same options share it, and with it what it caches (Gram matrices, factors)."""
        structure = structure or self._structure()
        shifts = np.asarray(self.level_shift_hours_ if shift_hours is None else shift_hours, dtype=float)
        options = self.profile_yearly_order if structure == "profile" else tuple(self._orders().values())
        key = (structure, options, float(self.origin_hours_), shifts.tobytes())
        design = clock.design(key)
        if design is None:
            design = clock.keep_design(key, self._build_design(clock, structure, shifts))
        return design

    def _build_design(self, clock: Clock, structure: str, shifts: np.ndarray) -> Design:
        steps = (clock.hours[:, None] >= shifts[None, :]).astype(float)
        years = (clock.hours - self.origin_hours_) / HOURS_PER_YEAR
        if structure == "profile":
            layout, shared = clock.profile_layout(self.profile_yearly_order)
            return ProfileDesign(years, clock.cell, clock.phase, steps, self.profile_yearly_order, layout, shared)
        seasonal = clock.fourier(self._orders())
        # [1, years, seasonal, steps] in one array: the linear-trend fit and the draws use it whole, the
        # other forms its columns from the third on (a view, not a copy).
        columns = np.empty((len(years), 2 + seasonal.shape[1] + steps.shape[1]))
        columns[:, 0], columns[:, 1] = 1.0, years
        columns[:, 2 : 2 + seasonal.shape[1]] = seasonal
        columns[:, 2 + seasonal.shape[1] :] = steps
        design = FourierDesign(years, columns[:, 2:], seasonal.shape[1])
        design._columns = columns
        return design

    def _structure(self) -> str:
        return str(getattr(self, "structure_", "fourier"))  # models saved before profiles were Fourier

    def _orders(self) -> dict[str, int]:
        return {"daily": self.daily_order, "weekly": self.weekly_order, "yearly": self.yearly_order}

    def feature_names(self) -> list[str]:
        kind = getattr(self, "trend_", "linear")
        if self._structure() == "profile":
            harmonics = ["mean"] + [f"{f}{k}" for k in range(1, self.profile_yearly_order + 1) for f in ("cos", "sin")]
            names = ["growth_kw_per_year" if kind == "linear" else "log_growth_per_year"]
            names += [f"{day} {hour:02d}h {h}" for day in DAY_TYPES for hour in range(24) for h in harmonics]
        else:
            names = ["intercept", "trend_kw_per_year"] if kind == "linear" else ["level_kw", "log_growth_per_year"]
            for cycle, order in self._orders().items():
                for k in range(1, order + 1):
                    names += [f"{cycle}_sin{k}", f"{cycle}_cos{k}"]
        for at in getattr(self, "level_shift_hours_", []):
            names.append(f"level_shift_{EPOCH + pd.Timedelta(hours=float(at)):%Y-%m-%d}")
        return names

    # -- estimator contract -----------------------------------------------------------------
    def fit(self, X: object, y: object) -> SeasonalTrendForecaster:
        """Fit on timestamps ``X`` and loads ``y`` in kW; NaN loads (sensor gaps) are skipped."""
        self.check_params()
        clock = self._clock(X)
        target = np.asarray(y, dtype=float)
        if len(clock.hours) != len(target):
            raise ValueError(f"X has {len(clock.hours)} timestamps but y has {len(target)} values")
        flat = flatline_mask(target) if self.robust else np.zeros(len(target), dtype=bool)
        gross = gross_outlier_mask(target) & ~flat if self.robust else np.zeros(len(target), dtype=bool)
        usable = ~np.isnan(target) & ~flat & ~gross
        if not usable.any():
            raise ValueError("no usable readings to fit")
        self.origin_hours_ = float(clock.hours[usable].min())
        if self.structure != "profile":
            clock.fourier(self._orders())  # built once here; every subset of the clock below takes its rows
        self.level_shift_hours_ = np.empty(0)
        self.structure_ = self._select_structure(clock.take(usable), target[usable])
        if self.detect_level_shifts:
            self.level_shift_hours_ = self._find_level_shifts(clock.take(usable), target[usable])
        spikes = self._find_spikes(clock, target, usable) if self.robust else np.zeros(len(target), dtype=bool)
        spikes |= gross
        usable &= ~spikes
        self.flatline_hours_ = int(flat.sum())
        self.spike_hours_ = int(spikes.sum())
        self._select_trend(clock.take(usable), target[usable])
        self.n_observations_ = int(usable.sum())
        last = EPOCH + pd.Timedelta(hours=float(clock.hours[usable].max()))
        self.fitted_until_ = last.isoformat()  # plain types: the artifact stays JSON + arrays
        return self

    def check_params(self) -> None:
        """Refuse an unknown trend, structure, holiday calendar or time zone, naming the value."""
        if self.trend not in ("auto", *KINDS):
            raise ValueError(f"trend={self.trend!r}; expected 'auto', 'linear' or 'compound'")
        if self.structure not in ("auto", *STRUCTURES):
            raise ValueError(f"structure={self.structure!r}; expected 'auto', 'fourier' or 'profile'")
        check_holidays(self.holidays)
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"timezone={self.timezone!r} is not a known IANA time zone (e.g. 'Europe/Berlin')"
                ) from None

    def _select_structure(self, clock: Clock, target: np.ndarray) -> str:
        """Fourier cycles unless the day-type profile explains the history better by a wide BIC margin."""
        if self.structure != "auto":
            self.structure_selection_: dict[str, object] = {"rule": "fixed", "chosen": str(self.structure)}
            return str(self.structure)
        designs = {s: self._design(clock, s) for s in STRUCTURES}
        residuals = {s: _linear_residuals(d, target) for s, d in designs.items()}
        # The richer model's residuals say how much the hours are worth: a misfit's autocorrelation would not.
        rho = float(np.clip(lag1_autocorrelation(residuals["profile"]), 0.0, 0.99))
        bic = {s: effective_bic(float(r @ r), len(target), designs[s].n_params, rho) for s, r in residuals.items()}
        chosen = "profile" if bic["profile"] < bic["fourier"] - STRUCTURE_MARGIN else "fourier"
        self.structure_selection_ = {
            "rule": f"effective-sample BIC; profile must beat fourier by {STRUCTURE_MARGIN:g}",
            "chosen": chosen,
            "bic_fourier": round(bic["fourier"], 3),
            "bic_profile": round(bic["profile"], 3),
        }
        return chosen

    def _find_level_shifts(self, clock: Clock, target: np.ndarray) -> np.ndarray:
        """Steps found on deseasonalised daily medians; the season is refitted with them and searched again."""
        shifts = np.empty(0)
        day = np.floor(clock.hours / 24.0)
        for _ in range(SHIFT_PASSES):
            design = self._design(clock, shift_hours=shifts)
            seasonal = design.profile(design.fit("linear", target))
            days, medians, sizes = daily_medians(day, target - seasonal)
            days, medians = days[sizes >= MIN_HOURS_PER_DAY], medians[sizes >= MIN_HOURS_PER_DAY]
            found = detect_level_shifts(days, medians)
            new = np.array([days[s.position] * 24.0 for s in found])
            if np.array_equal(new, shifts):
                break
            shifts = new
        return shifts

    def _find_spikes(self, clock: Clock, target: np.ndarray, usable: np.ndarray) -> np.ndarray:
        design = self._design(clock.take(usable))  # the usable hours' design: only their residuals count
        residuals = np.full(len(target), np.nan)
        residuals[usable] = _linear_residuals(design, target[usable])
        return spike_mask(residuals) & usable

    def _select_trend(self, clock: Clock, target: np.ndarray) -> None:
        """Fit both growth shapes, keep the one the rule picks, and keep the other as the runner-up, with
        each shape's BIC weight: the first-overload simulation draws both by weight (:mod:`ml.uncertainty`)."""
        design = self._design(clock)
        fits = {kind: design.fit(kind, target) for kind in KINDS}
        residuals = {kind: target - design.mean(kind, p) for kind, p in fits.items() if kind != "linear"}
        residuals["linear"] = _linear_residuals(design, target)
        rss = {kind: float(r @ r) for kind, r in residuals.items()}
        rho = float(np.clip(lag1_autocorrelation(residuals["linear"]), 0.0, 0.99))
        n_params = design.n_params
        bic = {kind: effective_bic(rss[kind], len(target), n_params, rho) for kind in KINDS}
        chosen = choose_trend(bic) if self.trend == "auto" else self.trend
        runner_up = next(kind for kind in KINDS if kind != chosen)
        self.trend_ = chosen
        self.coef_ = fits[chosen]
        self.runner_up_trend_ = runner_up
        self.runner_up_coef_ = fits[runner_up]
        # A form fixed by the user gets every draw; otherwise each form its evidence's share.
        self.trend_weights_ = trend_weights(bic, chosen) if self.trend == "auto" else {chosen: 1.0, runner_up: 0.0}
        self.trend_selection_ = {
            "rule": "effective-sample BIC; compound must beat linear by 2" if self.trend == "auto" else "fixed",
            "chosen": chosen,
            "runner_up": runner_up,
            "bic_linear": round(bic["linear"], 3),
            "bic_compound": round(bic["compound"], 3),
        }
        residuals_of, residuals = residuals, residuals[chosen]
        dof = max(len(target) - n_params, 1)
        self.sigma_ = float(np.sqrt(residuals @ residuals / dof))
        self.spread_kw_ = spread_table(residuals, clock.day_type, clock.hour, clock.season) * np.sqrt(len(target) / dof)
        self.profile_mean_kw_ = float(np.mean(design.profile(self.coef_)))
        autocorrelation = {"linear": rho}  # the linear residuals' is known already
        if chosen not in autocorrelation:
            autocorrelation[chosen] = float(np.clip(lag1_autocorrelation(residuals), 0.0, 0.99))
        self.autocorrelation_ = autocorrelation[chosen]
        self.coef_cov_ = _inflated_cov(design, chosen, self.coef_, self.sigma_, self.autocorrelation_)
        self.runner_up_coef_cov_ = self._runner_up_cov(
            design, runner_up, residuals_of[runner_up], dof, autocorrelation.get(runner_up)
        )

    def _runner_up_cov(
        self, design: Design, kind: str, residuals: np.ndarray, dof: int, rho: float | None = None
    ) -> np.ndarray:
        """The runner-up's coefficient covariance by the same rule, from its own residuals; empty (0 x 0)
        when its weight is negligible, so the common decisive case costs and stores nothing more."""
        if self.trend_weights_[kind] < MIN_MIX_WEIGHT:
            return np.empty((0, 0))
        sigma = float(np.sqrt(residuals @ residuals / dof))
        if rho is None:
            rho = float(np.clip(lag1_autocorrelation(residuals), 0.0, 0.99))
        return _inflated_cov(design, kind, self.runner_up_coef_, sigma, rho)

    def runner_up_share(self) -> float:
        """Share of simulation draws the runner-up form gets: 0 when negligible, when the form was fixed,
        or for a model saved before forms were mixed (no weights or no runner-up covariance)."""
        weights = getattr(self, "trend_weights_", None)
        cov = getattr(self, "runner_up_coef_cov_", None)
        if not weights or cov is None or np.size(cov) == 0:
            return 0.0
        share = float(weights.get(self.runner_up_trend_, 0.0))
        return share if share >= MIN_MIX_WEIGHT else 0.0

    def check_trend_weights(self) -> None:
        """Refuse a stored mix that cannot be simulated: weights of both forms in [0, 1] summing to 1,
        and a square runner-up covariance of the runner-up's size whenever its weight counts."""
        weights = getattr(self, "trend_weights_", None)
        cov = getattr(self, "runner_up_coef_cov_", None)
        if weights is None:
            return  # saved before forms were mixed: the chosen form alone, as then
        if not isinstance(weights, dict) or set(weights) != set(KINDS):
            raise ValueError(f"trend_weights_ must weigh exactly {KINDS}, got {weights!r}")
        values = list(weights.values())
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in values):
            raise ValueError(f"trend_weights_ must lie in [0, 1], got {weights!r}")
        if abs(sum(values) - 1) > 1e-6:
            raise ValueError(f"trend_weights_ must sum to 1, got {weights!r}")
        size = len(np.asarray(self.runner_up_coef_))
        if cov is not None and np.size(cov) and np.shape(cov) != (size, size):
            raise ValueError(f"runner_up_coef_cov_ has shape {np.shape(cov)}; expected ({size}, {size})")
        if weights[self.runner_up_trend_] >= MIN_MIX_WEIGHT and (cov is None or not np.size(cov)):
            raise ValueError("runner_up_coef_cov_ is missing although the runner-up form has weight")

    def predict(self, X: object) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return self._design(self._clock(X)).mean(self.trend_, self.coef_)

    def predict_runner_up(self, X: object) -> np.ndarray:
        """The point forecast of the growth shape the rule did not choose: how much the choice matters."""
        check_is_fitted(self, "coef_")
        return self._design(self._clock(X)).mean(self.runner_up_trend_, self.runner_up_coef_)

    def draw_sampler(self, X: object) -> DrawSampler:
        """Coefficient draws to expected loads over ``X``, the design built once (see :class:`DrawSampler`)."""
        check_is_fitted(self, "coef_")
        clock = self._clock(X)
        return DrawSampler(self._design(clock), self.trend_, len(clock.hours))

    def hourly_sigma(self, X: object) -> np.ndarray:
        """Each hour's noise in kW: the spread of its local hour, day type and season.

        When growth scales the whole profile, the noise scales with it (metering noise is a share of load).
        """
        check_is_fitted(self, "coef_")
        clock = self._clock(X)
        table = getattr(self, "spread_kw_", None)
        if table is None:  # a model saved before the spread was kept per hour
            return np.full(len(clock.hours), float(self.sigma_))
        sigma = np.asarray(table, dtype=float).ravel()[clock.spread_cells]
        if self._structure() == "profile" and self.trend_ == "compound":
            years = (clock.hours - self.origin_hours_) / HOURS_PER_YEAR
            sigma = sigma * np.exp(float(self.coef_[0]) * (years - self._end_years()))
        return sigma

    def predict_interval(self, X: object, coverage: float | None = None) -> pd.DataFrame:
        """Point forecast with a central interval of ``coverage`` (default: the estimator's own)."""
        check_is_fitted(self, "coef_")
        stamps = as_timestamps(X)
        design = self._design(self._clock(stamps))
        mean = design.mean(self.trend_, self.coef_)
        parameter_var = design.variance(self.trend_, self.coef_, np.asarray(self.coef_cov_))
        spread = np.sqrt(self.hourly_sigma(stamps) ** 2 + parameter_var)
        z = stats.norm.ppf(0.5 + (coverage or self.coverage) / 2)
        return pd.DataFrame(
            {"timestamp": stamps, "predicted_kw": mean, "lower_kw": mean - z * spread, "upper_kw": mean + z * spread}
        )

    def _end_years(self) -> float:
        end = (pd.Timestamp(self.fitted_until_).tz_localize(None) - EPOCH) / pd.Timedelta(hours=1)
        return float((end - self.origin_hours_) / HOURS_PER_YEAR)

    @property
    def growth_kw_per_year_(self) -> float:
        """kW added per year; for compounding growth, the pace at the end of the history."""
        check_is_fitted(self, "coef_")
        end = self._end_years()
        if self._structure() == "profile":
            rate = float(self.coef_[0])
            return rate if self.trend_ == "linear" else rate * self.profile_mean_kw_ * float(np.exp(rate * end))
        if self.trend_ == "linear":
            return float(self.coef_[1])
        return float(self.coef_[0] * self.coef_[1] * np.exp(self.coef_[1] * end))

    @property
    def growth_pct_per_year_(self) -> float:
        """Growth as a percentage of the trend level at the end of the history."""
        check_is_fitted(self, "coef_")
        profile = self._structure() == "profile"
        rate = float(self.coef_[0] if profile else self.coef_[1])
        if self.trend_ == "compound":
            return float(np.expm1(rate) * 100)
        end = self._end_years()
        level = self.profile_mean_kw_ if profile else float(self.coef_[0])
        level += rate * end
        return float(rate / level * 100)

    @property
    def level_shifts_(self) -> list[dict[str, object]]:
        """Each detected step: when the new level starts and its fitted size in kW."""
        check_is_fitted(self, "coef_")
        sizes = self.coef_[len(self.coef_) - len(self.level_shift_hours_) :]
        return [
            {"at": (EPOCH + pd.Timedelta(hours=float(at))).isoformat(), "size_kw": round(float(size), 3)}
            for at, size in zip(self.level_shift_hours_, sizes, strict=True)
        ]


class DrawSampler:
    """From coefficient draws (draws x parameters) to expected loads (draws x hours) over one horizon.

    The horizon's design is built once, so the point forecast and a simulation pay for it once;
    ``kind`` names the growth form (default the chosen one), so the runner-up's draws share the
    design; ``hours`` (positions) restricts the loads to the hours a simulation still needs.
    """

    ROUNDING = 1e-5
    """Relative slack of :meth:`reachable`: covers the rounding of paths kept in float32."""

    def __init__(self, design: Design, trend: str, n_hours: int):
        self.design, self.trend, self.n_hours = design, trend, n_hours
        self._point: tuple[tuple[str, bytes], np.ndarray] | None = None

    def point(self, coef: np.ndarray, kind: str | None = None) -> np.ndarray:
        """The expected load at ``coef`` over every hour, as :meth:`SeasonalTrendForecaster.predict` gives
        it; kept, since the point forecast and the simulation's moments ask for the same (do not modify it)."""
        kind, coef = kind or self.trend, np.asarray(coef, dtype=float)
        key = (kind, coef.tobytes())
        if self._point is None or self._point[0] != key:
            self._point = (key, self.design.mean(kind, coef))
        return self._point[1]

    def __call__(
        self, coefficients: np.ndarray, kind: str | None = None, hours: np.ndarray | None = None
    ) -> np.ndarray:
        return self.design.mean(kind or self.trend, np.atleast_2d(coefficients), hours)

    def reachable(self, coefficients: np.ndarray, level: float, kind: str | None = None) -> np.ndarray:
        """The hours (positions) at which some of these draws' expected load may exceed ``level``:
        every hour, unless the design bounds all draws at once (Fourier cycles); none when even the
        design's coarse peak over every hour stays below (a load far from its limit, the common case)."""
        kind, coefficients = kind or self.trend, np.atleast_2d(coefficients)
        centre = coefficients.mean(axis=0)
        peak = self.design.peak_bound(kind, centre, np.abs(coefficients - centre).max(axis=0))
        if peak is not None and not self._may_exceed(np.array(peak), level):
            return np.empty(0, dtype=np.int64)
        upper = self.design.upper_envelope(kind, coefficients)
        if upper is None:
            return np.arange(self.n_hours)
        return np.flatnonzero(self._may_exceed(upper, level))

    def _may_exceed(self, upper: np.ndarray, level: float) -> np.ndarray:
        """Where a bound on the expected load, with the slack for float32 paths, reaches ``level`` (the
        slack grows with the bound, so a lower bound never reaches where a higher one does not)."""
        return upper + self.ROUNDING * (np.abs(upper) + abs(level)) + 1e-9 > level

    def peaks(self, coef: np.ndarray, cov: np.ndarray, kind: str | None = None) -> tuple[float, float] | None:
        """Bounds, over every hour, on the expected load at ``coef`` and on its standard deviation through
        ``cov`` (None: no cheap ones), in a few operations: enough to tell a load far below its limit."""
        kind, sd = kind or self.trend, np.sqrt(np.clip(np.diag(np.asarray(cov)), 0.0, None))
        load = self.design.peak_bound(kind, np.asarray(coef, dtype=float), np.zeros(len(coef)))
        spread = self.design.spread_peak(kind, np.asarray(coef, dtype=float), sd)
        return None if load is None or spread is None else (load, spread)

    def moments(
        self, coef: np.ndarray, cov: np.ndarray, kind: str | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, Callable[[np.ndarray | None], np.ndarray]]:
        """Each hour's expected load at ``coef``; a bound on each hour's standard deviation through the
        coefficients' ``cov`` (None: no cheap bound), and the exact variance at given hours."""
        kind, cov = kind or self.trend, np.asarray(cov)
        bound = self.design.spread_bound(kind, coef, np.sqrt(np.clip(np.diag(cov), 0.0, None)))
        return (
            self.point(coef, kind),
            bound,
            lambda hours: self.design.variance(kind, coef, cov, hours),
        )


def _solve(design: np.ndarray, target: np.ndarray, factor: Factor | None = None) -> np.ndarray:
    """Least squares by the normal equations: the columns are O(1) and few, so this is well-conditioned
    and an order of magnitude faster than an SVD on tens of thousands of rows. ``factor`` is
    :func:`_normal_factor` of ``design`` when it is kept for many targets."""
    cholesky = (factor or _normal_factor(design)).cholesky
    if cholesky is None:  # a switched-off or empty column: fall back to the minimum-norm solution
        return np.linalg.lstsq(design, target, rcond=None)[0]
    return linalg.cho_solve(cholesky, design.T @ target)


@dataclass(frozen=True)
class Factor:
    """The Cholesky factor of a design's normal equations; None when they are singular."""

    cholesky: tuple[np.ndarray, bool] | None


def _normal_factor(design: np.ndarray) -> Factor:
    try:
        return Factor(linalg.cho_factor(design.T @ design))
    except linalg.LinAlgError:
        return Factor(None)


@dataclass(frozen=True)
class Span:
    """The span of some columns ``A``, for regressions that add one more column to them.

    :meth:`coordinates` gives a vector's projection onto the span in an orthonormal basis of it (so
    inner products of projections are inner products of coordinates): ``R^-T A^T v`` with ``R`` the
    Cholesky factor of ``A^T A``, never forming the basis. The columns (cycles and 0/1 steps) are
    well-conditioned; a singular Gram matrix falls back to a Householder basis (``upper`` None)."""

    columns: np.ndarray
    upper: np.ndarray | None
    basis: np.ndarray | None = None

    @classmethod
    def of(cls, columns: np.ndarray) -> Span:
        if not columns.shape[1]:
            return cls(columns, np.empty((0, 0)))
        try:
            return cls(columns, linalg.cholesky(columns.T @ columns))
        except linalg.LinAlgError:
            return cls(columns, None, np.linalg.qr(columns)[0])

    def coordinates(self, vector: np.ndarray) -> np.ndarray:
        if self.upper is None:
            return self.basis.T @ vector  # type: ignore[union-attr]
        if not len(self.upper):
            return np.empty(0)
        return linalg.solve_triangular(self.upper, self.columns.T @ vector, trans="T", check_finite=False)

    def with_column(self, column: np.ndarray, target: np.ndarray, along_target: np.ndarray) -> np.ndarray | None:
        """Least-squares coefficients of ``target`` on ``[column, A]`` from the target's coordinates
        (Frisch-Waugh: the column's coefficient from the parts orthogonal to ``A``, then ``A``'s from
        what is left, ``R^-1`` of its coordinates); None when the column lies (nearly) in the span or the
        span is singular, where the caller takes a minimum-norm solution."""
        if self.upper is None:
            return None
        along = self.coordinates(column)
        orthogonal = float(column @ column - along @ along)
        if not orthogonal > 1e-10 * float(column @ column):
            return None
        first = float(column @ target - along @ along_target) / orthogonal
        rest = along_target - first * along
        if len(rest):
            rest = linalg.solve_triangular(self.upper, rest, check_finite=False)
        return np.concatenate([[first], rest])


@dataclass(frozen=True)
class GrowthPowers:
    """The growth column ``exp(rate * years)`` of every trial rate as one short power series in the years.

    Around the middle ``c`` of the years, ``exp(rate * y) = exp(rate * c) * sum_k (rate * h)^k / k! * u^k``
    with ``u = (y - c) / h`` in [-1, 1]. The residual sum of squares of the compound fit does not change
    when the growth column is scaled, so each trial rate only needs the terms' coefficients, and the
    inner products of the powers (with each other, the target and the other columns' span) are made once:
    a trial rate costs a few dozen multiplications instead of passes over every hour. The series is cut
    where the rest is below double precision; for histories so long that it would need many terms (over
    ~11 years at the widest rate), :meth:`of` gives None and every trial rate takes the growth column itself.
    """

    half: float
    powers: np.ndarray
    """hours x terms: ``u^k``."""
    gram: np.ndarray
    along: np.ndarray
    """The powers' coordinates in the span of the other columns (see :class:`Span`)."""

    REACH = 4.0
    """Largest ``max_rate * h`` served: the terms then stay within a few thousand times their sum."""

    @classmethod
    def of(cls, years: np.ndarray, span: Span, max_rate: float) -> GrowthPowers | None:
        if span.upper is None or not len(span.upper) or not len(years):
            return None
        low, high = float(years.min()), float(years.max())
        half = max((high - low) / 2, 1e-9)
        reach = max_rate * half
        if reach > cls.REACH:
            return None
        terms, rest = 1, reach * np.exp(reach)
        while rest > 1e-17:  # the Lagrange remainder of the series cut after ``terms`` terms
            terms += 1
            rest *= reach / terms
        powers = np.vander((years - (low + high) / 2) / half, terms, increasing=True)
        return cls(half, powers, powers.T @ powers, span.coordinates(powers))

    def rss(self, target: np.ndarray, along_target: np.ndarray, residual_norm: float) -> Callable[[float], float]:
        """The compound fit's residual sum of squares as a function of the rate, for this target
        (``along_target``: its coordinates in the span; ``residual_norm``: its squared norm outside it)."""
        powers_target = self.powers.T @ target
        divisors = np.arange(1, self.powers.shape[1])

        def rss(rate: float) -> float:
            series = np.cumprod(np.concatenate([[1.0], rate * self.half / divisors]))
            along = self.along @ series
            gy = float(series @ powers_target - along @ along_target)
            return residual_norm - gy**2 / float(series @ self.gram @ series - along @ along)

        return rss


def _inverse(gram: np.ndarray) -> np.ndarray:
    """Inverse of a Gram matrix by Cholesky (ten times faster than an eigendecomposition on the
    profile's ~500 columns); the pseudo-inverse only when a column is empty or duplicated."""
    try:
        return linalg.cho_solve(linalg.cho_factor(gram), np.eye(len(gram)))
    except linalg.LinAlgError:
        return linalg.pinvh(gram)


def _inflated_cov(design: Design, kind: str, params: np.ndarray, sigma: float, rho: float) -> np.ndarray:
    """Coefficient covariance at ``params``. Autocorrelated residuals carry less information than their
    count suggests: inflate by the AR(1) variance factor so the trend's uncertainty is honest."""
    inflation = (1 + rho) / (1 - rho)
    if kind != "linear":
        return inflation * sigma**2 * _inverse(design.gram(kind, params))
    if "inverse_gram" not in design.memo:  # with linear growth the Gram matrix depends on the hours alone
        design.memo["inverse_gram"] = _inverse(design.gram(kind, params))
    return inflation * sigma**2 * design.memo["inverse_gram"]


def _linear_residuals(design: Design, target: np.ndarray) -> np.ndarray:
    """``target`` minus its linear-growth fit on ``design`` (do not modify it). A fit asks for the same
    residuals in several steps (structure, spikes, growth form): the last target's are kept with the design."""
    kept = design.memo.get("linear_residuals")
    if kept is not None and np.array_equal(kept[0], target):
        return kept[1]
    residuals = target - design.mean("linear", design.fit("linear", target))
    design.memo["linear_residuals"] = (np.array(target, dtype=float), residuals)
    return residuals
