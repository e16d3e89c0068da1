"""How noisy each hour is: the residual spread by local hour, day type and season.

Overloads happen at peaks, and peaks are where load is least regular (an evening peak depends on
who is home; a night hour does not). One global sigma would make intervals too wide at night and
too narrow at the evening peak, exactly where the limit is crossed. Each cell's variance is shrunk
towards its hour-and-day-type pool and that towards the global variance, so a cell with few hours
(a Sunday night in summer) borrows strength instead of reporting its own luck.
"""

from __future__ import annotations

import numpy as np

DAY_TYPES, HOURS, SEASONS = 3, 24, 4
PRIOR_HOURS = 30.0
"""Weight of the pooled variance, in hours: a cell needs this many residuals to count as much as its pool."""


def spread_table(residuals: np.ndarray, day_type: np.ndarray, hour: np.ndarray, season: np.ndarray) -> np.ndarray:
    """Residual standard deviation in kW per (day type, hour, season): an array of shape (3, 24, 4)."""
    squared = residuals**2
    overall = float(squared.mean()) if len(squared) else 0.0
    pool = day_type * HOURS + hour
    pool_var = _shrunk(squared, pool, DAY_TYPES * HOURS, np.full(DAY_TYPES * HOURS, overall))
    cell = pool * SEASONS + season
    cell_var = _shrunk(squared, cell, DAY_TYPES * HOURS * SEASONS, np.repeat(pool_var, SEASONS))
    return np.sqrt(cell_var).reshape(DAY_TYPES, HOURS, SEASONS)


def _shrunk(squared: np.ndarray, group: np.ndarray, size: int, prior: np.ndarray) -> np.ndarray:
    count = np.bincount(group, minlength=size).astype(float)
    total = np.bincount(group, weights=squared, minlength=size)
    return (total + PRIOR_HOURS * prior) / (count + PRIOR_HOURS)


def cells(day_type: np.ndarray, hour: np.ndarray, season: np.ndarray) -> np.ndarray:
    """Each hour's place in a flattened :func:`spread_table`: its spread is ``table.ravel()[cells]``
    (the cells depend on the hours alone, so a fleet over the same horizon finds them once)."""
    return (day_type * HOURS + hour) * SEASONS + season
