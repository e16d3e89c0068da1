"""The registered model's on-disk form: plain JSON and NumPy arrays, never pickle.

A fitted :class:`~ml.model.SeasonalTrendForecaster` is nothing but its parameters and a handful of
arrays and numbers (the sklearn convention: state in attributes ending in ``_``). Storing exactly
that means loading a model runs no code from the artifact (``np.load(allow_pickle=False)``), needs no
deserialization opt-in, and costs milliseconds instead of importing a serializer.

This module is also named as the MLflow pyfunc ``loader_module``, so where gridcast is installed
``mlflow.pyfunc.load_model`` can read a registered version too. gridcast itself never loads through
it: :mod:`ml.steps.model_store` downloads a version's files and calls :func:`load_estimator`, and the
artifact carries no code.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.model import SeasonalTrendForecaster

FORMAT = "gridcast-estimator/1"
STATE_FILE, ARRAYS_FILE = "estimator.json", "arrays.npz"
# Bounds a stored parameter must lie in before anything is built from it: an order beyond these
# says nothing more about hourly load (24 h has 12 harmonics) and would only ask for memory.
PARAM_BOUNDS: dict[str, tuple[float, float]] = {
    "daily_order": (0, 12),
    "weekly_order": (0, 84),
    "yearly_order": (0, 60),
    "coverage": (0.5, 0.99),
    "profile_yearly_order": (0, 12),
}
PROBE_HOURS = 24 * 14  # a fortnight after the history: enough to catch a model that cannot forecast


class ModelFormatError(ValueError):
    """The folder does not hold an estimator this code can rebuild."""


def _plain(value: Any) -> Any:
    """JSON-ready copy of a fitted attribute (NumPy scalars become Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_estimator(model: SeasonalTrendForecaster, directory: Path) -> Path:
    """Write the fitted state: arrays to ``arrays.npz``, parameters and scalars to ``estimator.json``."""
    fitted = {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}
    if "coef_" not in fitted:
        raise ModelFormatError("only a fitted estimator can be saved (call fit first)")
    arrays = {k: v for k, v in fitted.items() if isinstance(v, np.ndarray)}
    state = {
        "format": FORMAT,
        "class": type(model).__name__,
        "params": model.get_params(),
        "attributes": {k: _plain(v) for k, v in fitted.items() if k not in arrays},
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    np.savez(directory / ARRAYS_FILE, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **arrays
    return directory


def fingerprint(directory: Path) -> str:
    """SHA-256 of the stored state: recorded in the registry at train time, checked at every load."""
    digest = hashlib.sha256()
    for name in (STATE_FILE, ARRAYS_FILE):
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
    return digest.hexdigest()


def load_estimator(directory: Path, expected_sha256: str | None = None) -> SeasonalTrendForecaster:
    """Rebuild the fitted estimator from data alone, refusing anything that is not a sane gridcast model.

    Nothing from the folder is imported or executed: the class is ours, the parameters are checked
    against :data:`PARAM_BOUNDS`, the arrays are numeric and finite, and the rebuilt model must
    forecast finite loads. ``expected_sha256`` (the registry's record) catches any later edit.
    """
    try:
        if expected_sha256 is not None and (found := fingerprint(directory)) != expected_sha256:
            raise ModelFormatError(
                f"{directory}: model files changed since registration (sha256 {found[:12]}..., "
                f"registered {expected_sha256[:12]}...)"
            )
        state = json.loads((directory / STATE_FILE).read_text())
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as exc:  # missing file, bad JSON, a pickled or corrupt array file
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"{directory}: unreadable model files ({exc})") from None
    if (
        not isinstance(state, dict)
        or state.get("format") != FORMAT
        or state.get("class") != SeasonalTrendForecaster.__name__
    ):
        found_format = state.get("format") if isinstance(state, dict) else None
        found_class = state.get("class") if isinstance(state, dict) else None
        raise ModelFormatError(
            f"{directory}: expected a {FORMAT} {SeasonalTrendForecaster.__name__}, "
            f"found {found_format!r} {found_class!r}"
        )
    model = _build(directory, state.get("params"))
    for name, value in (state.get("attributes") or {}).items():
        _check_value(directory, name, value)
        setattr(model, name, value)
    for name, array in arrays.items():
        _check_array(directory, name, array)
        setattr(model, name, array)
    _check_fitted(directory, model)
    return model


def check_rebuilt(where: str, model: SeasonalTrendForecaster) -> None:
    """The checks :func:`load_estimator` makes, for a fit rebuilt from another container (a fleet's
    artifact), short of the probe forecast: parameters within bounds, plain finite values, numeric
    finite arrays, a fitted model with a sane growth-form mix."""
    _build(where, model.get_params())
    for name, value in vars(model).items():
        if isinstance(value, np.ndarray):
            _check_array(where, name, value)
        else:
            _check_value(where, name, value)
    _check_state(where, model)


def _build(directory: Path | str, params: object) -> SeasonalTrendForecaster:
    """The estimator from its stored parameters, each a plain value within its bounds."""
    if not isinstance(params, dict):
        raise ModelFormatError(f"{directory}: parameters missing from {STATE_FILE}")
    for name, value in params.items():
        _check_value(directory, name, value)
        if name in PARAM_BOUNDS:
            low, high = PARAM_BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ModelFormatError(f"{directory}: parameter {name}={value!r} is outside [{low}, {high}]")
    try:
        model = SeasonalTrendForecaster(**params)
        model.check_params()  # the estimator's own checks: trend, structure, holiday calendar, time zone
    except TypeError as exc:
        raise ModelFormatError(f"{directory}: parameters this version does not know ({exc})") from None
    except ValueError as exc:
        raise ModelFormatError(f"{directory}: {exc}") from None
    return model


def _check_value(directory: Path | str, name: str, value: object) -> None:
    """Stored scalars are plain JSON values, and every number is finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelFormatError(f"{directory}: {name} is {value!r}; a fitted model holds finite numbers only")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(directory, f"{name}.{key}", item)
    elif isinstance(value, list):
        for item in value:
            _check_value(directory, name, item)


def _check_array(where: Path | str, name: str, array: np.ndarray) -> None:
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ModelFormatError(f"{where}: fitted array {name} holds non-finite or non-numeric values")


def _check_fitted(directory: Path, model: SeasonalTrendForecaster) -> None:
    """The rebuilt model must look fitted and forecast finite, non-degenerate loads."""
    _check_state(directory, model)
    try:
        end = pd.Timestamp(model.fitted_until_)
        probe = model.predict_interval(pd.date_range(end, periods=PROBE_HOURS, freq="h"))
    except Exception as exc:  # wrong shapes, missing attributes: the arrays do not fit together
        raise ModelFormatError(f"{directory}: the stored arrays do not form a working model ({exc})") from None
    if not np.isfinite(probe[["predicted_kw", "lower_kw", "upper_kw"]].to_numpy()).all():
        raise ModelFormatError(f"{directory}: the stored model forecasts non-finite loads")


def _check_state(where: Path | str, model: SeasonalTrendForecaster) -> None:
    """Fitted coefficients, a positive residual spread, and a growth-form mix that can be simulated."""
    coef = getattr(model, "coef_", None)
    if not isinstance(coef, np.ndarray) or coef.ndim != 1 or not coef.any():
        raise ModelFormatError(f"{where}: coefficients missing or all zero; this is not a fitted model")
    sigma = getattr(model, "sigma_", None)
    if not isinstance(sigma, int | float) or not sigma > 0:
        raise ModelFormatError(f"{where}: residual spread sigma_={sigma!r} must be a positive number")
    try:
        model.check_trend_weights()  # optional: models saved before forms were mixed have none
    except ValueError as exc:
        raise ModelFormatError(f"{where}: {exc}") from None


class PyfuncModel:
    """What ``mlflow.pyfunc.load_model`` returns inside: predicts kW; ``get_raw_model`` gives the estimator."""

    def __init__(self, estimator: SeasonalTrendForecaster) -> None:
        self.estimator = estimator

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return pd.DataFrame({"predicted_kw": self.estimator.predict(model_input)})

    def get_raw_model(self) -> SeasonalTrendForecaster:
        return self.estimator


def _load_pyfunc(data_path: str) -> PyfuncModel:
    """MLflow's loader hook (``loader_module``): ``data_path`` is the folder :func:`save_estimator` wrote."""
    return PyfuncModel(load_estimator(Path(data_path)))
