"""Benchmark the local pipeline end to end and the fit + 5-year forecast alone, on the seed's data.

    .venv/bin/python bench/pipeline.py [--repeats 5]

Targets (issue 2): whole local pipeline under 15 s on a 2-core machine; fit + 5-year hourly forecast
under 1 s (the seed's Prophet needs about 14 s for the same).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED_CSV = REPO.parent / "shared" / "data" / "peak_load.csv"
sys.path.insert(0, str(REPO))

from ml.evaluate import forecast_index  # noqa: E402
from ml.model import SeasonalTrendForecaster  # noqa: E402
from ml.overload import analyse_overload  # noqa: E402
from ml.steps.data_io import load_series  # noqa: E402


def time_fit_forecast(repeats: int) -> list[float]:
    series, _ = load_series(SEED_CSV)
    horizon = forecast_index(series.index[-1], 5)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model = SeasonalTrendForecaster().fit(series.index, series.to_numpy())
        analyse_overload(model.predict_interval(horizon), 85.0, model.coverage)
        times.append(time.perf_counter() - started)
    return times


def time_pipeline(workdir: Path) -> float:
    runner = Path(sys.executable).with_name("runner")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_HOME")}
    started = time.perf_counter()
    subprocess.run(
        [str(runner), "--backend", "local", "--data", str(SEED_CSV)],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    fit = time_fit_forecast(args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        cold = time_pipeline(Path(tmp))  # creates the MLflow database
        warm = [time_pipeline(Path(tmp)) for _ in range(max(1, args.repeats // 2))]
    rows = [
        ("fit + 5-year hourly forecast + overload analysis", statistics.median(fit), 1.0),
        ("local pipeline, first run (creates the MLflow store)", cold, 15.0),
        ("local pipeline, later runs (median)", statistics.median(warm), 15.0),
    ]
    print(f"{'measurement':<55} {'seconds':>8} {'target':>8}  ok")
    for name, seconds, target in rows:
        print(f"{name:<55} {seconds:>8.2f} {target:>8.1f}  {'yes' if seconds < target else 'NO'}")
    print(f"\ndata: {SEED_CSV} · {os.cpu_count()} cores · python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
