"""The short human summary every backend prints at the end, read from the downloaded outputs."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _date(value: str | None) -> str:
    return value.replace("T", " ")[:16] if value else "none within the horizon"


def _distribution_line(report: dict) -> str:
    """P10/P50/P90 of the first overload under the model's uncertainty, and its chance by each year end."""
    quantiles = " / ".join(_date(report[f"first_overload_p{q}"])[:10] for q in (10, 50, 90))
    by_year = ", ".join(f"{year} {p:.0%}" for year, p in report.get("p_overload_by_year_end", {}).items())
    return f"P10/P50/P90 {quantiles}; chance by year end: {by_year}"


def _hourly_band_line(report: dict) -> str:
    """When single hours may cross (noise included), which comes before the expected load does."""
    coverage = f"{report['interval_coverage']:.0%}"
    latest = report["first_overload_latest"]
    return (
        f"first hour over the limit: from {_date(report['first_overload_earliest'])} (upper {coverage} band), "
        f"{'by ' + _date(latest) if latest else 'not certain within the horizon'} (lower band)"
    )


def _since_last_line(changes: dict) -> str:
    """How the previous forecast did on the hours observed since, and how far the answer moved."""
    parts = [f"previous run {changes.get('previous_run_id')} (v{changes.get('previous_model_version')})"]
    scored = changes.get("previous_forecast_on_new_data")
    if scored:
        parts.append(
            f"its forecast on {scored['overlap_hours']:,} new hours: RMSE {scored['forecast_rmse_kw']:.2f} kW, "
            f"bias {scored['forecast_bias_kw']:+.2f} kW"
        )
    moved = changes.get("moved_days") or {}
    if moved.get("first_overload_at") is not None:
        window = ", ".join(
            f"P{q} {moved[f'first_overload_p{q}']:+.0f}"
            for q in (10, 90)
            if moved.get(f"first_overload_p{q}") is not None
        )
        parts.append(
            f"first overload moved {moved['first_overload_at']:+.0f} days" + (f" ({window})" if window else "")
        )
    elif changes.get("note"):
        parts.append(str(changes["note"]))
    return "; ".join(parts)


def summary_table(output_dir: Path) -> Table:
    report = json.loads((output_dir / "overload_report.json").read_text())
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    if report.get("transformer_id"):
        table.add_row("transformer", report["transformer_id"])
    challenger = report.get("challenger")
    if challenger:
        verdict = "promoted to champion" if challenger["promoted"] else "REJECTED, champion kept"
        table.add_row("challenger", f"v{challenger['candidate_version']} {verdict}: {challenger['reason']}")
    table.add_row(
        "model", f"{report['model_uri']} (v{report['model_version']}), growth {report['growth_kw_per_year']:+.2f} kW/yr"
    )
    table.add_row("horizon", f"{_date(report['horizon_start'])} to {_date(report['horizon_end'])}, hourly")
    coverage = f"{report['interval_coverage']:.0%}"
    trend = f", {report['trend']} growth" if report.get("trend") else ""
    table.add_row("first overload", f"{_date(report['first_overload_at'])} (expected load over the limit{trend})")
    if report.get("simulation_draws"):
        table.add_row("how sure", _distribution_line(report))
    if report["first_overload_earliest"]:
        table.add_row("hourly noise", _hourly_band_line(report))
    if report.get("level_shifts"):
        shifts = ", ".join(f"{_date(s['at'])[:10]} {s['size_kw']:+.1f} kW" for s in report["level_shifts"])
        table.add_row("level shifts", shifts)
    low, high = report["overload_hours_range"]
    table.add_row(
        f"hours > {report['limit_kw']:g} kW",
        f"{report['overload_hours']:,} ({coverage} interval {low:,} to {high:,}) "
        f"in {report['overload_episodes']:,} episodes"
        + (
            f"; {report['expected_overload_hours']:,.0f} expected with hourly noise"
            if report.get("expected_overload_hours") is not None
            else ""
        ),
    )
    table.add_row("peak", f"{report['max_predicted_kw']:.1f} kW at {_date(report['max_predicted_at'])}")
    if report.get("since_last_run"):
        table.add_row("since last run", _since_last_line(report["since_last_run"]))
    table.add_row("data repairs", "; ".join(report.get("data_repairs") or []) or "none needed")
    table.add_row("data sha256", report["data_sha256"])
    table.add_row("MLflow run", report["run_id"])
    return table


def print_summary(console: Console, output_dir: Path, files: list[Path]) -> None:
    table = summary_table(output_dir)
    table.add_row("outputs", "\n".join(str(f.resolve()) for f in files))
    console.print(table)
