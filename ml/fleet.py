"""Fleets: forecast every transformer with its own limit, in parallel, and rank them by risk.

Pure logic (no MLflow, no file I/O of its own): the step hands in raw tables, or opaque sources
with a ``load`` function that turns one into a raw table inside the worker, so reading happens
where the work happens and the parent never holds the whole fleet's text at once.

Per transformer the work is kept lean: the design over the horizon is built once (by
:meth:`SeasonalTrendForecaster.draw_sampler`) and serves the point forecast and every coefficient
draw; no interval frame is built. The simulation is the single run's (:func:`ml.uncertainty.simulate_overload`),
with float32 paths.

Failure rule: one transformer's bad data (or a fit that cannot be made) is recorded as a
:class:`TransformerFailure` and the rest of the fleet goes on; the caller decides what a run with
failures means (the step exits non-zero only when every transformer failed, because a partial
ranking of a large fleet is still actionable and the failures are listed next to it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from ml.evaluate import forecast_index, holdout_scores
from ml.findings import chosen_weight, sensor_repairs
from ml.gate import Gate, Scores, challenger_scores, judge
from ml.model import SeasonalTrendForecaster
from ml.overload import point_summary, simulation_summary
from ml.uncertainty import SEED, OverloadSimulation, simulate_overload
from ml.validation import DataPolicy, DataValidationError, validate_load
from ml.workers import default_jobs, run_everywhere

ID = "transformer_id"
LIMIT = "limit_kw"
FLEET_DRAWS = 100
REPORT_COLUMNS = [
    "rank",
    ID,
    LIMIT,
    "first_overload_at",
    "first_overload_p10",
    "first_overload_p50",
    "first_overload_p90",
    "p_overload_within_horizon",
    "expected_overload_hours",
    "max_predicted_kw",
    "max_load_ratio",
    "growth_kw_per_year",
    "growth_pct_per_year",
    "trend",
    "trend_weight",
    "decision",
    "model_version",
    "decision_reason",
    "test_rmse_kw",
    "naive_rmse_kw",
    "level_shifts",
    "data_repairs",
    "history_start",
    "history_end",
    "horizon_end",
]
ERROR_COLUMNS = [ID, "error"]
PROMOTED, KEPT = "promoted", "kept"
THIS_RUN = ""
"""``model_version`` of a fit made by this run: the version is known once the merge registers it."""


# -- identities, sharding, limits -----------------------------------------------------------
def stable_hash(transformer_id: str) -> int:
    """A hash of the id that is the same in every process and on every machine (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha256(transformer_id.encode("utf-8")).digest()[:8], "big")


def shard_of(transformer_id: str, shard_count: int) -> int:
    """Which of ``shard_count`` shards owns this transformer: sha256 of the id, modulo the count."""
    if shard_count < 1:
        raise ValueError(f"shard count must be at least 1, got {shard_count}")
    return stable_hash(transformer_id) % shard_count


def check_shard(shard_index: int, shard_count: int) -> None:
    if shard_count < 1 or not 0 <= shard_index < shard_count:
        raise ValueError(f"shard index {shard_index} is not in 0..{shard_count - 1} (shard count {shard_count})")


def resolve_limits(
    ids: Iterable[str], limits: Mapping[str, float], default_limit_kw: float | None, source: str
) -> dict[str, float]:
    """Each transformer's limit; a transformer with none (and no default) is refused, all named at once."""
    ids = list(ids)
    missing = [tid for tid in ids if tid not in limits]
    if missing and default_limit_kw is None:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DataValidationError(
            f"{source}: no '{LIMIT}' for transformer(s) {shown}; add a '{ID},{LIMIT}' row for each "
            "or pass --default-limit-kw."
        )
    return {tid: float(limits.get(tid, default_limit_kw)) for tid in ids}  # type: ignore[arg-type]


