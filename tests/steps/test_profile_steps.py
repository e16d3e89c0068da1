"""A peaky profile load exported in local time goes through train, promote and predict as the steps run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ml.loadprofiles import ProfileTruth
from ml.model import SeasonalTrendForecaster
from ml.steps import EXIT_BAD_INPUT
from ml.steps.model_store import load_version
from ml.steps.predict import predict
from ml.steps.promote import promote
from ml.steps.train import train

ZONE = "Europe/Berlin"


def step(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env |= {"GRIDCAST_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "ml.steps", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def local_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two years of a households-and-shops transformer in Berlin wall-clock time, holidays of Bavaria."""
    series = ProfileTruth((0.7, 0.3, 0.0), 200.0, 5.0, holidays="DE-BY").history(seed=4)
    local = series.index.tz_localize("UTC").tz_convert(ZONE).tz_localize(None)
    path = tmp_path_factory.mktemp("profile") / "local.csv"
    pd.DataFrame({"timestamp": local.strftime("%Y-%m-%d %H:%M"), "kw": series.to_numpy()}).to_csv(path, index=False)
    return path


def test_local_time_profile_load_is_trained_promoted_and_forecast(state: Path, local_csv: Path, tmp_path: Path) -> None:
    estimator = SeasonalTrendForecaster(holidays="DE-BY", timezone=ZONE)
    candidate = train(local_csv, tmp_path / "m", estimator)
    decision = promote(local_csv, tmp_path / "m", tmp_path / "d")  # the default, scale-free gate
    assert decision.promoted, decision.reason
    report = predict(local_csv, tmp_path / "out", limit_kw=270.0, decision_dir=tmp_path / "d", timezone=ZONE)

    model = load_version(candidate.model_name, candidate.version)
    assert model.structure_ == "profile" and model.holidays == "DE-BY" and model.timezone == ZONE
    assert report["structure"] == "profile" and report["timestamps"] == "UTC"
    assert report["first_overload_at"] is not None and report["expected_overload_hours"] > 0
    assert (tmp_path / "out" / "typical_day.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads((tmp_path / "out" / "overload_report.json").read_text())
    assert written["structure_selection"]["chosen"] == "profile"


def test_an_unknown_holiday_calendar_is_refused_before_anything_is_stored(tmp_path: Path, local_csv: Path) -> None:
    home = tmp_path / "s"
    result = step("train", "--data", str(local_csv), "--model-out", str(tmp_path / "m"), "--holidays", "XX", home=home)
    assert result.returncode == EXIT_BAD_INPUT
    assert "error: holidays='XX': unknown country 'XX'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists() and not (home / "mlflow.db").exists()
