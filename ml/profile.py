"""The daily profile per day type, changing through the year: the structure of real, peaky load.

One value per local hour and day type (working day, Saturday, Sunday or holiday: 72 cells), each
modulated through the year by a few yearly harmonics, so a winter evening peak can be higher than a
summer one and a Sunday can have its own shape. Growth is either additive (a fixed number of kW a
year on top of the profile: ``linear``) or scales the whole profile (``compound``, % a year):

    linear:    rate * years + X beta + S delta
    compound:  exp(rate * years) * X beta + S delta

``X`` is sparse (each hour touches one cell's harmonics), ``S`` the 0/1 level-shift steps. Parameters
are ``[rate, beta..., delta...]``. For a fixed rate the model is linear, so compound growth is found
by Gauss-Newton from the linear fit's proportional rate in a few solves of a ~360-column system.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse

from ml.trend import MAX_LOG_GROWTH

CELLS = 72  # 3 day types x 24 local hours
GAUSS_NEWTON_STEPS = 8


def yearly_basis(phase: np.ndarray, order: int) -> np.ndarray:
    """1, cos, sin, ... up to ``order`` harmonics of the local day of the year (``phase`` in radians)."""
    columns = [np.ones_like(phase)]
    for k in range(1, order + 1):
        columns += [np.cos(k * phase), np.sin(k * phase)]
    return np.column_stack(columns)


class ProfileDesign:
    """The columns of the profile structure for one set of hours, built once and reused by every fit."""

    def __init__(self, years: np.ndarray, cell: np.ndarray, phase: np.ndarray, steps: np.ndarray, order: int):
        basis = yearly_basis(phase, order)
        width = basis.shape[1]
        n = len(years)
        rows = np.repeat(np.arange(n), width)
        columns = (cell[:, None] * width + np.arange(width)).ravel()
        self.years = years
        self.X = sparse.csr_matrix((basis.ravel(), (rows, columns)), shape=(n, CELLS * width))
        self.S = steps
        self.n_params = 1 + self.X.shape[1] + steps.shape[1]

    def _split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.X.shape[1]
        return params[..., 0], params[..., 1 : 1 + p], params[..., 1 + p :]

    def profile(self, params: np.ndarray) -> np.ndarray:
        """X beta: the daily profile's value at each hour before growth (1-D params only)."""
        return self.X @ self._split(np.asarray(params, dtype=float))[1]

    def mean(self, kind: str, params: np.ndarray) -> np.ndarray:
        """Expected load for one parameter vector (1-D) or many draws (2-D, one row per draw)."""
        params = np.asarray(params, dtype=float)
        rate, beta, delta = self._split(params)
        if params.ndim == 1:
            shape = self.X @ beta
            base = shape + rate * self.years if kind == "linear" else np.exp(rate * self.years) * shape
            return base + self.S @ delta
        shape = (self.X @ beta.T).T  # draws x hours
        if kind == "linear":
            base = shape + rate[:, None] * self.years[None, :]
        else:
            base = np.exp(rate[:, None] * self.years[None, :]) * shape
        return base + delta @ self.S.T

    def jacobian(self, kind: str, params: np.ndarray) -> sparse.csr_matrix:
        """Derivatives of the mean by each parameter, sparse (hours x parameters)."""
        rate = float(params[0])
        if kind == "linear":
            first, scaled = self.years, self.X
        else:
            growth = np.exp(rate * self.years)
            first = self.years * growth * self.profile(params)
            scaled = sparse.diags(growth) @ self.X
        return sparse.hstack([sparse.csr_matrix(first[:, None]), scaled, sparse.csr_matrix(self.S)]).tocsr()

    def fit(self, kind: str, target: np.ndarray) -> np.ndarray:
        """Least-squares parameters; compound growth by Gauss-Newton from the linear fit."""
        linear = _solve(self._columns(self.years, self.X), target)
        if kind == "linear":
            return linear
        level = float(np.mean(self.profile(linear)))
        rate = float(np.clip(linear[0] / level if level > 0 else 0.0, -MAX_LOG_GROWTH, MAX_LOG_GROWTH))
        params = linear.copy()
        params[0] = rate
        params[1 : 1 + self.X.shape[1]] = _solve(
            self._columns(None, sparse.diags(np.exp(rate * self.years)) @ self.X), target
        )[: self.X.shape[1]]
        for _ in range(GAUSS_NEWTON_STEPS):
            residual = target - self.mean(kind, params)
            step = _solve(self.jacobian(kind, params), residual)
            params = params + step
            params[0] = float(np.clip(params[0], -MAX_LOG_GROWTH, MAX_LOG_GROWTH))
            if abs(step[0]) < 1e-8:
                break
        return params

    def _columns(self, first: np.ndarray | None, scaled: sparse.spmatrix) -> sparse.csr_matrix:
        blocks = [scaled, sparse.csr_matrix(self.S)]
        if first is not None:
            blocks.insert(0, sparse.csr_matrix(first[:, None]))
        return sparse.hstack(blocks).tocsr()

    def variance(self, kind: str, params: np.ndarray, cov: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """diag(J cov J^T) in chunks of hours, so a five-year horizon never holds hours x parameters."""
        jac = self.jacobian(kind, params)
        out = np.empty(jac.shape[0])
        for lo in range(0, jac.shape[0], chunk):
            block = jac[lo : lo + chunk]
            out[lo : lo + chunk] = np.asarray(block.multiply(block @ cov).sum(axis=1)).ravel()
        return out

    def gram(self, kind: str, params: np.ndarray) -> np.ndarray:
        jac = self.jacobian(kind, params)
        return np.asarray((jac.T @ jac).toarray())


def _solve(design: sparse.spmatrix, target: np.ndarray) -> np.ndarray:
    """Normal equations on the sparse design; a cell with no readings is held at zero by a tiny ridge."""
    gram = np.asarray((design.T @ design).toarray())
    rhs = design.T @ target
    ridge = 1e-9 * max(float(np.mean(np.diag(gram))), 1e-12)
    try:
        return linalg.cho_solve(linalg.cho_factor(gram + ridge * np.eye(len(gram))), rhs)
    except linalg.LinAlgError:
        return np.linalg.lstsq(gram, rhs, rcond=None)[0]
