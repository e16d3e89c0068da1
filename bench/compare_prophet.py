"""gridcast against the seed's Prophet, side by side in one run: accuracy against known truth, and speed.

Run from the repository root:  ``python -m bench.compare_prophet``  (needs ``pip install prophet``).

Cases: the reference transformer (../shared/data/peak_load.csv; no known truth, so its test RMSE on
the seed's 80/10/10 split and its first overload are shown), a smooth synthetic suite with known truth
(linear growth, compounding growth, a level step, sensor faults with gaps), and the profile suite
(ml/loadprofiles.py: eight transformers mixed from BDEW-like household, commerce and farm profiles,
grown 2-8%/yr or by kW/yr, 1-4% metering noise, German holidays, Berlin local time). Each suite
compares gridcast (structure chosen by evidence), the previous gridcast model (structure="fourier")
and Prophet. Each synthetic model is
fitted on two years and scored over the next five against the noise-free expected load; the
first-overload error is between the first hour the forecast and the truth cross the limit.
Time is fit + 5-year forecast: Prophet with its default uncertainty sampling, gridcast with its
interval and the 100-draw first-overload simulation (the full answer each model gives).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# One BLAS thread for both models: timings on a shared 2-core machine are then comparable and
# stable (Stan is single-threaded; gridcast's matrices are too small to gain from threads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings above)
import pandas as pd  # noqa: E402

from ml.evaluate import chronological_split, forecast_index  # noqa: E402
from ml.loadprofiles import PROFILE_SUITE, ProfileCase  # noqa: E402
from ml.model import SeasonalTrendForecaster  # noqa: E402
from ml.scenarios import LoadTruth, history, with_sensor_faults  # noqa: E402
from ml.uncertainty import simulate_overload  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "peak_load.csv"
LIMIT_KW = 85.0
HORIZON_YEARS = 5.0
SUITE = {
    "linear +5 kW/yr": (LoadTruth(growth_kw_per_year=5.0), {}),
    "compound +10%/yr": (LoadTruth(compound_pct_per_year=10.0), {}),
    "step +8 kW, +3 kW/yr": (LoadTruth(growth_kw_per_year=3.0, shift_kw=8.0, shift_at="2024-05-01"), {}),
    "gaps+spikes+flat-lines": (LoadTruth(growth_kw_per_year=5.0), {"gaps": 30, "spikes": 40, "flatlines": 6}),
}


@dataclass(frozen=True)
class Fitted:
    predicted: np.ndarray
    seconds: float


def _import_prophet():  # type: ignore[no-untyped-def]
    try:
        from prophet import Prophet
    except ImportError:
        sys.exit("bench.compare_prophet needs Prophet, a benchmark-only dependency: pip install prophet")
    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return Prophet


def fit_prophet(series: pd.Series, future: pd.DatetimeIndex) -> Fitted:
    """The seed's settings: daily + weekly + yearly seasonality, additive, default uncertainty samples."""
    prophet_cls = _import_prophet()
    started = time.perf_counter()
    model = prophet_cls(daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=True)
    model.fit(pd.DataFrame({"ds": series.index, "y": series.to_numpy()}).dropna())
    forecast = model.predict(pd.DataFrame({"ds": future}))
    return Fitted(forecast["yhat"].to_numpy(), time.perf_counter() - started)


def _gridcast(series: pd.Series, future: pd.DatetimeIndex, limit_kw: float = LIMIT_KW, **options: object) -> Fitted:
    started = time.perf_counter()
    model = SeasonalTrendForecaster(**options).fit(series.index, series.to_numpy())  # type: ignore[arg-type]
    forecast = model.predict_interval(future)
    simulate_overload(model, future, limit_kw)
    return Fitted(forecast["predicted_kw"].to_numpy(), time.perf_counter() - started)


def fit_gridcast(series: pd.Series, future: pd.DatetimeIndex) -> Fitted:
    return _gridcast(series, future)


def fit_previous(series: pd.Series, future: pd.DatetimeIndex) -> Fitted:
    return _gridcast(series, future, structure="fourier")


MODELS: dict[str, Callable[[pd.Series, pd.DatetimeIndex], Fitted]] = {
    "prophet": fit_prophet,
    "gridcast": fit_gridcast,
    "gridcast-fourier": fit_previous,
}


def first_crossing(stamps: pd.DatetimeIndex, values: np.ndarray, limit_kw: float = LIMIT_KW) -> pd.Timestamp | None:
    over = values > limit_kw
    return stamps[over.argmax()] if over.any() else None


def days_apart(a: pd.Timestamp | None, b: pd.Timestamp | None, horizon_end: pd.Timestamp) -> float:
    """Absolute error in days; a crossing missed within the horizon counts as happening at its end."""
    a, b = a or horizon_end, b or horizon_end
    return abs((a - b) / pd.Timedelta(days=1))


def synthetic_rows(name: str, truth: LoadTruth, faults: dict[str, int], seed: int) -> list[dict[str, object]]:
    series = history(truth, seed)
    if faults:
        series, _ = with_sensor_faults(series, seed, **faults)
    future = forecast_index(series.index[-1], HORIZON_YEARS)
    expected = truth.expected(future)
    true_first = first_crossing(future, expected)
    rows = []
    for model, fit in MODELS.items():
        fitted = fit(series, future)
        rows.append(
            {
                "case": name,
                "model": model,
                "rmse_vs_truth_5y_kw": float(np.sqrt(np.mean((fitted.predicted - expected) ** 2))),
                "first_overload_error_days": days_apart(
                    first_crossing(future, fitted.predicted), true_first, future[-1]
                ),
                "fit_forecast_s": fitted.seconds,
            }
        )
    return rows


