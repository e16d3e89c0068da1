"""The registered model is JSON + arrays: it round-trips exactly and loads without running pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.model import SeasonalTrendForecaster
from ml.steps.model_io import ModelFormatError, PyfuncModel, _load_pyfunc, load_estimator, save_estimator
from ml.synthetic import synthetic_load


@pytest.fixture(scope="module")
def fitted() -> SeasonalTrendForecaster:
    frame = synthetic_load()
    return SeasonalTrendForecaster(yearly_order=3).fit(pd.to_datetime(frame["timestamp"]), frame["kw"].to_numpy())


def test_round_trip_predicts_identically(fitted: SeasonalTrendForecaster, tmp_path: Path) -> None:
    loaded = load_estimator(save_estimator(fitted, tmp_path / "m"))
    future = pd.date_range("2025-01-01", periods=24 * 400, freq="h")
    pd.testing.assert_frame_equal(loaded.predict_interval(future), fitted.predict_interval(future))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.trend_ == fitted.trend_ and loaded.growth_kw_per_year_ == fitted.growth_kw_per_year_
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["arrays.npz", "estimator.json"]


def test_files_hold_no_pickle(fitted: SeasonalTrendForecaster, tmp_path: Path) -> None:
    save_estimator(fitted, tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as arrays:  # would raise on object arrays
        assert "coef_" in arrays.files and arrays["coef_"].dtype == np.float64
    state = json.loads((tmp_path / "m" / "estimator.json").read_text())
    assert state["class"] == "SeasonalTrendForecaster" and state["params"]["yearly_order"] == 3


def test_refuses_an_unknown_class(fitted: SeasonalTrendForecaster, tmp_path: Path) -> None:
    folder = save_estimator(fitted, tmp_path / "m")
    state = json.loads((folder / "estimator.json").read_text())
    (folder / "estimator.json").write_text(json.dumps(state | {"class": "os.system"}))
    with pytest.raises(ModelFormatError, match="expected a gridcast-estimator/1 SeasonalTrendForecaster, found"):
        load_estimator(folder)


def test_unfitted_estimator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="only a fitted estimator can be saved"):
        save_estimator(SeasonalTrendForecaster(), tmp_path / "m")


def test_pyfunc_loader_predicts_kw(fitted: SeasonalTrendForecaster, tmp_path: Path) -> None:
    model = _load_pyfunc(str(save_estimator(fitted, tmp_path / "m")))
    assert isinstance(model, PyfuncModel)
    out = model.predict(pd.DataFrame({"timestamp": pd.date_range("2025-01-01", periods=3, freq="h")}))
    assert list(out.columns) == ["predicted_kw"] and len(out) == 3
    assert model.get_raw_model().coef_.shape == fitted.coef_.shape
