"""Fleet: forecast many transformers in one step run, one model artifact, one risk ranking.

Input is a long CSV with ``transformer_id,timestamp,kw`` or a folder of ``<transformer_id>.csv`` files
(``timestamp,kw``). With ``--shard-index i --shard-count n`` only the transformers whose sha256(id) mod n
is i are read and forecast, into ``OUT/shard-i-of-n``; ``fleet-merge`` combines the shards into the
ranking an unsharded run would have written.

Outputs (and MLflow artifacts of the one run): ``fleet_report.csv`` (riskiest first), ``fleet_risk.png``,
``fleet_errors.csv`` (transformers that could not be forecast, and why), ``fleet_manifest.json`` and
the single model artifact ``model/fleet_model.npz`` holding every transformer's fitted state
(:func:`ml.fleet.unpack_models` rebuilds the estimators; no pickle involved).

Every transformer goes through the single run's gate (:mod:`ml.gate`) against its own champion,
found in the fleet's registered model (:mod:`ml.steps.fleet_registry`): the report says per
transformer which model version answered and why (``promoted``: this run's fit; ``kept``: the
champion's, named by version; refused ones, with no champion to answer, are in ``fleet_errors.csv``).
The merge registers one new version holding every transformer's answering fit (and the champions of
transformers this run did not forecast) and makes it the fleet's champion, if no other run did so
meanwhile.

Exit rule: the step fails (exit 2) only when *every* transformer failed; otherwise it succeeds and
the failures are in ``fleet_errors.csv``, in the summary line and in the ``failed`` metric.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from ml.fleet import (
    ERROR_COLUMNS,
    FLEET_DRAWS,
    ID,
    KEPT,
    PROMOTED,
    REPORT_COLUMNS,
    FleetResult,
    check_shard,
    fleet_risk_figure,
    forecast_fleet,
    merge_packed,
    model_state,
    pack_models,
    parse_limits,
    rank_fleet,
    resolve_limits,
)
from ml.gate import Gate
from ml.steps import cluster, fleet_input
from ml.steps.csv_safe import neutralized
from ml.steps.data_io import read_raw, sha256
from ml.steps.fleet_input import fleet_name_for, read_table
from ml.steps.fleet_registry import fleet_model_name, load_champions, register_fleet_version
from ml.steps.progress import reporter
from ml.steps.tracking import step_run
from ml.validation import DataValidationError

REPORT, ERRORS, CHART, MODEL, MANIFEST = (
    "fleet_report.csv",
    "fleet_errors.csv",
    "fleet_risk.png",
    "fleet_model.npz",
    "fleet_manifest.json",
)


class FleetFailedError(DataValidationError):
    """Not one transformer of the fleet (or shard) could be forecast."""


def shard_dir(out: Path, shard_index: int, shard_count: int) -> Path:
    """Shards share one output location (a cloud job's instances upload to one prefix): one subfolder each."""
    return out if shard_count == 1 else out / f"shard-{shard_index:03d}-of-{shard_count:03d}"


def discover(
    data: Path, shard_index: int = 0, shard_count: int = 1, take_all: bool = False
) -> tuple[list[tuple[str, object]], bool, list[str]]:
    """This shard's ``(transformer_id, source)`` pairs, whether sources are paths, and the fingerprinted files."""
    found = fleet_input.discover(data, shard_index, shard_count, take_all)
    return found.items, found.load is read_table, [str(f) for f in found.files]


def fingerprint(files: list[str]) -> str:
    """sha256 of the one file, or of the per-file digests in name order for a folder."""
    if len(files) == 1:
        return sha256(Path(files[0]))
    return combine_digests([(Path(name).name, sha256(Path(name))) for name in files])


def combine_digests(named: list[tuple[str, str]]) -> str:
    """The folder fingerprint from ``(file name, sha256)`` pairs; shards that each saw some files agree on it."""
    digest = hashlib.sha256()
    for name, file_digest in sorted(named):
        digest.update(f"{name}\0{file_digest}\n".encode())
    return digest.hexdigest()


def load_limits(path: Path) -> dict[str, float]:
    return parse_limits(read_raw(path), str(path))


def run_fleet(
    data: Path,
    limits: Path,
    out: Path,
    horizon_years: float = 5.0,
    jobs: int | None = None,
    shard_index: int | str = 0,
    shard_count: int = 1,
    default_limit_kw: float | None = None,
    draws: int = FLEET_DRAWS,
    pipeline_run_id: str | None = None,
    fleet: str | None = None,
    gate: Gate | None = None,
) -> dict[str, object]:
    """Forecast this shard of the fleet through the gate, write the outputs, log one MLflow run; the manifest."""
    place = cluster.resolve(str(shard_index), shard_count, data)
    shard_index = place.index
    try:
        check_shard(shard_index, shard_count)
    except ValueError as exc:
        raise DataValidationError(str(exc)) from None
    found = fleet_input.discover(data, shard_index, shard_count, place.take_all)
    items, files = found.items, [str(f) for f in found.files]
    limit_of = resolve_limits([tid for tid, _ in items], load_limits(limits), default_limit_kw, str(limits))
    digest = fingerprint(files)
    fleet = fleet_name_for(data, fleet)
    print(f"shard {shard_index + 1} of {shard_count} ({place.source}): {len(items)} transformers", flush=True)
    with step_run("fleet", pipeline_run_id, finishes_pipeline=pipeline_run_id is not None and shard_count == 1):
        judged, champions = load_champions(fleet, {tid for tid, _ in items})
        result = forecast_fleet(
            items,
            limit_of,
            found.load,
            horizon_years,
            draws=draws,
            n_jobs=jobs,
            progress=reporter(len(items)),
            gate=gate,
            champions=champions,
        )
        target = shard_dir(out, shard_index, shard_count)
        manifest: dict[str, object] = {
            "transformers": len(items),
            "forecast": len(result.forecasts),
            "failed": len(result.failures),
            "overloading_within_horizon": int(sum(f.row["first_overload_p50"] is not None for f in result.forecasts)),
            "shard_index": shard_index,
            "shard_count": shard_count,
            "horizon_years": horizon_years,
            "simulation_draws": draws,
            "data_sha256": digest,
            "fleet": fleet,
            "model_name": fleet_model_name(fleet),
            "judged_against": judged.version if judged else None,
            **decision_counts(result),
        }
        if place.take_all:  # this instance saw only its files: the merge rebuilds the folder's fingerprint
            manifest["data_files"] = [[Path(f).name, sha256(Path(f))] for f in files]
        report = result.report()
        packed = pack_models(
            [str(f.row[ID]) for f in result.forecasts],
            [f.params for f in result.forecasts],
            [f.version for f in result.forecasts],
        )
        write_outputs(target, report, result.errors(), packed, manifest)
        mlflow.log_params(
            {
                "data": str(data),
                "limits": str(limits),
                "input_layout": found.layout,
                "horizon_years": horizon_years,
                "simulation_draws": draws,
                "jobs": jobs or "all cores",
                "shard_index": shard_index,
                "shard_count": shard_count,
                "default_limit_kw": default_limit_kw,
                "fleet": fleet,
            }
        )
        log_outputs(target, manifest, limits)
        _refuse_if_all_failed(result, data)
    return manifest | {"out": str(target)}


def decision_counts(result: FleetResult) -> dict[str, int]:
    """How many transformers this run's fit answers for, how many a kept champion, how many nothing."""
    decisions = [f.row["decision"] for f in result.forecasts]
    return {
        "promoted": decisions.count(PROMOTED),
        "kept": decisions.count(KEPT),
        "refused": sum(f.refused for f in result.failures),
    }


def _refuse_if_all_failed(result: FleetResult, data: Path) -> None:
    if result.failures and not result.forecasts:
        first = result.failures[0].error
        raise FleetFailedError(
            f"{data}: none of the {len(result.failures)} transformer(s) could be forecast (see {ERRORS}); "
            f"first: {first}"
        )


def write_outputs(
    out: Path, report: pd.DataFrame, errors: pd.DataFrame, packed: dict[str, np.ndarray], manifest: dict[str, object]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / MODEL, **packed)  # type: ignore[arg-type]  # numpy's stub mistypes **arrays
    write_reports(out, report, errors, manifest)


def write_reports(out: Path, report: pd.DataFrame, errors: pd.DataFrame, manifest: dict[str, object]) -> None:
    """Everything but the model artifact: the merge writes these again once the version is known, and
    does not compress every transformer's state a second time."""
    neutralized(report).to_csv(out / REPORT, index=False)  # ids and messages come from user files
    neutralized(errors).to_csv(out / ERRORS, index=False)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    figure = fleet_risk_figure(report)
    figure.savefig(out / CHART, dpi=110)  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]


