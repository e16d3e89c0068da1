"""Steps in the load: a tenant or a feeder moved onto the transformer changes its level overnight.

A straight trend fitted through a step tilts to bridge it and overstates (or understates) the
growth. The step is found by binary segmentation on daily means with trend and season removed:
in each segment the one split that best explains the data by a jump (a CUSUM of the detrended
residuals, all splits at once) is kept only if its t-statistic, with the standard error inflated
for autocorrelated days, clears a bar set high enough for having searched every split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.trend import lag1_autocorrelation

MIN_SEGMENT_DAYS = 30
T_THRESHOLD = 4.5
"""The sup-Wald 1% critical value for one break with 5% trimming is about 3.6 in t units;
4.5 keeps the false-alarm rate well below 1 in 1,000 segments, allowing for residual misfit."""
MIN_SHIFT_KW = 1.0
"""Smaller steps are statistically real on years of data but do not change a planning decision."""
MAX_SHIFTS = 3


@dataclass(frozen=True)
class LevelShift:
    """A detected step: where the new level starts (position in the daily arrays), its size, its evidence."""

    position: int
    size_kw: float
    t_stat: float


def detect_level_shifts(
    days: np.ndarray,
    level: np.ndarray,
    min_segment: int = MIN_SEGMENT_DAYS,
    t_threshold: float = T_THRESHOLD,
    min_shift_kw: float = MIN_SHIFT_KW,
    max_shifts: int = MAX_SHIFTS,
) -> list[LevelShift]:
    """Steps in a deseasonalised daily series ``level`` sampled at ``days`` (sorted), earliest first."""
    days, level = np.asarray(days, dtype=float), np.asarray(level, dtype=float)
    found: list[LevelShift] = []
    pending = [(0, len(days))]
    while pending and len(found) < max_shifts:
        lo, hi = pending.pop(0)
        shift = _best_split(days[lo:hi], level[lo:hi], min_segment)
        if shift is None or abs(shift.t_stat) < t_threshold or abs(shift.size_kw) < min_shift_kw:
            continue
        found.append(LevelShift(lo + shift.position, shift.size_kw, shift.t_stat))
        pending += [(lo, lo + shift.position), (lo + shift.position, hi)]
    return _joint_sizes(days, level, sorted(found, key=lambda s: s.position))


def _joint_sizes(days: np.ndarray, level: np.ndarray, shifts: list[LevelShift]) -> list[LevelShift]:
    """Re-size every step in one fit with a common trend: a split found inside a segment that still held
    another step was sized against the wrong baseline."""
    if not shifts:
        return shifts
    steps = [(np.arange(len(days)) >= s.position).astype(float) for s in shifts]
    design = np.column_stack([np.ones(len(days)), days - days.mean(), *steps])
    coef, *_ = np.linalg.lstsq(design, level, rcond=None)
    return [LevelShift(s.position, float(size), s.t_stat) for s, size in zip(shifts, coef[2:], strict=True)]


def _best_split(days: np.ndarray, level: np.ndarray, min_segment: int) -> LevelShift | None:
    """The split maximising the explained sum of squares of ``a + b*day + step``, with its t-statistic.

    By Frisch-Waugh each candidate step reduces to sums over the trend residuals, so all splits
    cost one cumulative sum instead of one regression each.
    """
    n = len(days)
    if n < 2 * min_segment:
        return None
    basis, _ = np.linalg.qr(np.column_stack([np.ones(n), days - days.mean()]))
    resid = level - basis @ (basis.T @ level)
    tail_resid = np.cumsum(resid[::-1])[::-1]  # step_k . resid for the step starting at k
    tail_basis = np.cumsum(basis[::-1], axis=0)[::-1]  # Q^T step_k
    step_norm = (n - np.arange(n)) - np.einsum("ij,ij->i", tail_basis, tail_basis)
    candidates = np.arange(min_segment, n - min_segment + 1)
    gain = tail_resid[candidates] ** 2 / np.maximum(step_norm[candidates], 1e-12)
    k = int(candidates[np.argmax(gain)])
    size = tail_resid[k] / step_norm[k]
    step_resid = (np.arange(n) >= k) - basis @ tail_basis[k]
    final = resid - size * step_resid
    sigma2 = final @ final / max(n - 3, 1)
    rho = float(np.clip(lag1_autocorrelation(final), 0.0, 0.95))
    se = np.sqrt(sigma2 * (1 + rho) / (1 - rho) / step_norm[k])
    return LevelShift(k, float(size), float(size / se) if se > 0 else 0.0)


def daily_medians(day: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each day's median of ``values`` and its count, ``day`` ascending (the hours of a fit are in time
    order): pandas' group median, value for value, with the days holding all 24 hours at once."""
    days, starts, sizes = np.unique(day, return_index=True, return_counts=True)
    medians = np.empty(len(days))
    full = sizes == 24
    if full.any():
        medians[full] = np.median(values[starts[full][:, None] + np.arange(24)], axis=1)
    for i in np.flatnonzero(~full):  # a day cut by the start, the end or a gap
        medians[i] = np.median(values[starts[i] : starts[i] + sizes[i]])
    return days, medians, sizes
