"""A registered model is data, never code: tampering with its stored files is refused, nothing runs.

Each test trains and promotes a real version in the embedded store, then edits the files behind
that version in the artifact store, as someone with write access to the bucket could, and runs
the predict step as a container would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from ml.model import SeasonalTrendForecaster
from ml.steps import EXIT_ERROR, EXIT_OK
from ml.steps.promote import promote
from ml.steps.train import train
from tests.steps.test_step_cli import step

pytestmark = pytest.mark.slow
MODEL_NAME = "gridcast-synthetic"


@pytest.fixture
def registered(state: Path, synthetic_csv: Path, tmp_path: Path) -> Path:
    """The stored model folder of a promoted version, as the artifact store holds it."""
    train(synthetic_csv, tmp_path / "candidate", SeasonalTrendForecaster())
    decision = promote(synthetic_csv, tmp_path / "candidate", tmp_path / "decision")
    assert decision.promoted
    return _stored_model(state)


def _predict(state: Path, synthetic_csv: Path, tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return step(
        "predict",
        "--data",
        str(synthetic_csv),
        "--decision",
        str(tmp_path / "decision"),
        "--out",
        str(tmp_path / "out"),
        home=state,
        extra_env=env,
    )


def _stored_model(state: Path) -> Path:
    """The version's folder inside the embedded store's artifact root."""
    source = MlflowClient().get_model_version(MODEL_NAME, "1").source
    path = Path(source.removeprefix("file://"))
    assert path.is_relative_to(state), path
    return path


def test_untouched_model_predicts(state: Path, synthetic_csv: Path, tmp_path: Path, registered: Path) -> None:
    result = _predict(state, synthetic_csv, tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads((tmp_path / "out" / "overload_report.json").read_text())["model_version"] == "1"


def test_a_changed_loader_module_is_never_imported(
    state: Path, synthetic_csv: Path, tmp_path: Path, registered: Path
) -> None:
    marker = tmp_path / "loader-ran"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "evil_loader.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "def _load_pyfunc(path):\n    raise SystemExit('ran')\n"
    )
    mlmodel = registered / "MLmodel"
    spec = yaml.safe_load(mlmodel.read_text())
    spec["flavors"]["python_function"]["loader_module"] = "evil_loader"
    spec["flavors"]["python_function"]["code"] = "code"
    mlmodel.write_text(yaml.safe_dump(spec))

    result = _predict(state, synthetic_csv, tmp_path, PYTHONPATH=str(plugins))

    assert result.returncode == EXIT_OK, result.stderr
    assert not marker.exists()  # the MLmodel's loader was not imported: the estimator is read as data


def test_edited_coefficients_are_refused(state: Path, synthetic_csv: Path, tmp_path: Path, registered: Path) -> None:
    arrays_file = next(registered.rglob("arrays.npz"))
    with np.load(arrays_file, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["coef_"] = arrays["coef_"] * 0.0
    np.savez(arrays_file, **arrays)

    result = _predict(state, synthetic_csv, tmp_path)

    assert result.returncode == EXIT_ERROR
    assert "model files changed since registration" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "overload_report.json").exists()


def test_estimator_data_pointed_outside_the_model_is_refused(
    state: Path, synthetic_csv: Path, tmp_path: Path, registered: Path
) -> None:
    mlmodel = registered / "MLmodel"
    spec = yaml.safe_load(mlmodel.read_text())
    spec["flavors"]["python_function"]["data"] = "../../../.."
    mlmodel.write_text(yaml.safe_dump(spec))

    result = _predict(state, synthetic_csv, tmp_path)

    assert result.returncode != EXIT_OK
    assert "points the estimator data outside the model" in result.stderr
    assert "Traceback" not in result.stderr
