"""Through the real train, promote and predict steps: the report and the summary carry the new answers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rich.console import Console

from ml.scenarios import LoadTruth, history, with_sensor_faults


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    from ml.model import SeasonalTrendForecaster
    from ml.steps.predict import predict
    from ml.steps.promote import promote
    from ml.steps.tracking import configure
    from ml.steps.train import train

    root = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDCAST_HOME", str(root / "home"))
        configure(f"sqlite:///{root / 'home' / 'mlflow.db'}")
        truth = LoadTruth(growth_kw_per_year=3.0, shift_kw=8.0, shift_at="2024-05-01")
        series, _ = with_sensor_faults(history(truth, seed=31), seed=31, spikes=12, flatlines=2)
        data = root / "load.csv"
        series.rename_axis("timestamp").reset_index().to_csv(data, index=False, date_format="%Y-%m-%d %H:%M")
        train(data, root / "model", SeasonalTrendForecaster())
        promote(data, root / "model", root / "decision")
        predict(data, root / "out", limit_kw=85.0, horizon_years=5.0, decision_dir=root / "decision")
    return root / "out"


def test_report_has_the_distribution_the_trend_the_step_and_the_repairs(report_dir) -> None:
    report = json.loads((report_dir / "overload_report.json").read_text())
    p10, p50, p90 = (report[f"first_overload_p{q}"] for q in (10, 50, 90))
    assert pd.Timestamp(p10) <= pd.Timestamp(p50) <= pd.Timestamp(p90)
    assert set(report["p_overload_by_year_end"]) >= {"2025", "2029"}
    assert report["expected_overload_hours"] > 0
    assert report["trend"] == "linear" and report["trend_selection"]["runner_up"] == "compound"
    assert report["trend_selection"]["runner_up_first_overload_at"] is not None
    assert sum(report["trend_selection"]["weights"].values()) == pytest.approx(1.0, abs=1e-3)
    (shift,) = report["level_shifts"]
    assert shift["at"].startswith("2024-05-0") and shift["size_kw"] == pytest.approx(8.0, abs=0.6)
    assert report["growth_kw_per_year"] == pytest.approx(3.0, abs=0.3)
    assert report["sensor_faults"]["spike_hours"] >= 10
    assert any("spike" in note for note in report["data_repairs"])
    assert (report_dir / "forecast.png").stat().st_size > 10_000


def test_summary_prints_the_p10_p50_p90_line(report_dir) -> None:
    from runners.summary import summary_table

    console = Console(width=200, record=True)
    console.print(summary_table(report_dir))
    text = console.export_text()
    report = json.loads((report_dir / "overload_report.json").read_text())
    assert "P10/P50/P90" in text and report["first_overload_p50"][:10] in text
    assert "level shifts" in text and "+8." in text
