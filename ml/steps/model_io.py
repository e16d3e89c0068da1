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

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.model import SeasonalTrendForecaster

FORMAT = "gridcast-estimator/1"
STATE_FILE, ARRAYS_FILE = "estimator.json", "arrays.npz"


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


def load_estimator(directory: Path) -> SeasonalTrendForecaster:
    """Rebuild the fitted estimator; refuses anything but the one class and format it knows."""
    state = json.loads((directory / STATE_FILE).read_text())
    if state.get("format") != FORMAT or state.get("class") != SeasonalTrendForecaster.__name__:
        raise ModelFormatError(
            f"{directory}: expected a {FORMAT} {SeasonalTrendForecaster.__name__}, "
            f"found {state.get('format')!r} {state.get('class')!r}"
        )
    model = SeasonalTrendForecaster(**state["params"])
    for name, value in state["attributes"].items():
        setattr(model, name, value)
    with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
        for name in arrays.files:
            setattr(model, name, arrays[name])
    return model


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
