"""The one picture a planner looks at: history, forecast band, the limit and the first overload."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: containers and CI have no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ml.overload import OverloadReport


def forecast_figure(
    history: pd.Series,
    forecast: pd.DataFrame,
    report: OverloadReport,
    level_shifts: list[dict[str, Any]] | None = None,
    subject: str | None = None,
) -> Figure:
    """Daily peaks (hourly points would be a solid smear over seven years) with the interval band.

    Detected level shifts are marked where they start; the simulated P10-P90 window of the first
    overload is shaded, because that window, not one date, is what an upgrade is scheduled against.
    """
    hist_daily = history.resample("D").max()
    fc = forecast.set_index("timestamp")[["predicted_kw", "lower_kw", "upper_kw"]].resample("D").max()

    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=110)
    ax.plot(hist_daily.index, hist_daily.to_numpy(), color="#555555", lw=0.8, label="observed daily peak")
    ax.fill_between(
        fc.index,
        fc["lower_kw"],
        fc["upper_kw"],
        color="#4C78A8",
        alpha=0.25,
        label=f"{report.interval_coverage:.0%} interval (daily peak)",
    )
    ax.plot(fc.index, fc["predicted_kw"], color="#4C78A8", lw=1.0, label="forecast daily peak")
    _mark_level_shifts(ax, level_shifts or [])
    _shade_first_overload_window(ax, report)
    ax.axhline(report.limit_kw, color="#E45756", lw=1.5, ls="--", label=f"limit {report.limit_kw:g} kW")
    if report.first_overload_at:
        first = pd.Timestamp(report.first_overload_at)
        ax.axvline(first, color="#E45756", lw=1.0)
        ax.annotate(
            f"first overload\n{first:%Y-%m-%d %H:%M}",
            xy=(first, report.limit_kw),
            xytext=(10, 25),
            textcoords="offset points",
            color="#E45756",
            fontweight="bold",
            arrowprops={"arrowstyle": "->", "color": "#E45756"},
        )
    headline = _headline(report)
    ax.set_title(f"{subject}: {headline}" if subject else headline, loc="left", fontsize=12)
    ax.set_ylabel("peak load (kW)")
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def _mark_level_shifts(ax: plt.Axes, level_shifts: list[dict[str, Any]]) -> None:
    for i, shift in enumerate(level_shifts):
        at = pd.Timestamp(str(shift["at"]))
        label = "level shift" if i == 0 else None
        ax.axvline(at, color="#F58518", lw=1.2, ls=":", label=label)
        ax.annotate(
            f"{float(shift['size_kw']):+.1f} kW",
            xy=(at, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -14),
            textcoords="offset points",
            color="#F58518",
            fontsize=9,
        )


def _shade_first_overload_window(ax: plt.Axes, report: OverloadReport) -> None:
    if not report.first_overload_p10:
        return
    end = pd.Timestamp(report.first_overload_p90 or report.horizon_end)
    ax.axvspan(
        pd.Timestamp(report.first_overload_p10),
        end,
        color="#E45756",
        alpha=0.12,
        label="first overload P10-P90 (simulated)",
    )


def _headline(report: OverloadReport) -> str:
    if not report.first_overload_at:
        return f"No overload of the {report.limit_kw:g} kW limit forecast before {report.horizon_end[:10]}"
    latest = (report.first_overload_latest or "beyond the horizon")[:10]
    spread = f"hourly-load interval {str(report.first_overload_earliest)[:10]} to {latest}"
    if report.first_overload_p10:
        spread = f"P10-P90 {report.first_overload_p10[:10]} to {(report.first_overload_p90 or 'later')[:10]}; " + spread
    return (
        f"First overload {report.first_overload_at[:10]} ({spread})\n"
        f"{report.overload_hours:,} h over {report.limit_kw:g} kW forecast, peak {report.max_predicted_kw:.1f} kW"
    )


SEASON_DAYS = {"winter": "01-15", "spring": "04-15", "summer": "07-15", "autumn": "10-15"}
DAY_TYPE_COLOURS = {"working day": "#4C78A8", "Saturday": "#F58518", "Sunday/holiday": "#54A24B"}


def typical_days(model: Any, history: pd.Series) -> pd.DataFrame:
    """The learned typical day per season and day type, at the level of the last history year, beside the
    observed mean of the same local hours: columns season, day_type, hour, model_kw, observed_kw.

    The model's day is its forecast for a real date of that type nearest the middle of the season
    (a Wednesday, a Saturday, a Sunday), so it is exactly what the forecast uses, Fourier or profile.
    """
    from ml.calendar import DAY_TYPES, day_types, local_clock, seasons

    zone = getattr(model, "timezone", None)
    clock = local_clock(pd.DatetimeIndex(history.index), zone)
    last_year = clock >= clock[-1] - pd.Timedelta(days=365)
    observed = pd.DataFrame(
        {
            "season": np.asarray(seasons(clock)),
            "day_type": day_types(clock, getattr(model, "holidays", None)),
            "hour": clock.hour,
            "kw": history.to_numpy(),
        }
    )[last_year]
    observed_mean = observed.groupby(["season", "day_type", "hour"])["kw"].mean()
    rows = []
    year = clock[-1].year if clock[-1].month >= 7 else clock[-1].year - 1
    for s, (season, month_day) in enumerate(SEASON_DAYS.items()):
        middle = pd.Timestamp(f"{year + (season == 'winter')}-{month_day}")
        for d, (weekday, name) in enumerate(zip((2, 5, 6), DAY_TYPES, strict=True)):
            day = middle + pd.Timedelta(days=(weekday - middle.day_of_week) % 7)
            local = pd.date_range(day, periods=24, freq="h")
            stamps = local if zone is None else local.tz_localize(zone, nonexistent="shift_forward", ambiguous=True)
            stamps = stamps if zone is None else stamps.tz_convert("UTC").tz_localize(None)
            for hour, kw in enumerate(model.predict(stamps)):
                rows.append(
                    {
                        "season": season,
                        "day_type": name,
                        "hour": hour,
                        "model_kw": float(kw),
                        "observed_kw": float(observed_mean.get((s, d, hour), np.nan)),
                    }
                )
    return pd.DataFrame(rows)


def typical_day_figure(model: Any, history: pd.Series) -> Figure:
    """Four panels (seasons), one line per day type: why the peak lands where it does."""
    table = typical_days(model, history)
    fig, axes = plt.subplots(1, 4, figsize=(14, 4), dpi=110, sharey=True)
    for ax, (season, part) in zip(axes, table.groupby("season", sort=False), strict=True):
        for day_type, line in part.groupby("day_type", sort=False):
            colour = DAY_TYPE_COLOURS[str(day_type)]
            ax.plot(line["hour"], line["model_kw"], color=colour, lw=1.8, label=f"{day_type} (model)")
            ax.plot(line["hour"], line["observed_kw"], color=colour, lw=0.9, ls=":", label=f"{day_type} (observed)")
        ax.set_title(str(season))
        ax.set_xticks([0, 6, 12, 18, 23])
        ax.set_xlabel("local hour" if getattr(model, "timezone", None) else "hour")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("load (kW)")
    axes[-1].legend(fontsize=7, frameon=False, loc="upper left")
    structure = getattr(model, "structure_", "fourier")
    fig.suptitle(
        f"Typical day per season and day type as learned ({structure}), beside last year's observed mean",
        fontsize=11,
    )
    fig.tight_layout()
    return fig
