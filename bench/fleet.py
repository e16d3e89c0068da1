"""Fleet benchmark: 10, 100 and 1,000 transformers x 2 years hourly, fit + 5-year forecast + report.

    .venv/bin/python bench/fleet.py [--sizes 10 100 1000] [--large] [--jobs N] [--format csv|parquet]

``--large`` adds 10,000 transformers (several minutes; written as Parquet to keep the disk use small).
With Prophet installed (requirements/bench.lock) it also times the seed's Prophet on one transformer
(fit + 5-year hourly forecast) and prints the ratio per transformer.

Each size runs in a fresh process (so worker start-up is counted and memory is not carried over); a
thread samples the resident memory of that process and all its workers together (psutil) and the
peak of the sum is reported. Synthetic data (varied level, growth, season, noise and limits) is
written once as a folder of CSVs, which is not timed; the timed part is what the fleet step does
minus MLflow: read, validate, fit, forecast, simulate, rank, write report, chart and model artifact.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOURS = 2 * 365 * 24


def write_fleet(folder: Path, n: int, seed: int = 7, fmt: str = "csv") -> Path:
    """n transformers: base 30-70 kW, growth -1..12 kW/yr, limits 70-120 kW; one file each, plus limits.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2023-01-01", periods=HOURS, freq="h")
    text = stamps.strftime("%Y-%m-%d %H:%M").to_numpy().astype(str)
    hours = np.arange(HOURS) / 8766.0
    daily = np.cos(2 * np.pi * stamps.hour.to_numpy() / 24)
    yearly = np.cos(2 * np.pi * (stamps.day_of_year.to_numpy() - 15) / 365.25)
    limits = []
    for i in range(n):
        base, growth = rng.uniform(30, 70), rng.uniform(-1, 12)
        kw = base + growth * hours + rng.uniform(2, 8) * daily + rng.uniform(4, 12) * yearly
        kw = np.maximum(kw + rng.normal(0, rng.uniform(1, 3), HOURS), 0)
        if fmt == "parquet":
            pd.DataFrame({"timestamp": stamps, "kw": kw.round(2)}).to_parquet(folder / f"TX{i:05d}.parquet")
        else:
            body = "\n".join(np.char.add(np.char.add(text, ","), np.char.mod("%.2f", kw)))
            (folder / f"TX{i:05d}.csv").write_text("timestamp,kw\n" + body + "\n")
        limits.append((f"TX{i:05d}", round(float(rng.uniform(70, 120)), 1)))
    limits_csv = folder.parent / f"limits_{n}.csv"
    pd.DataFrame(limits, columns=["transformer_id", "limit_kw"]).to_csv(limits_csv, index=False)
    return limits_csv


def measure_one(folder: Path, limits: Path, out: Path, jobs: int | None) -> dict[str, float]:
    import psutil

    from ml.fleet import forecast_fleet, pack_models, resolve_limits
    from ml.steps.fleet import discover, load_limits, write_outputs
    from ml.steps.fleet_input import read_table

    me, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            peak[0] = max(peak[0], total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    items, _, _ = discover(folder)
    limit_of = resolve_limits([t for t, _ in items], load_limits(limits), None, str(limits))
    result = forecast_fleet(items, limit_of, read_table, 5.0, n_jobs=jobs)
    report = result.report()
    packed = pack_models([f.row["transformer_id"] for f in result.forecasts], [f.params for f in result.forecasts])  # type: ignore[misc]
    write_outputs(out, report, result.errors(), packed, {"transformers": len(items)})
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return {
        "transformers": len(items),
        "failed": len(result.failures),
        "overloading": int(report["first_overload_p50"].notna().sum()),
        "seconds": seconds,
        "peak_gib": peak[0] / 2**30,
    }


def prophet_seconds(folder: Path) -> float | None:
    """The seed's Prophet on the fleet's first transformer: fit + 5-year hourly forecast (None: not installed)."""
    try:
        from bench.compare_prophet import fit_prophet
    except ImportError:
        return None
    try:
        import prophet  # noqa: F401
    except ImportError:
        return None
    from ml.evaluate import forecast_index
    from ml.steps.fleet_input import read_table
    from ml.validation import validate_load

    first = sorted(folder.iterdir())[0]
    series, _ = validate_load(read_table(first), str(first))
    start = time.perf_counter()
    fit_prophet(series, forecast_index(series.index[-1], 5.0))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--large", action="store_true", help="add 10,000 transformers (several minutes)")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv", help="input files (default csv)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the child: one size, JSON on stdout
        folder = args.workdir / f"fleet_{args.one}"
        print(
            json.dumps(
                measure_one(
                    folder, args.workdir / f"limits_{args.one}.csv", args.workdir / f"out_{args.one}", args.jobs
                )
            )
        )
        return
    from ml.workers import default_jobs

    sizes = [*args.sizes, *([10_000] if args.large and 10_000 not in args.sizes else [])]
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        rows = []
        for n in sizes:
            write_fleet(work / f"fleet_{n}", n, fmt="parquet" if n >= 10_000 else args.format)
            command = [sys.executable, __file__, "--one", str(n), "--workdir", str(work)]
            if args.jobs:
                command += ["--jobs", str(args.jobs)]
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {n} done in {rows[-1]['seconds']:.1f} s", file=sys.stderr)
        prophet_s = prophet_seconds(work / f"fleet_{sizes[0]}")
    jobs = args.jobs or default_jobs()
    print(
        "fleet benchmark: 2 years hourly per transformer, 5-year horizon, 100 draws, "
        f"jobs={args.jobs or default_jobs()}"
    )
    print(
        f"{'transformers':>12} {'failed':>6} {'overload':>8} {'seconds':>8} {'ms/transf.':>10} "
        f"{'ms/tr.·core':>11} {'peak GiB':>8} {'time ratio':>10}"
    )
    for prev, row in zip([None, *rows[:-1]], rows, strict=True):
        ratio = (
            ""
            if prev is None
            else f"{row['seconds'] / prev['seconds']:.1f}x/{row['transformers'] / prev['transformers']:.0f}x"
        )
        print(
            f"{row['transformers']:>12} {row['failed']:>6} {row['overloading']:>8} {row['seconds']:>8.1f} "
            f"{1000 * row['seconds'] / row['transformers']:>10.1f} "
            f"{1000 * row['seconds'] * jobs / row['transformers']:>11.1f} {row['peak_gib']:>8.2f} {ratio:>10}"
        )
    largest = rows[-1]
    per_transformer = largest["seconds"] / largest["transformers"]
    if prophet_s is None:
        print("Prophet: not installed (pip install --require-hashes --no-deps -r requirements/bench.lock)")
    else:
        print(
            f"Prophet (the seed), one transformer, fit + 5-year hourly forecast: {prophet_s:.1f} s; gridcast "
            f"{1000 * per_transformer:.0f} ms per transformer at {largest['transformers']:,} (with simulation and "
            f"report): {prophet_s / per_transformer:.0f}x faster per transformer"
        )


if __name__ == "__main__":
    main()