def log_outputs(out: Path, manifest: dict[str, object], limits: Path | None = None) -> None:
    """The one model artifact, the reports, counts as metrics and the input fingerprint as tags."""
    mlflow.log_metrics(
        {k: float(manifest[k]) for k in ("transformers", "forecast", "failed", "overloading_within_horizon")}  # type: ignore[arg-type]
    )
    tags = {
        "data_sha256": str(manifest["data_sha256"]),
        "shard": f"{manifest['shard_index']}/{manifest['shard_count']}",
    }
    if limits is not None:
        tags["limits_sha256"] = sha256(limits)
    mlflow.set_tags(tags)
    mlflow.log_artifact(str(out / MODEL), artifact_path="model")
    for name in (REPORT, ERRORS, CHART, MANIFEST):
        mlflow.log_artifact(str(out / name), artifact_path="outputs")


def find_parts(parts: list[Path]) -> list[Path]:
    """Each given folder is a part (it holds a manifest) or holds parts one level down (shard-*)."""
    found: list[Path] = []
    for path in parts:
        if (path / MANIFEST).is_file():
            found.append(path)
            continue
        below = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
        if not below:
            raise FileNotFoundError(f"{path}: no {MANIFEST} here or in its subfolders; is it a fleet step's --out?")
        found += below
    return found


