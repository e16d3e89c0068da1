"""Input that passes a parser and would crash or bend the model, formula cells, secrets in URIs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from ml.anomalies import gross_outlier_mask
from ml.evaluate import forecast_index
from ml.model import SeasonalTrendForecaster
from ml.steps.csv_safe import neutralized
from ml.steps.data_io import load_series
from ml.steps.store_uri import redact, split_credentials
from ml.synthetic import synthetic_load
from ml.validation import DataValidationError
from tests.conftest import SHARED_CSV, Run


def refusal(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "load.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as caught:
        load_series(path)
    return str(caught.value).removeprefix(f"{path}: ")


def history() -> pd.DataFrame:
    return synthetic_load(years=2)


def test_constant_load_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, history().assign(kw=50.0)) == (
        "column 'kw' is constant (50 kW on every row: a stuck sensor or a placeholder); "
        "there is no load pattern to forecast."
    )


def test_all_zero_load_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, history().assign(kw=0.0)) == (
        "column 'kw' is 0 on every row (an empty export or a disconnected meter); there is no load pattern to forecast."
    )


def test_too_few_distinct_values_are_refused(tmp_path: Path) -> None:
    frame = history()
    frame["kw"] = np.where(np.arange(len(frame)) % 2 == 0, 0.0, 60.0)
    assert refusal(tmp_path, frame).startswith("column 'kw' has only 2 distinct reading(s) (0, 60); at least 10")


def test_mostly_stuck_load_is_refused(tmp_path: Path) -> None:
    frame = history()
    frame.loc[: len(frame) * 6 // 10, "kw"] = 42.0  # 60% of the history flat-lined
    message = refusal(tmp_path, frame)
    assert message.startswith("column 'kw' repeats the same value 4 or more hours running on")
    assert "(a stuck sensor)" in message


def test_dates_pandas_cannot_represent_are_refused_as_such(tmp_path: Path) -> None:
    frame = history().astype({"timestamp": str})
    frame.loc[5, "timestamp"] = "12023-01-01 00:00"  # a typo with a fifth digit
    assert refusal(tmp_path, frame) == (
        "column 'timestamp' has 1 date(s) outside what can be represented at line 7 ('12023-01-01 00:00'); "
        "expected dates between 1900-01-01 and 2200-01-01."
    )


def test_a_date_past_2262_is_refused_with_its_line(tmp_path: Path) -> None:
    frame = history().astype({"timestamp": str})
    frame.loc[5, "timestamp"] = "2300-01-01 00:00"
    assert refusal(tmp_path, frame) == (
        "column 'timestamp' has 1 date(s) outside 1900-01-01 to 2200-01-01 at line 7 ('2300-01-01 00:00'); "
        "a forecast from them would run past the dates pandas and MLflow can represent (a typo in the year?)."
    )


def test_dates_whose_forecast_would_overflow_are_refused(tmp_path: Path) -> None:
    frame = history()
    frame["timestamp"] = pd.date_range("2259-01-01", periods=len(frame), freq="h")
    message = refusal(tmp_path, frame)
    assert message.startswith("column 'timestamp' has 17520 date(s) outside 1900-01-01 to 2200-01-01 at line 2")


def first_overload(model: SeasonalTrendForecaster, end: pd.Timestamp, limit: float) -> pd.Timestamp:
    horizon = forecast_index(end, 5)
    return horizon[model.predict(horizon) > limit][0]


@pytest.mark.parametrize("where", [3, 9000, -5])
def test_one_absurd_reading_does_not_move_the_answer(where: int) -> None:
    clean = synthetic_load(years=2)
    spiked = clean.copy()
    spiked.iloc[where, spiked.columns.get_loc("kw")] = 9999.0
    stamps = pd.DatetimeIndex(clean["timestamp"])
    a = SeasonalTrendForecaster().fit(stamps, clean["kw"].to_numpy())
    b = SeasonalTrendForecaster().fit(stamps, spiked["kw"].to_numpy())

    assert b.growth_kw_per_year_ == pytest.approx(a.growth_kw_per_year_, abs=0.02)
    assert b.level_shifts_ == a.level_shifts_
    assert abs(first_overload(b, stamps[-1], 85) - first_overload(a, stamps[-1], 85)) <= pd.Timedelta(days=1)
    assert b.spike_hours_ >= 1


@pytest.mark.skipif(not SHARED_CSV.is_file(), reason=f"reference data absent: {SHARED_CSV}")
@pytest.mark.parametrize("where", [3, 8000, -5])
def test_one_9999_kw_hour_in_the_reference_data_does_not_move_growth_or_overload(tmp_path: Path, where: int) -> None:
    raw = pd.read_csv(SHARED_CSV)
    raw.iloc[where, raw.columns.get_loc("kw")] = 9999
    path = tmp_path / "spiked.csv"
    raw.to_csv(path, index=False)
    clean, _ = load_series(SHARED_CSV)
    spiked, _ = load_series(path)
    a = SeasonalTrendForecaster().fit(clean.index, clean.to_numpy())
    b = SeasonalTrendForecaster().fit(spiked.index, spiked.to_numpy())

    assert b.growth_kw_per_year_ == pytest.approx(a.growth_kw_per_year_, abs=0.02)
    assert abs(first_overload(b, clean.index[-1], 85) - first_overload(a, clean.index[-1], 85)) <= pd.Timedelta(days=1)


def test_gross_outliers_are_only_the_absurd_readings() -> None:
    values = synthetic_load(years=2)["kw"].to_numpy().copy()
    assert not gross_outlier_mask(values).any()  # real peaks, weekends and seasons are never gross
    values[[100, 5000]] = [9999.0, 2500.0]
    assert np.flatnonzero(gross_outlier_mask(values)).tolist() == [100, 5000]


def test_formula_cells_are_neutralized_and_numbers_kept() -> None:
    frame = pd.DataFrame(
        {"transformer_id": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tT", "\rT", "T-1", "'=x"], "kw": range(8)}
    )
    frame.loc[0, "kw"] = -3
    safe = neutralized(frame)
    assert safe["transformer_id"].tolist() == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tT", "'\rT", "T-1", "'=x",
    ]  # fmt: skip
    assert safe["kw"].tolist()[0] == -3
    assert neutralized(safe).equals(safe)  # twice is once


def test_fleet_report_of_formula_ids_is_inert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    from ml.steps import fleet
    from ml.steps.fleet import ERRORS, REPORT, write_outputs

    monkeypatch.setattr(fleet, "fleet_risk_figure", lambda report: Figure())  # the chart is not under test

    report = pd.DataFrame({"rank": [1], "transformer_id": ["=cmd|' /C calc'!A0"]})
    errors = pd.DataFrame({"transformer_id": ["@evil"], "error": ["-bad"]})
    from ml.fleet import pack_models

    write_outputs(tmp_path, report, errors, pack_models([], []), {"n": 0})
    assert (tmp_path / REPORT).read_text().splitlines()[1] == "1,'=cmd|' /C calc'!A0"
    assert (tmp_path / ERRORS).read_text().splitlines()[1] == "'@evil,'-bad"


def test_credentials_leave_the_uri_for_the_environment() -> None:
    uri, env = split_credentials("https://ana%40utility:p%3Ass@mlflow.example:8443/base")
    assert uri == "https://mlflow.example:8443/base"
    assert env == {"MLFLOW_TRACKING_USERNAME": "ana@utility", "MLFLOW_TRACKING_PASSWORD": "p:ss"}
    assert redact("postgresql://u:pw@db/mlflow") == "postgresql://u:***@db/mlflow"
    assert redact("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


class AuthWall(BaseHTTPRequestHandler):
    """A tracking server stand-in that answers every request 401 and records the Authorization headers."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        AuthWall.seen.append(self.headers.get("Authorization", ""))
        self.send_response(401)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def auth_wall() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), AuthWall)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_a_password_in_the_tracking_uri_never_reaches_disk_or_output(
    tmp_path: Path, run_runner: Run, auth_wall: str
) -> None:
    result = run_runner("--tracking-uri", f"http://ana:TOPSECRET@{auth_wall}")

    assert result.returncode == 1  # the stand-in refuses every call; what matters is where the secret went
    assert "TOPSECRET" not in result.stdout + result.stderr
    for path in (tmp_path / ".gridcast").rglob("*"):
        if path.is_file():
            assert b"TOPSECRET" not in path.read_bytes(), path
    plan = json.loads(next((tmp_path / ".gridcast" / "runs").glob("*/plan.json")).read_text())
    assert plan["tracking_uri"] == f"http://{auth_wall}"
    assert "Basic YW5hOlRPUFNFQ1JFVA==" in AuthWall.seen  # base64("ana:TOPSECRET"): it travelled in the env