def reference_rows() -> list[dict[str, object]]:
    """The real transformer: seed's 80/10/10 test RMSE and the first overload from a fit on all history."""
    frame = pd.read_csv(REFERENCE, usecols=["timestamp", "kw"])
    series = pd.Series(frame["kw"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["timestamp"])))
    split = chronological_split(series)
    future = forecast_index(series.index[-1], HORIZON_YEARS)
    rows = []
    for model, fit in MODELS.items():
        held_out = fit(split.train, split.test.index)
        full = fit(series, future)
        first = first_crossing(future, full.predicted)
        rows.append(
            {
                "case": "reference peak_load.csv",
                "model": model,
                "test_rmse_kw": float(np.sqrt(np.mean((held_out.predicted - split.test.to_numpy()) ** 2))),
                "first_overload": f"{first:%Y-%m-%d %H:%M}" if first is not None else "none",
                "fit_forecast_s": full.seconds,
            }
        )
    return rows


def profile_rows(case: ProfileCase, seed: int) -> list[dict[str, object]]:
    """One profile transformer: median error in % of load against the truth over 5 years, first overload."""
    series = case.truth.history(seed)
    future = forecast_index(series.index[-1], HORIZON_YEARS)
    expected = case.truth.expected(future)
    limit = case.truth.limit_crossed_after(future, case.crossing_years)
    over = expected > limit
    true_first = future[over.argmax()]
    zone = {"holidays": case.truth.holidays, "timezone": case.truth.timezone}
    fits = {
        "prophet": lambda: fit_prophet(series, future),
        "gridcast": lambda: _gridcast(series, future, limit, **zone),
        "gridcast-fourier": lambda: _gridcast(series, future, limit, structure="fourier"),
    }
    rows = []
    for model, fit in fits.items():
        fitted = fit()
        first = first_crossing(future, fitted.predicted, limit)
        rows.append(
            {
                "case": case.name,
                "model": model,
                "median_error_pct": float(np.median(np.abs(fitted.predicted - expected) / expected) * 100),
                "first_overload_error_days": days_apart(first, true_first, future[-1]),
                "fit_forecast_s": fitted.seconds,
            }
        )
    return rows


def side_by_side(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per case: each metric for each model and the Prophet/gridcast ratio (>1: gridcast better)."""
    wide = rows.pivot(index="case", columns="model")
    out = pd.DataFrame(index=wide.index)
    for metric in ("rmse_vs_truth_5y_kw", "median_error_pct", "first_overload_error_days", "fit_forecast_s"):
        if metric not in wide:
            continue
        out[f"{metric} prophet"] = wide[metric]["prophet"]
        out[f"{metric} previous"] = wide[metric]["gridcast-fourier"]
        out[f"{metric} gridcast"] = wide[metric]["gridcast"]
        ratio = wide[metric]["prophet"] / wide[metric]["gridcast"].where(wide[metric]["gridcast"] > 0, np.nan)
        out[f"{metric} ratio"] = ratio
    return out


def main(seed: int = 7) -> None:
    _import_prophet()
    reference = pd.DataFrame(reference_rows())
    suite = pd.DataFrame(
        [row for name, (truth, faults) in SUITE.items() for row in synthetic_rows(name, truth, faults, seed)]
    )
    pd.set_option("display.width", 250)
    print(
        "Reference transformer (no known truth; the seed reported test RMSE 2.09 kW, first overload 2027-11-26 23:00)"
    )
    print(reference.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nSynthetic suite, 2 years of history, scored over the next 5 years against the noise-free truth")
    print(side_by_side(suite).to_string(float_format=lambda v: f"{v:.2f}"))
    profiles = pd.DataFrame([row for seed, case in enumerate(PROFILE_SUITE) for row in profile_rows(case, seed)])
    print("\nProfile suite (BDEW-like H0/G0/L0 mixes), 2 years of history, 5 years scored against the noise-free truth")
    print(
        side_by_side(profiles)
        .drop(columns=[c for c in side_by_side(profiles) if c.endswith("ratio")])
        .to_string(float_format=lambda v: f"{v:.2f}")
    )
    summary = profiles.groupby("model").agg(
        median_error_pct=("median_error_pct", "median"),
        worst_error_pct=("median_error_pct", "max"),
        first_overload_within_60_days=("first_overload_error_days", lambda d: int((d <= 60).sum())),
        fit_forecast_s_max=("fit_forecast_s", "max"),
    )
    print(
        f"\nProfile suite summary (targets: median error <= 3%, first overload within 60 days for >= 7 of "
        f"{len(PROFILE_SUITE)}, fit + forecast < 0.2 s)"
    )
    print(summary.to_string(float_format=lambda v: f"{v:.2f}"))
    speed = reference.set_index("model")["fit_forecast_s"]
    print(
        f"\nreference fit + 5-year forecast: prophet {speed['prophet']:.2f} s, gridcast {speed['gridcast']:.3f} s "
        f"({speed['prophet'] / speed['gridcast']:.0f}x faster)"
    )


if __name__ == "__main__":
    main()