def merge_fleet(parts: list[Path], out: Path, pipeline_run_id: str | None = None) -> dict[str, object]:
    """Combine shard outputs into one ranking, one errors table, one model artifact; log one run."""
    folders = find_parts(parts)
    manifests = [json.loads((p / MANIFEST).read_text()) for p in folders]
    counts = {m["shard_count"] for m in manifests}
    indices = sorted(m["shard_index"] for m in manifests)
    if len(counts) != 1 or indices != list(range(next(iter(counts)))):
        raise DataValidationError(
            f"shards do not make one fleet: found shard indices {indices} of counts {sorted(counts)} in "
            f"{', '.join(map(str, folders))}; expected each of 0..n-1 exactly once."
        )
    if all("data_files" in m for m in manifests):  # the cluster split the files: one fingerprint from all
        data_sha256 = combine_digests([(name, d) for m in manifests for name, d in m["data_files"]])
        manifests = [m | {"data_sha256": data_sha256} for m in manifests]
    if len({(m["horizon_years"], m["simulation_draws"], m["data_sha256"]) for m in manifests}) != 1:
        raise DataValidationError("shards were run on different data, horizons or draws; they cannot be merged")
    if len({(m["fleet"], m["judged_against"]) for m in manifests}) != 1:
        raise DataValidationError(
            "shards were judged for different fleets or against different champion versions "
            f"({sorted({(m['fleet'], str(m['judged_against'])) for m in manifests})}); they cannot be merged"
        )
    fleet, judged_against = manifests[0]["fleet"], manifests[0]["judged_against"]
    reports = [pd.read_csv(p / REPORT, dtype={ID: str, "model_version": str}) for p in folders]
    report = (
        rank_fleet(pd.concat([r for r in reports if not r.empty], ignore_index=True))
        if any(not r.empty for r in reports)
        else pd.DataFrame(columns=REPORT_COLUMNS)
    )
    errors = pd.concat([pd.read_csv(p / ERRORS, dtype={ID: str}) for p in folders], ignore_index=True)
    errors = errors.reindex(columns=ERROR_COLUMNS).sort_values(ID, ignore_index=True)
    shard_models = [dict(np.load(p / MODEL, allow_pickle=False)) for p in folders]
    manifest = {
        "transformers": sum(m["transformers"] for m in manifests),
        "forecast": len(report),
        "failed": len(errors),
        "overloading_within_horizon": int(report["first_overload_p50"].notna().sum()),
        "shard_index": 0,
        "shard_count": 1,
        "merged_shards": len(folders),
        "horizon_years": manifests[0]["horizon_years"],
        "simulation_draws": manifests[0]["simulation_draws"],
        "data_sha256": manifests[0]["data_sha256"],
        "fleet": fleet,
        "model_name": manifests[0]["model_name"],
        "judged_against": judged_against,
        **{key: sum(m[key] for m in manifests) for key in ("promoted", "kept", "refused")},
    }
    with step_run("fleet-merge", pipeline_run_id, finishes_pipeline=pipeline_run_id is not None):
        answered = {str(t) for part in shard_models for t in part["transformer_id"]}
        _, previous = load_champions(fleet, None)
        carried = {tid: member for tid, member in previous.items() if tid not in answered}
        packed = merge_packed(
            [
                *shard_models,
                pack_models(
                    list(carried),
                    [model_state(m.model) for m in carried.values()],
                    [m.version for m in carried.values()],
                ),
            ]
        )
        manifest["carried_over"] = len(carried)
        write_outputs(out, report, errors, packed, manifest)
        if len(packed["transformer_id"]):
            registered = register_fleet_version(
                out / MODEL, fleet, judged_against, {f"fleet.{k}": str(manifest[k]) for k in ("promoted", "kept")}
            )
            manifest["model_version"] = registered.version
            report["model_version"] = report["model_version"].fillna(registered.version).replace("", registered.version)
            write_reports(out, report, errors, manifest)
        mlflow.log_params({"parts": ", ".join(map(str, folders))[:6000], "shards": len(folders), "fleet": fleet})
        log_outputs(out, manifest)
    return manifest | {"out": str(out)}