def parse_limits(raw: pd.DataFrame, source: str) -> dict[str, float]:
    """A ``transformer_id,limit_kw`` table (read as text) as a mapping; bad rows named by file line."""
    missing = [c for c in (ID, LIMIT) if c not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{source}: missing column {', '.join(repr(c) for c in missing)}; expected a header '{ID},{LIMIT}' "
            f"(found: {', '.join(map(str, raw.columns)) or 'none'})."
        )
    ids = raw[ID].fillna("").str.strip()
    values = pd.to_numeric(raw[LIMIT].str.strip(), errors="coerce")
    lines = pd.Series(np.arange(len(raw)) + 2, index=raw.index)
    for bad, what in (
        (ids == "", f"an empty '{ID}'"),
        (~(values > 0) | ~np.isfinite(values.fillna(np.inf)), f"a '{LIMIT}' that is not a positive number"),
        (ids.duplicated(keep=False) & (ids != ""), f"a repeated '{ID}'"),
    ):
        if bad.any():
            at = ", ".join(f"line {n}" for n in lines[bad].iloc[:5])
            raise DataValidationError(f"{source}: {int(bad.sum())} row(s) with {what}, at {at}.")
    return dict(zip(ids, values.astype(float), strict=True))


# -- splitting a long table -----------------------------------------------------------------
def split_long_frame(raw: pd.DataFrame, source: str) -> list[tuple[str, pd.DataFrame]]:
    """One raw table per ``transformer_id``, in first-seen order; each keeps its file line numbers
    in a ``_line`` column (given, when ``raw`` was filtered, or counted from 2 after the header) so a
    validation message can point at the line in the original file."""
    if ID not in raw.columns:
        raise DataValidationError(
            f"{source}: missing column '{ID}'; a fleet table needs '{ID},timestamp,kw' "
            f"(found: {', '.join(map(str, raw.columns)) or 'none'}), or pass a folder of one CSV per transformer."
        )
    ids = raw[ID].fillna("").str.strip()
    lines = raw["_line"].to_numpy() if "_line" in raw.columns else np.arange(len(raw)) + 2
    blank = (ids == "").to_numpy()
    if blank.any():
        at = ", ".join(f"line {n}" for n in lines[blank][:5])
        raise DataValidationError(f"{source}: column '{ID}' is empty on {int(blank.sum())} row(s), at {at}.")
    frame = raw.assign(**{ID: ids, "_line": lines})
    return [(str(tid), part) for tid, part in frame.groupby(ID, sort=False)]


_LINE = re.compile(r"\bline (\d+)")
_LINES = re.compile(r"\blines ((?:\d+, )*\d+)")


def _file_lines(message: str, file_lines: np.ndarray) -> str:
    """Rewrite 'line N' (counted within one transformer's rows) to the line in the shared file."""

    def one(n: str) -> str:
        k = int(n) - 2
        return str(int(file_lines[k])) if 0 <= k < len(file_lines) else n

    message = _LINE.sub(lambda m: f"line {one(m.group(1))}", message)
    return _LINES.sub(lambda m: "lines " + ", ".join(one(n) for n in m.group(1).split(", ")), message)


# -- one transformer ------------------------------------------------------------------------
@dataclass(frozen=True)
class TransformerFailure:
    transformer_id: str
    error: str
    refused: bool = False
    """The data was fine but the gate refused the challenger, and no champion could answer."""


@dataclass(frozen=True)
class TransformerForecast:
    """One transformer's report row and the fitted state of the model that answered for it."""

    row: dict[str, object]
    params: dict[str, object] = field(repr=False)
    version: str = THIS_RUN
    """The fleet model version whose fit answered (``THIS_RUN`` for the challenger fitted now)."""


@dataclass(frozen=True)
class Champion:
    """A transformer's current champion: the fleet model version its fit was registered in, and the fit."""

    version: str
    model: SeasonalTrendForecaster = field(repr=False)


class RefusedByGateError(ValueError):
    """The challenger failed the gate and there is no champion to answer instead."""


def _seed(transformer_id: str) -> list[int]:
    """Per-transformer seed: results do not depend on the order, the worker or the shard."""
    return [SEED, stable_hash(transformer_id)]


