"""The registered model is JSON + arrays: it round-trips exactly and loads without running pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.model import SeasonalTrendForecaster
from ml.steps.model_io import (
    ModelFormatError,
    PyfuncModel,
    _load_pyfunc,
    fingerprint,
    load_estimator,
    save_estimator,
)
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


def _tamper_state(folder: Path, edit) -> None:  # type: ignore[no-untyped-def]
    state = json.loads((folder / "estimator.json").read_text())
    edit(state)
    (folder / "estimator.json").write_text(json.dumps(state))


def _tamper_array(folder: Path, name: str, value: np.ndarray, allow_pickle: bool = False) -> None:
    with np.load(folder / "arrays.npz", allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays[name] = value
    np.savez(folder / "arrays.npz", allow_pickle=allow_pickle, **arrays)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["params"].update(coverage=5), r"parameter coverage=5 is outside \[0.5, 0.99\]"),
        (lambda s: s["params"].update(daily_order=10**6), r"parameter daily_order=1000000 is outside \[0, 12\]"),
        (lambda s: s["params"].update(yearly_order="4"), r"parameter yearly_order='4' is outside"),
        (lambda s: s["params"].update(loader="os.system"), "parameters this version does not know"),
        (lambda s: s["params"].update(timezone="Mars/Olympus"), "timezone='Mars/Olympus' is not a known IANA"),
        (lambda s: s["params"].update(profile_yearly_order=500), r"profile_yearly_order=500 is outside \[0, 12\]"),
        (lambda s: s["attributes"].update(sigma_=float("nan")), "sigma_ is nan; a fitted model holds finite numbers"),
        (lambda s: s["attributes"].update(sigma_=0.0), r"residual spread sigma_=0.0 must be a positive number"),
        (lambda s: s["attributes"].update(fitted_until_="not a date"), "do not form a working model"),
        (lambda s: s.pop("params"), "parameters missing from estimator.json"),
    ],
)
def test_tampered_parameters_are_refused(fitted: SeasonalTrendForecaster, tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    folder = save_estimator(fitted, tmp_path / "m")
    _tamper_state(folder, edit)
    with pytest.raises(ModelFormatError, match=message):
        load_estimator(folder)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("coef_", "nan", "fitted array coef_ holds non-finite or non-numeric values"),
        ("coef_", "zero", "coefficients missing or all zero"),
        ("coef_", "short", "do not form a working model"),
        ("coef_cov_", "inf", "fitted array coef_cov_ holds non-finite"),
    ],
)
def test_tampered_arrays_are_refused(
    fitted: SeasonalTrendForecaster, tmp_path: Path, name: str, value: str, message: str
) -> None:
    folder = save_estimator(fitted, tmp_path / "m")
    original = getattr(fitted, name).copy()
    replacement = {
        "nan": np.where(np.arange(original.size).reshape(original.shape) == 0, np.nan, original),
        "inf": np.full_like(original, np.inf),
        "zero": np.zeros_like(original),
        "short": original[:3],
    }[value]
    _tamper_array(folder, name, replacement)
    with pytest.raises(ModelFormatError, match=message):
        load_estimator(folder)


def test_a_pickled_array_is_refused_not_loaded(fitted: SeasonalTrendForecaster, tmp_path: Path) -> None:
    folder = save_estimator(fitted, tmp_path / "m")
    _tamper_array(folder, "coef_", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFormatError, match="unreadable model files"):
        load_estimator(folder)


def test_fingerprint_catches_any_later_edit(fitted: SeasonalTrendForecaster, tmp_path: Path) -> None:
    folder = save_estimator(fitted, tmp_path / "m")
    registered = fingerprint(folder)
    assert load_estimator(folder, expected_sha256=registered).coef_.shape == fitted.coef_.shape
    _tamper_array(folder, "coef_", fitted.coef_ * 0.5)  # still a plausible model: only the record can tell
    with pytest.raises(ModelFormatError, match="model files changed since registration"):
        load_estimator(folder, expected_sha256=registered)


def test_missing_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="unreadable model files"):
        load_estimator(tmp_path)
