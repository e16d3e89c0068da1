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

from typing import Any

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


def profile_layout(
    cell: np.ndarray, phase: np.ndarray, order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a profile design needs of its hours alone: the yearly basis, the hours grouped by cell (a
    stable sort), the cells present and where each one's hours start in that order."""
    basis = yearly_basis(phase, order)
    by_cell = np.argsort(cell, kind="stable")  # hours grouped by cell, for per-cell sums
    present, starts = np.unique(cell[by_cell], return_index=True)
    return basis, by_cell, present, starts


class ProfileDesign:
    """The columns of the profile structure for one set of hours, built once and reused by every fit."""

    def __init__(
        self,
        years: np.ndarray,
        cell: np.ndarray,
        phase: np.ndarray,
        steps: np.ndarray,
        order: int,
        layout: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
        shared: dict[str, Any] | None = None,
    ):
        """``layout`` is :func:`profile_layout` of ``cell`` and ``phase`` when already at hand (it depends on
        the hours only, so designs over the same hours can share it, and ``shared``, where the sparse
        ``X`` is kept once built)."""
        basis, self._order, self._present, self._starts = layout or profile_layout(cell, phase, order)
        width = basis.shape[1]
        self.cell, self.basis, self.width = cell, basis, width
        self.years = years
        self._X: sparse.csr_matrix | None = None
        self._shared = shared if shared is not None else {}  # X is the same for designs over the same hours
        self.S = steps
        self.n_params = 1 + CELLS * width + steps.shape[1]
        self._linear_fit: tuple[np.ndarray, np.ndarray] | None = None
        self.memo: dict[str, Any] = {}
        """What callers keep with this design: what its hours alone give, and the last target's residuals."""

    @property
    def X(self) -> sparse.csr_matrix:
        """Hours x (cells x harmonics), sparse; built when first needed (a structure screening never does)."""
        if self._X is None:
            self._X = self._shared.get("X")
        if self._X is None:
            n, width = len(self.years), self.width
            rows = np.repeat(np.arange(n), width)
            columns = (self.cell[:, None] * width + np.arange(width)).ravel()
            self._X = sparse.csr_matrix((self.basis.ravel(), (rows, columns)), shape=(n, CELLS * width))
            self._shared["X"] = self._X
        return self._X

    def _shape(self, beta: np.ndarray) -> np.ndarray:
        """``X @ beta`` for one parameter vector: each hour's own cell's harmonics, summed in the same
        order as the sparse product, so the values are the same whether or not ``X`` was built."""
        if self._X is not None:
            return self._X @ beta
        cells = beta.reshape(CELLS, self.width)[self.cell]
        shape = self.basis[:, 0] * cells[:, 0]
        for k in range(1, self.width):
            shape += self.basis[:, k] * cells[:, k]
        return shape

    def _split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = CELLS * self.width
        return params[..., 0], params[..., 1 : 1 + p], params[..., 1 + p :]

    def profile(self, params: np.ndarray) -> np.ndarray:
        """X beta: the daily profile's value at each hour before growth (1-D params only)."""
        return self._shape(self._split(np.asarray(params, dtype=float))[1])

    def mean(self, kind: str, params: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
        """Expected load for one parameter vector (1-D) or many draws (2-D, one row per draw); with
        ``hours`` (positions), at those hours only (the draws' case: the hours a simulation needs)."""
        params = np.asarray(params, dtype=float)
        rate, beta, delta = self._split(params)
        if params.ndim == 1:
            shape = self._shape(beta)
            base = shape + rate * self.years if kind == "linear" else np.exp(rate * self.years) * shape
            return base + self.S @ delta
        X, years, S = (
            (self.X, self.years, self.S) if hours is None else (self.X[hours], self.years[hours], self.S[hours])
        )
        # Built in place in draws x hours order (the sparse product comes out hours x draws): the same
        # operations as ``shape + rate * years`` (or ``exp(rate * years) * shape``) plus the steps, without
        # the temporaries and the strided passes over a transposed array.
        shape = (X @ beta.T).T
        base = np.multiply(rate[:, None], years[None, :])
        if kind == "linear":
            base += shape
        else:
            np.exp(base, out=base)
            base *= shape
        if S.shape[1]:
            base += delta @ S.T
        return base

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
        last = self._linear_fit  # the same target again (a fit's steps share designs) gets the same answer
        if last is not None and np.array_equal(last[0], target):
            linear = last[1].copy()
        else:
            linear = self._solve(self.years, None, target)
            self._linear_fit = (np.array(target, dtype=float), linear.copy())
        if kind == "linear":
            return linear
        level = float(np.mean(self.profile(linear)))
        rate = float(np.clip(linear[0] / level if level > 0 else 0.0, -MAX_LOG_GROWTH, MAX_LOG_GROWTH))
        params = np.concatenate([[rate], self._solve(None, np.exp(rate * self.years), target)])
        for _ in range(GAUSS_NEWTON_STEPS):
            growth = np.exp(params[0] * self.years)
            residual = target - self.mean(kind, params)
            step = self._solve(self.years * growth * self.profile(params), growth, residual)
            params = params + step
            params[0] = float(np.clip(params[0], -MAX_LOG_GROWTH, MAX_LOG_GROWTH))
            if abs(step[0]) < 1e-8:
                break
        return params

    def _solve(self, first: np.ndarray | None, scale: np.ndarray | None, target: np.ndarray) -> np.ndarray:
        """Least squares on columns ``[first, scale * X, S]`` by blocks: the cells' Gram matrix is block
        diagonal (each hour touches one cell), so only the few dense columns (rate, steps) need a
        Schur complement; 72 small solves instead of one of ~500 columns. What does not depend on the
        target is :meth:`_columns_part`, kept with the design for the linear fit (every target's)."""
        linear = first is self.years and scale is None
        columns = self.memo.get("linear_columns") if linear else None
        if columns is None:
            columns = self._columns_part(first, scale)
            if linear:
                self.memo["linear_columns"] = columns
        dense, part, blocks, cross, solved_cross, schur = columns
        rhs = np.zeros((CELLS, self.width))
        if len(self._order):
            rhs[self._present] = np.add.reduceat(part * target[self._order][:, None], self._starts)
        solved_rhs = np.linalg.solve(blocks, rhs[..., None])[..., 0]
        dense_rhs = dense.T @ target - np.einsum("cwq,cw->q", cross, solved_rhs)
        if dense.shape[1]:
            coef = (
                np.linalg.lstsq(schur, dense_rhs, rcond=None)[0]
                if _singular(schur)
                else linalg.solve(schur, dense_rhs, assume_a="pos")
            )
        else:
            coef = np.empty(0)
        beta = solved_rhs - np.einsum("cwq,q->cw", solved_cross, coef)
        if first is None:
            return np.concatenate([beta.ravel(), coef])
        return np.concatenate([coef[:1], beta.ravel(), coef[1:]])

    def _columns_part(self, first: np.ndarray | None, scale: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """The columns' side of :meth:`_solve`: the dense columns, the weighted basis grouped by cell, the
        cells' blocks, the dense columns' products with the cells (raw and solved), and the Schur complement."""
        dense = self.S if first is None else np.column_stack([first, self.S])
        weighted = self.basis if scale is None else self.basis * scale[:, None]
        cross = np.zeros((CELLS, self.width, dense.shape[1]))
        part = weighted[self._order]
        if len(self._order):
            cross[self._present] = np.add.reduceat(part[:, :, None] * dense[self._order][:, None, :], self._starts)
        blocks = self._shared.get("blocks") if scale is None else None
        if blocks is None:
            blocks = self._blocks(weighted)
            if scale is None:  # the unscaled cells' blocks depend on the hours alone: every design over them
                self._shared["blocks"] = blocks
        solved_cross = np.linalg.solve(blocks, cross)
        schur = dense.T @ dense - np.einsum("cwq,cwr->qr", cross, solved_cross)
        return dense, part, blocks, cross, solved_cross, schur

    def _blocks(self, weighted: np.ndarray) -> np.ndarray:
        """The cells' Gram blocks of the weighted basis, with a tiny ridge (do not modify them)."""
        w = self.width
        blocks = np.zeros((CELLS, w, w))
        if len(self._order):
            part = weighted[self._order]
            # The blocks are symmetric: sum the products on and above the diagonal only and mirror them
            # (the same products in the same order, so the same values, in less than half the time).
            upper, lower = np.triu_indices(w)
            sums = np.add.reduceat(np.take(part, upper, axis=1) * np.take(part, lower, axis=1), self._starts)
            blocks[self._present[:, None], upper, lower] = sums
            blocks[self._present[:, None], lower, upper] = sums
        ridge = 1e-9 * max(float(np.mean(np.trace(blocks, axis1=1, axis2=2))) / w, 1e-12)
        blocks += ridge * np.eye(w)  # a cell with no readings (no holiday yet) is held at zero
        return blocks

    def variance(self, kind: str, params: np.ndarray, cov: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
        """diag(J cov J^T) without forming J: each hour touches the rate, its own cell's harmonics and
        the steps, so the hours of one cell share one small block of ``cov`` (72 small products
        instead of hours x parameters)."""
        params = np.asarray(params, dtype=float)
        rate, p = float(params[0]), self.X.shape[1]
        if kind == "linear":
            first, scale = self.years, np.ones_like(self.years)
        else:
            scale = np.exp(rate * self.years)
            first = self.years * scale * self.profile(params)
        steps = np.arange(1 + p, self.n_params)
        out = np.empty(len(self.years))
        for cell in np.unique(self.cell):
            rows = np.flatnonzero(self.cell == cell)
            columns = np.concatenate([[0], 1 + cell * self.width + np.arange(self.width), steps])
            values = np.column_stack([first[rows], scale[rows, None] * self.basis[rows], self.S[rows]])
            block = cov[np.ix_(columns, columns)]
            out[rows] = np.einsum("ij,jk,ik->i", values, block, values)
        return out if hours is None else out[hours]

    def gram(self, kind: str, params: np.ndarray) -> np.ndarray:
        jac = self.jacobian(kind, params)
        return np.asarray((jac.T @ jac).toarray())

    def upper_envelope(self, kind: str, draws: np.ndarray) -> np.ndarray | None:
        """No cheap bound over all draws at once here (see :meth:`ml.model.FourierDesign.upper_envelope`)."""
        return None

    def spread_bound(self, kind: str, params: np.ndarray, sd: np.ndarray) -> np.ndarray | None:
        """No cheap bound on the spread here (see :meth:`ml.model.FourierDesign.spread_bound`)."""
        return None

    def peak_bound(self, kind: str, centre: np.ndarray, deviation: np.ndarray) -> float | None:
        """No cheap bound here (see :meth:`ml.model.FourierDesign.peak_bound`)."""
        return None

    def spread_peak(self, kind: str, params: np.ndarray, sd: np.ndarray) -> float | None:
        """No cheap bound here (see :meth:`ml.model.FourierDesign.spread_peak`)."""
        return None


def _singular(matrix: np.ndarray) -> bool:
    return bool(np.linalg.cond(matrix) > 1e12)