def forecast_one(
    transformer_id: str,
    raw: pd.DataFrame,
    limit_kw: float,
    horizon_years: float = 5.0,
    draws: int = FLEET_DRAWS,
    policy: DataPolicy | None = None,
    source: str | None = None,
    model_params: Mapping[str, Any] | None = None,
    gate: Gate | None = None,
    champion: Champion | None = None,
) -> TransformerForecast:
    """Validate, fit, gate, forecast and simulate one transformer. Raises ValueError for unusable data
    and :class:`RefusedByGateError` when the challenger fails the gate with no champion to fall back on.

    The challenger is judged by the single run's gate (:mod:`ml.gate`) against this transformer's
    ``champion``; the model that answers (the challenger if promoted, else the champion) is the one
    forecast and simulated, and the row says which it was and why.
    ``model_params`` are the estimator's options (e.g. ``holidays``, ``timezone``); with a ``timezone``
    the raw table's wall-clock stamps are read in that zone, as the single-transformer steps do."""
    label = f"{source} [{transformer_id}]" if source else f"[{transformer_id}]"
    params = dict(model_params or {})
    try:
        series, quality = validate_load(raw, label, policy, params.get("timezone"))
    except DataValidationError as exc:
        if "_line" in raw.columns:
            raise DataValidationError(_file_lines(str(exc), raw["_line"].to_numpy())) from None
        raise
    challenger = SeasonalTrendForecaster(**params).fit(series.index, series.to_numpy())
    decision, reason, scores = gate_one(challenger, series, gate or Gate(), champion)
    if decision != PROMOTED and champion is None:
        raise RefusedByGateError(f"{label}: the gate refused the challenger ({reason}) and there is no champion")
    model = challenger if decision == PROMOTED else champion.model  # type: ignore[union-attr]
    version = THIS_RUN if decision == PROMOTED else champion.version  # type: ignore[union-attr]
    horizon = forecast_index(series.index[-1], horizon_years)
    point, simulation = _answer(model, version, horizon, limit_kw, draws, transformer_id, label)
    summary = point_summary(horizon, point, limit_kw) | simulation_summary(simulation)  # as the single report says it
    row: dict[str, object] = {
        ID: transformer_id,
        LIMIT: float(limit_kw),
        **{key: summary[key] for key in REPORT_COLUMNS if key in summary},
        "max_load_ratio": round(float(point.max()) / limit_kw, 4),
        "growth_kw_per_year": round(model.growth_kw_per_year_, 4),
        "growth_pct_per_year": round(model.growth_pct_per_year_, 3),
        "trend": model.trend_,
        "trend_weight": round(chosen_weight(model), 3),
        "decision": decision,
        "model_version": version,
        "decision_reason": reason,
        "test_rmse_kw": round(scores.rmse, 4),
        "naive_rmse_kw": round(scores.naive_rmse, 4),
        "level_shifts": json.dumps(model.level_shifts_),
        "data_repairs": "; ".join(quality.repairs() + sensor_repairs(model)),
        "history_start": quality.start,
        "history_end": quality.end,
        "horizon_end": horizon[-1].isoformat(),
    }
    return TransformerForecast(row, model_state(model), version)


def _answer(
    model: SeasonalTrendForecaster,
    version: str,
    horizon: pd.DatetimeIndex,
    limit_kw: float,
    draws: int,
    transformer_id: str,
    label: str,
) -> tuple[np.ndarray, OverloadSimulation]:
    """The answering model's point forecast and first-overload simulation. A stored champion that cannot
    make them (arrays that do not fit together, non-finite loads) is refused by its version, as a single
    model is refused on load; it is never reported from."""
    try:
        sampler = model.draw_sampler(horizon)  # the horizon's design, built once for point and draws
        point = sampler.point(model.coef_)
        if not np.isfinite(point).all():
            raise ValueError("it forecasts non-finite loads")
        simulation = simulate_overload(
            model, horizon, limit_kw, draws, _seed(transformer_id), sampler=sampler, dtype=np.float32
        )
    except (ValueError, IndexError, TypeError, linalg.LinAlgError, np.linalg.LinAlgError) as exc:
        if version == THIS_RUN:
            raise ValueError(f"{label}: {exc}") from None
        raise ValueError(
            f"{label}: fleet model version {version}, which answers for this transformer, does not form a working "
            f"model ({exc}); nothing is reported from it"
        ) from None
    return point, simulation


