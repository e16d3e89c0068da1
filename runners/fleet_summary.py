"""What ``runner fleet`` prints at the end, read from the merged outputs it brought home."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console

SHOWN = 10
COLUMNS = [
    "rank",
    "transformer_id",
    "limit_kw",
    "first_overload_p10",
    "first_overload_p50",
    "first_overload_p90",
    "decision",
    "model_version",
]


def print_fleet_summary(console: Console, output_dir: Path, files: list[Path]) -> None:
    """The riskiest transformers, how many could not be forecast (and where the reasons are), the files."""
    manifest = json.loads((output_dir / "fleet_manifest.json").read_text())
    report = pd.read_csv(output_dir / "fleet_report.csv", dtype=str, keep_default_na=False)
    console.print(
        f"{manifest['forecast']:,} of {manifest['transformers']:,} transformers forecast, "
        f"{manifest['overloading_within_horizon']:,} overload within the horizon (P50), "
        f"{manifest['failed']:,} could not be forecast (reasons in fleet_errors.csv)",
        markup=False,
        soft_wrap=True,
    )
    if "model_version" in manifest:
        console.print(
            f"fleet {manifest['fleet']}: version {manifest['model_version']} of {manifest['model_name']} is the "
            f"champion; {manifest['promoted']:,} answered by this run's fit, {manifest['kept']:,} by the champion the "
            f"gate kept (their version in the report), {manifest['refused']:,} refused with no champion",
            markup=False,
            soft_wrap=True,
        )
    if not report.empty:
        shown = report[[c for c in COLUMNS if c in report.columns]].head(SHOWN)
        console.print(shown.to_string(index=False), markup=False, soft_wrap=True)
    console.print(f"outputs in {output_dir}: {', '.join(f.name for f in files)}", markup=False, soft_wrap=True)