def gate_one(
    challenger: SeasonalTrendForecaster, series: pd.Series, gate: Gate, champion: Champion | None
) -> tuple[str, str, Scores]:
    """The single run's gate for one fleet member: ``promoted`` or ``kept`` (or refused, when there is
    no champion), the reason, and the challenger's scores.

    The champion is scored by the same protocol (refit on this data's training window): with the
    same estimator options that refit is the challenger's own, so it is reused, not repeated.
    """
    scores = challenger_scores(challenger, series)
    champion_rmse = None
    if champion is not None:
        same = champion.model.get_params() == challenger.get_params()
        champion_rmse = scores.rmse if same else holdout_scores(champion.model, series)["rmse"]
    promoted, reason = judge(scores, champion_rmse, gate)
    if champion is not None and not promoted:
        reason = f"{reason}; version {champion.version} answers"
    return (PROMOTED if promoted else KEPT), reason, scores


def _guarded(
    transformer_id: str,
    source: object,
    load: Callable[[object], pd.DataFrame] | None,
    limit_kw: float,
    horizon_years: float,
    draws: int,
    policy: DataPolicy | None,
    model_params: Mapping[str, Any] | None = None,
    gate: Gate | None = None,
    champion: Champion | None = None,
) -> TransformerForecast | TransformerFailure:
    """One transformer in a worker: expected failures (bad data, no fit possible, refused) become a record."""
    try:
        raw = load(source) if load is not None else source
        label = str(source) if load is not None else None
        return forecast_one(  # type: ignore[arg-type]
            transformer_id, raw, limit_kw, horizon_years, draws, policy, label, model_params, gate, champion
        )
    except (ValueError, linalg.LinAlgError, np.linalg.LinAlgError) as exc:  # DataValidationError is a ValueError
        message = str(exc)
        return TransformerFailure(
            transformer_id,
            message if transformer_id in message else f"[{transformer_id}] {message}",
            isinstance(exc, RefusedByGateError),
        )


# -- the fleet --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FleetResult:
    forecasts: list[TransformerForecast]
    failures: list[TransformerFailure]

    def report(self) -> pd.DataFrame:
        return rank_fleet(pd.DataFrame([f.row for f in self.forecasts]))

    def errors(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(f) for f in self.failures], columns=ERROR_COLUMNS).sort_values(
            ID, ignore_index=True
        )


def forecast_fleet(
    items: Sequence[tuple[str, object]],
    limits: Mapping[str, float],
    load: Callable[[Any], pd.DataFrame] | None = None,
    horizon_years: float = 5.0,
    draws: int = FLEET_DRAWS,
    n_jobs: int | None = None,
    policy: DataPolicy | None = None,
    model_params: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    gate: Gate | None = None,
    champions: Mapping[str, Champion] | None = None,
) -> FleetResult:
    """Forecast every ``(transformer_id, source)``; ``source`` is a raw table, or whatever ``load``
    (a picklable, module-level function) turns into one inside the worker. ``limits`` must hold every id
    (see :func:`resolve_limits`); ``model_params`` are every transformer's estimator options (holidays,
    timezone, structure). Each challenger passes ``gate`` (default :class:`ml.gate.Gate`) against its
    own entry in ``champions`` (transformer id to :class:`Champion`), which answers when it fails.
    The work is shared by this process and ``n_jobs - 1`` worker processes (:mod:`ml.workers`), one BLAS
    thread each. ``progress(done, failed)`` is called as each transformer finishes, so a long run can
    say how far it is. Results are in the order of ``items``, whichever process made them."""
    jobs = min(n_jobs or default_jobs(), max(len(items), 1))
    tasks = [
        (tid, source, load, limits[tid], horizon_years, draws, policy, model_params, gate, (champions or {}).get(tid))
        for tid, source in items
    ]
    done = failed = 0

    def count(result: TransformerForecast | TransformerFailure) -> None:
        nonlocal done, failed
        done, failed = done + 1, failed + isinstance(result, TransformerFailure)
        if progress is not None:
            progress(done, failed)

    results = run_everywhere(_guarded, tasks, jobs, count)
    return FleetResult(
        [r for r in results if isinstance(r, TransformerForecast)],
        [r for r in results if isinstance(r, TransformerFailure)],
    )


def rank_fleet(report: pd.DataFrame) -> pd.DataFrame:
    """Riskiest first: earliest P50 first overload; those never overloading (P50 beyond the horizon)
    last; ties and the never-overloading by how close the peak forecast comes to the limit."""
    if report.empty:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    frame = report.drop(columns=["rank"], errors="ignore").copy()
    p50 = pd.to_datetime(frame["first_overload_p50"])
    order = frame.assign(_never=p50.isna(), _p50=p50, _ratio=-frame["max_load_ratio"].astype(float)).sort_values(
        ["_never", "_p50", "_ratio", ID], kind="stable"
    )
    ranked = frame.loc[order.index].reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked.reindex(columns=REPORT_COLUMNS)  # a shard written before a column was added merges too


# -- one artifact for the whole fleet ---------------------------------------------------------
def model_state(model: SeasonalTrendForecaster) -> dict[str, object]:
    """Everything :func:`unpack_models` needs to rebuild the fitted estimator: its parameters and every
    fitted attribute (the sklearn convention, as ``ml.steps.model_io`` saves them), so a new fitted
    attribute travels through the fleet artifact without this module knowing its name."""
    fitted = {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}
    return {"params": model.get_params(), "fitted": fitted}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def pack_models(
    ids: Sequence[str], states: Sequence[Mapping[str, Any]], versions: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Every transformer's fitted state in a few arrays (for one ``.npz``, loadable without pickle).

    Each fitted array attribute is stored flat for the whole fleet (``array__NAME``) with each
    transformer's shape (``shape__NAME``, padded with -1): no padding of the data itself, so a fleet
    mixing Fourier models (~30 coefficients) and profile models (~500) stores each at its own size.
    Scalars, strings and small dicts go into one JSON string per transformer (``fitted_plain``).
    ``versions`` (``model_version``) says in which fleet model version each fit was registered
    (``THIS_RUN``: in the version this artifact becomes).
    """
    packed: dict[str, np.ndarray] = {
        "transformer_id": np.array(ids, dtype=str),
        "model_version": np.array(list(versions) if versions is not None else [THIS_RUN] * len(ids), dtype=str),
        "estimator_params": np.array([json.dumps(s["params"], sort_keys=True) for s in states], dtype=str),
        "fitted_plain": np.array(
            [
                json.dumps({k: _plain(v) for k, v in s["fitted"].items() if not isinstance(v, np.ndarray)})
                for s in states
            ],
            dtype=str,
        ),
    }
    names = sorted({k for s in states for k, v in s["fitted"].items() if isinstance(v, np.ndarray)})
    for name in names:
        values = [np.asarray(s["fitted"].get(name, np.full(0, np.nan)), dtype=float) for s in states]
        rank = max(v.ndim for v in values)
        shapes = np.full((len(values), rank), -1, dtype=np.int64)
        for i, value in enumerate(values):
            shapes[i, : value.ndim] = value.shape
        packed[f"array__{name}"] = np.concatenate([v.ravel() for v in values]) if values else np.empty(0)
        packed[f"shape__{name}"] = shapes
    return packed


def merge_packed(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine packed fleets (e.g. one per shard) into one, ordered by transformer id."""
    ids, states, versions = [], [], []
    for part in parts:
        fitted_in = packed_versions(part)
        for tid, model in unpack_models(part).items():
            ids.append(tid)
            states.append(model_state(model))
            versions.append(fitted_in[tid])
    if len(set(ids)) != len(ids):
        repeated = sorted({t for t in ids if ids.count(t) > 1})
        raise ValueError(f"transformer(s) {', '.join(repeated[:10])} appear in more than one part")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return pack_models([ids[i] for i in order], [states[i] for i in order], [versions[i] for i in order])


def packed_versions(arrays: Mapping[str, np.ndarray], this_version: str = THIS_RUN) -> dict[str, str]:
    """Each transformer's fleet model version, ``THIS_RUN`` entries read as ``this_version``
    (an artifact made before versions were recorded: every fit is the artifact's own)."""
    ids = [str(t) for t in arrays["transformer_id"]]
    stored = arrays["model_version"] if "model_version" in arrays else np.full(len(ids), THIS_RUN)
    return {tid: (str(v) or this_version) for tid, v in zip(ids, stored, strict=True)}


def unpack_models(arrays: Mapping[str, np.ndarray], only: set[str] | None = None) -> dict[str, SeasonalTrendForecaster]:
    """Rebuild each transformer's fitted :class:`SeasonalTrendForecaster` from :func:`pack_models` arrays
    (with ``only``, just those transformers: a shard needs its own champions, not the fleet's)."""
    names = [key.removeprefix("array__") for key in arrays if key.startswith("array__")]
    shapes = {name: arrays[f"shape__{name}"] for name in names}
    sizes = {name: np.prod(np.where(shape < 0, 1, shape), axis=1) for name, shape in shapes.items()}
    offsets = {name: np.concatenate([[0], np.cumsum(sizes[name])]) for name in names}
    models = {}
    for i, tid in enumerate(arrays["transformer_id"]):
        if only is not None and str(tid) not in only:
            continue
        model = SeasonalTrendForecaster(**json.loads(str(arrays["estimator_params"][i])))
        for name, value in json.loads(str(arrays["fitted_plain"][i])).items():
            setattr(model, name, value)
        for name in names:
            shape = tuple(int(d) for d in shapes[name][i] if d >= 0)
            start = int(offsets[name][i])
            setattr(model, name, arrays[f"array__{name}"][start : start + int(sizes[name][i])].reshape(shape).copy())
        try:  # a fleet packed before forms were mixed has no weights; one that has them must be sane
            model.check_trend_weights()
        except ValueError as exc:
            raise ValueError(f"transformer {tid}: {exc}") from None
        models[str(tid)] = model
    return models


# -- the chart --------------------------------------------------------------------------------
def fleet_risk_figure(report: pd.DataFrame, top: int = 20) -> object:
    """Horizontal bars: the P10-P90 window of the first overload for the ``top`` riskiest transformers,
    a dot at P50; a bar running off the right edge means P90 lies beyond the horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    shown = report[report["first_overload_p10"].notna()].head(top)
    figure, axis = plt.subplots(figsize=(10, 1.2 + 0.38 * max(len(shown), 1)), layout="constrained")
    if shown.empty:
        axis.text(0.5, 0.5, "no transformer overloads within the horizon", ha="center", va="center")
        axis.set_axis_off()
        return figure
    end = pd.to_datetime(shown["horizon_end"]).max()
    p10 = pd.to_datetime(shown["first_overload_p10"])
    p50 = pd.to_datetime(shown["first_overload_p50"])
    p90 = pd.to_datetime(shown["first_overload_p90"]).fillna(end)
    rows = np.arange(len(shown))[::-1]  # riskiest on top
    colours = np.where(shown["first_overload_p90"].isna(), "#f4a582", "#ca0020")
    axis.barh(rows, mdates.date2num(p90) - mdates.date2num(p10), left=mdates.date2num(p10), color=colours, height=0.6)
    axis.scatter(mdates.date2num(p50.dropna()), rows[p50.notna().to_numpy()], color="black", zorder=3, s=14)
    axis.set_yticks(
        rows,
        [
            f"{tid}  ({limit:g} kW, {p:.0%})"
            for tid, limit, p in zip(shown[ID], shown[LIMIT], shown["p_overload_within_horizon"], strict=True)
        ],
    )
    axis.xaxis_date()
    axis.set_xlabel("first overload: bar P10 to P90, dot P50 (light bar: P90 beyond the horizon)")
    axis.set_title(f"Riskiest {len(shown)} of {len(report)} transformers (label: limit, P(overload in horizon))")
    axis.grid(axis="x", alpha=0.3)
    return figure
