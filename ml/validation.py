"""Turn a raw ``timestamp,kw`` table into a clean hourly series, or say exactly what is wrong.

Sensors drop out and exports get shuffled, so a few things are repaired, and every repair is
reported in :class:`DataQuality`. Anything that would make the forecast wrong rather than merely
noisier is refused with a :class:`DataValidationError` naming the file, the lines and the column.
Line numbers are the file's own (the header is line 1), so a user can jump straight to them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ml.anomalies import flatline_mask
from ml.iso_stamps import fixed_width_seconds

TIMESTAMP, KW = "timestamp", "kw"
HOURS_PER_YEAR = 8760
TRAIN_SHARE = 0.8
EXAMPLES_SHOWN = 5


class DataValidationError(ValueError):
    """The input cannot be used as it is; the message says where and why."""


@dataclass(frozen=True)
class DataPolicy:
    """Bounds that separate a repairable sensor hiccup from unusable data."""

    max_kw: float = 10_000.0
    """Readings above this are unit or sensor errors (10 MW is beyond any distribution transformer)."""
    max_missing_share: float = 0.10
    """Share of hours with no reading that is still tolerated (they are left out of the fit)."""
    max_gap_hours: int = 168
    """Longest run of consecutive missing hours tolerated (one week)."""
    min_history_hours: int = math.ceil(HOURS_PER_YEAR / TRAIN_SHARE)
    """The training split (first 80%) must span a full year, or the yearly cycle is a guess."""
    min_distinct_readings: int = 10
    """Fewer distinct values is a placeholder, a switch or a coarse counter, not a load to forecast."""
    earliest: str = "1900-01-01"
    latest: str = "2200-01-01"
    """Stamps outside these are typos; past them a 30-year forecast would leave what pandas and MLflow
    can represent (nanoseconds since 1970 end in April 2262)."""


@dataclass(frozen=True)
class DataQuality:
    """What the data looked like and what was repaired: logged to MLflow and printed, never hidden."""

    rows_read: int
    exact_duplicates_dropped: int
    rows_were_unsorted: bool
    missing_readings: int
    missing_hours: int
    missing_share: float
    longest_gap_hours: int
    observed_hours: int
    start: str
    end: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def repairs(self) -> list[str]:
        """Human sentences for each repair made, empty when the file was already clean."""
        notes = []
        if self.rows_were_unsorted:
            notes.append("rows were not in time order: sorted")
        if self.exact_duplicates_dropped:
            notes.append(f"{self.exact_duplicates_dropped} exact duplicate rows dropped")
        if self.missing_readings:
            notes.append(f"{self.missing_readings} empty kw readings left out of the fit")
        if self.missing_hours:
            notes.append(
                f"{self.missing_hours} hours absent from the file left out of the fit "
                f"(longest gap {self.longest_gap_hours} h)"
            )
        return notes


def validate_load(
    raw: pd.DataFrame, source: str, policy: DataPolicy | None = None, timezone: str | None = None
) -> tuple[pd.Series, DataQuality]:
    """Check a raw table (as read with ``dtype=str``) and return an hourly kW series with its report.

    The series covers every hour from the first to the last observation; hours with no usable
    reading are NaN so that the model skips them instead of seeing invented values. Stamps with an
    offset, and stamps in local wall-clock time when ``timezone`` is given, come back as naive UTC.
    """
    policy = policy or DataPolicy()
    _require_columns(raw, source)
    if raw.empty:
        raise DataValidationError(f"{source}: has a header but no data rows; expected hourly '{TIMESTAMP},{KW}' rows.")
    typed = _typed(raw)
    clean = (_clean_typed if typed else _clean_hourly)(raw, source, policy) if timezone is None else None
    if clean is not None:
        return clean
    if typed:
        raw = as_text(raw)  # the general path reads and quotes text, as a CSV holds it
    lines = pd.Series(np.arange(len(raw)) + 2, index=raw.index)
    timestamps = _parse_timestamps(raw[TIMESTAMP], lines, source, timezone)
    _require_dates_in_range(timestamps, lines, source, policy)
    kw = _parse_kw(raw[KW], lines, source, policy)

    frame = pd.DataFrame({TIMESTAMP: timestamps, KW: kw, "line": lines})
    was_unsorted = not frame[TIMESTAMP].is_monotonic_increasing
    if was_unsorted:  # in order already (lines always are): sorting would give the same frame
        frame = frame.sort_values([TIMESTAMP, "line"], kind="stable")
    frame, exact_dupes = _drop_exact_duplicates(frame, source)
    _require_hourly(frame, source)

    series = frame.set_index(TIMESTAMP)[KW]
    full_index = pd.date_range(series.index[0], series.index[-1], freq="h", name=TIMESTAMP)
    _require_enough_history(len(full_index), source, policy)
    series = series.reindex(full_index).rename(KW)

    missing_readings = int(frame[KW].isna().sum())
    missing_hours = len(full_index) - len(frame)
    missing_share = (missing_readings + missing_hours) / len(full_index)
    longest_gap, gap_start = _longest_gap(series)
    _require_coverage(missing_share, longest_gap, gap_start, source, policy)
    _require_variation(series, source, policy)

    quality = DataQuality(
        rows_read=len(raw),
        exact_duplicates_dropped=exact_dupes,
        rows_were_unsorted=was_unsorted,
        missing_readings=missing_readings,
        missing_hours=missing_hours,
        missing_share=round(missing_share, 6),
        longest_gap_hours=longest_gap,
        observed_hours=int(series.notna().sum()),
        start=full_index[0].isoformat(),
        end=full_index[-1].isoformat(),
    )
    return series, quality


def _clean_hourly(raw: pd.DataFrame, source: str, policy: DataPolicy) -> tuple[pd.Series, DataQuality] | None:
    """The usual export, decided on its bytes: fixed-width stamps one whole hour apart in order from the
    first row to the last, every reading a plain decimal within bounds. Nothing there to repair or to
    refuse but too short a history or too little variation, so the series is the readings on an hourly
    index: exactly what the general path returns (tested), several times faster. None for anything else."""
    seconds = fixed_width_seconds(raw[TIMESTAMP])
    if seconds is None or not _hour_after_hour(seconds, policy):
        return None
    kw = _plain_decimals(raw[KW])
    if kw is None or not np.all(kw <= policy.max_kw):
        return None
    return _hourly_series(raw, seconds, kw, source, policy)


def _hour_after_hour(seconds: np.ndarray, policy: DataPolicy) -> bool:
    """Whole hours, one apart, in order, within the policy's dates."""
    if seconds[0] % 3_600 or not np.all(np.diff(seconds) == 3_600):
        return False
    earliest, latest = (pd.Timestamp(bound) for bound in (policy.earliest, policy.latest))
    return earliest <= pd.Timestamp(int(seconds[0]), unit="s") <= pd.Timestamp(int(seconds[-1]), unit="s") < latest


def _hourly_series(
    raw: pd.DataFrame, seconds: np.ndarray, kw: np.ndarray, source: str, policy: DataPolicy
) -> tuple[pd.Series, DataQuality]:
    """Clean readings hour after hour as the general path returns them: on an hourly index in the unit it
    reads stamps in, checked for length and variation, with a report of nothing repaired."""
    first = pd.Timestamp(int(seconds[0]), unit="s").as_unit(_stamp_unit())
    index = pd.date_range(first, periods=len(seconds), freq="h", name=TIMESTAMP)
    _require_enough_history(len(index), source, policy)
    series = pd.Series(kw, index=index, name=KW)
    _require_variation(series, source, policy)
    quality = DataQuality(
        rows_read=len(raw),
        exact_duplicates_dropped=0,
        rows_were_unsorted=False,
        missing_readings=0,
        missing_hours=0,
        missing_share=0.0,
        longest_gap_hours=0,
        observed_hours=len(series),
        start=index[0].isoformat(),
        end=index[-1].isoformat(),
    )
    return series, quality


def _clean_typed(raw: pd.DataFrame, source: str, policy: DataPolicy) -> tuple[pd.Series, DataQuality] | None:
    """:func:`_clean_hourly` for typed columns (Parquet): naive times one whole hour apart in order and
    finite readings within bounds give the series the text of them would (tested); None for anything else."""
    stamps, kw = raw[TIMESTAMP], raw[KW]
    if not (stamps.dtype.kind == "M" and getattr(stamps.dtype, "tz", None) is None and kw.dtype.kind in "fiu"):
        return None
    ticks = stamps.to_numpy().astype("datetime64[s]")
    if np.isnat(ticks).any() or (stamps.to_numpy() != ticks).any():  # missing, or finer than a second
        return None
    seconds = ticks.astype(np.int64)
    values = kw.to_numpy(dtype=float, na_value=np.nan)
    if (
        not _hour_after_hour(seconds, policy)
        or not (np.isfinite(values) & (values >= 0) & (values <= policy.max_kw)).all()
    ):
        return None
    return _hourly_series(raw, seconds, values, source, policy)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns (Parquet) as text, missing values kept missing, like ``read_csv(dtype=str)``; times
    with a zone carry their offset (``2023-01-01 00:00:00+0100``), so they are read as the instants they are."""
    text = frame.copy()
    for column in text.columns:
        if column == "_line":
            continue
        values = text[column]
        fast = _arrow_text(values)
        if fast is not None:
            text[column] = fast
            continue
        if isinstance(values.dtype, pd.DatetimeTZDtype):  # with its offset: the instant, not only the wall clock
            rendered = values.dt.strftime("%Y-%m-%d %H:%M:%S%z")
        elif pd.api.types.is_datetime64_any_dtype(values):
            rendered = values.dt.strftime("%Y-%m-%d %H:%M:%S")
        else:
            rendered = values.astype(str)
        text[column] = rendered.where(values.notna(), np.nan)
    return text


def _arrow_text(values: pd.Series) -> pd.Series | None:
    """Naive times and plain numbers as text by Arrow (ten times faster than pandas renders them): the same
    times to the second (``2024-01-31 13:00:00``) and numbers that read back to the very same value
    (``50`` where pandas writes ``50.0``); missing stays missing. Other columns: None (pandas renders them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.dtype.kind
    if kind == "M" and getattr(values.dtype, "tz", None) is None:
        array = pa.array(values.to_numpy().astype("datetime64[s]"), from_pandas=True)  # seconds, as strftime
    elif kind in "fiu" and isinstance(values.dtype, np.dtype):
        array = pa.array(values.to_numpy(), from_pandas=True)  # NaN is missing
    else:
        return None
    rendered = pc.cast(array, pa.string())
    return pd.Series(pd.array(rendered, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), index=values.index)


def _typed(raw: pd.DataFrame) -> bool:
    """Whether the table holds typed values (read from Parquet) rather than text."""
    return any(
        raw[column].dtype.kind in "Mmfiub" or isinstance(raw[column].dtype, pd.DatetimeTZDtype)
        for column in (TIMESTAMP, KW)
    )


@functools.cache
def _stamp_unit() -> str:
    """The time unit the general path reads whole-second stamps in (pandas' choice, asked once)."""
    sample = pd.Series(["2023-01-01 00:00:00"], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return str(_parse_timestamps(sample, pd.Series([2]), "sample").dt.unit)


def _require_columns(raw: pd.DataFrame, source: str) -> None:
    missing = [name for name in (TIMESTAMP, KW) if name not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns)) or "none"
        raise DataValidationError(
            f"{source}: missing column {', '.join(repr(m) for m in missing)}; "
            f"expected a header with '{TIMESTAMP}' and '{KW}' (found: {found})."
        )


def _examples(lines: pd.Series, values: pd.Series | None = None) -> str:
    shown = lines.iloc[:EXAMPLES_SHOWN]
    if values is None:
        parts = [f"line {n}" for n in shown]
    else:
        parts = [f"line {n} ({values.loc[i]!r})" for i, n in shown.items()]
    more = f" and {len(lines) - EXAMPLES_SHOWN} more" if len(lines) > EXAMPLES_SHOWN else ""
    return ", ".join(parts) + more


def _parse_timestamps(text: pd.Series, lines: pd.Series, source: str, timezone: str | None = None) -> pd.Series:
    stripped = text.str.strip()
    if timezone is not None:
        return _parse_local_timestamps(stripped, text, lines, source, timezone)
    try:
        parsed = pd.to_datetime(stripped, format="ISO8601", errors="coerce", utc=True, cache=False)
    except (ValueError, TypeError) as exc:  # e.g. a mix pandas refuses outright
        raise DataValidationError(f"{source}: column '{TIMESTAMP}' could not be read as dates: {exc}") from None
    bad = parsed.isna()
    if not bad.any():  # the common case: every stamp read, nothing to explain
        return parsed.dt.tz_localize(None)
    # Only the unread stamps need their year looked at (a regex per row is costly on long files).
    unread = bad.to_numpy()
    year = pd.to_numeric(stripped[unread].str.extract(r"^(\d{4,})-", expand=False), errors="coerce")
    outside = np.zeros(len(bad), dtype=bool)
    outside[unread] = ((year < pd.Timestamp.min.year + 1) | (year > pd.Timestamp.max.year - 1)).to_numpy()
    unrepresentable = bad & pd.Series(outside, index=bad.index)
    if unrepresentable.any():
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' has {int(unrepresentable.sum())} date(s) outside what can be "
            f"represented at {_examples(lines[unrepresentable], text.fillna(''))}; expected dates between "
            f"{DataPolicy.earliest} and {DataPolicy.latest}."
        )
    if bad.any():
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' has {int(bad.sum())} unparseable value(s) at "
            f"{_examples(lines[bad], text.fillna(''))}; expected ISO-8601 like '2023-01-01 00:00'."
        )
    # Naive stamps are taken as they are; stamps with an offset are moved to UTC so one clock is used.
    return parsed.dt.tz_localize(None)


def _require_dates_in_range(stamps: pd.Series, lines: pd.Series, source: str, policy: DataPolicy) -> None:
    outside = (stamps < pd.Timestamp(policy.earliest)) | (stamps >= pd.Timestamp(policy.latest))
    if outside.any():
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' has {int(outside.sum())} date(s) outside {policy.earliest} to "
            f"{policy.latest} at {_examples(lines[outside], stamps.dt.strftime('%Y-%m-%d %H:%M'))}; "
            "a forecast from them would run past the dates pandas and MLflow can represent (a typo in the year?)."
        )


_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _parse_local_timestamps(
    stripped: pd.Series, text: pd.Series, lines: pd.Series, source: str, timezone: str
) -> pd.Series:
    """Wall-clock stamps of ``timezone`` to naive UTC; stamps carrying an offset keep their own.

    In autumn one wall-clock hour happens twice: its first occurrence in the file is daylight-saving
    time, its second standard time (the order a meter writes them). In spring one hour does not exist
    on the wall clock, so a stamp inside it is refused rather than guessed.
    """
    has_offset = stripped.fillna("").str.contains(_OFFSET, regex=True)
    with_offset = _parse_timestamps(stripped[has_offset], lines[has_offset], source)
    wall = pd.to_datetime(stripped[~has_offset], format="ISO8601", errors="coerce")
    bad = wall.isna()
    if bad.any():
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' has {int(bad.sum())} unparseable value(s) at "
            f"{_examples(lines[~has_offset][bad], text.fillna(''))}; expected ISO-8601 like '2023-01-01 00:00'."
        )
    try:
        zone = pd.DatetimeIndex(wall).tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    except (KeyError, ValueError) as exc:  # an unknown zone name
        raise DataValidationError(f"{source}: time zone {timezone!r} is not known ({exc}).") from None
    localized = pd.Series(zone, index=wall.index)
    missing = localized.isna()
    ambiguous = (
        missing
        & pd.Series(
            pd.DatetimeIndex(wall).tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward"), index=wall.index
        ).isna()
    )
    nonexistent = missing & ~ambiguous
    if nonexistent.any():
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' has {int(nonexistent.sum())} wall-clock time(s) that do not exist in "
            f"{timezone} (the clocks jump forward), at {_examples(lines[~has_offset][nonexistent], text)}; "
            "expected local time as the meter shows it, or stamps with an offset."
        )
    if ambiguous.any():
        order = lines[~has_offset][ambiguous].argsort(kind="stable")
        repeated = wall[ambiguous].iloc[order]
        first_time = ~repeated.duplicated(keep="first")  # in file order: daylight-saving time first
        resolved = pd.DatetimeIndex(repeated).tz_localize(timezone, ambiguous=first_time.to_numpy())
        localized.loc[repeated.index] = resolved
    utc = pd.to_datetime(localized, utc=True).dt.tz_localize(None)
    return pd.concat([with_offset, utc]).reindex(stripped.index)


_PLAIN_DECIMAL = r"^\d{1,15}(?:\.\d{1,15})?$"


def _plain_decimals(text: pd.Series) -> np.ndarray | None:
    """Every reading as a float when each one is a plain unsigned decimal such as ``42`` or ``17.25`` (the
    usual export), else None. Arrow parses these to the very doubles ``pd.to_numeric`` gives (both round
    correctly), in a fraction of the time; anything else (blanks, signs, exponents, text) takes the full path."""
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow") or text.empty:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = pa.array(text.array)
    if strings.null_count or not pc.all(pc.match_substring_regex(strings, _PLAIN_DECIMAL)).as_py():
        return None
    return pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)


def _parse_kw(text: pd.Series, lines: pd.Series, source: str, policy: DataPolicy) -> pd.Series:
    plain = _plain_decimals(text)
    if plain is not None:  # no blanks and nothing non-numeric by construction
        blank = pd.Series(False, index=text.index)
        values = pd.Series(plain, index=text.index)
    else:
        blank = text.isna() | (text.str.strip() == "")
        values = pd.to_numeric(text.where(~blank), errors="coerce")
    non_numeric = values.isna() & ~blank
    if non_numeric.any():
        raise DataValidationError(
            f"{source}: column '{KW}' has non-numeric text on {int(non_numeric.sum())} row(s) at "
            f"{_examples(lines[non_numeric], text)}; expected a number in kW."
        )
    negative = values < 0
    if negative.any():
        raise DataValidationError(
            f"{source}: column '{KW}' has {int(negative.sum())} negative reading(s) at "
            f"{_examples(lines[negative], text)}; load in kW cannot be below 0."
        )
    absurd = ~np.isfinite(values.fillna(0.0)) | (values > policy.max_kw)
    if absurd.any():
        raise DataValidationError(
            f"{source}: column '{KW}' has {int(absurd.sum())} physically implausible reading(s) at "
            f"{_examples(lines[absurd], text)}; expected at most {policy.max_kw:g} kW "
            "(check the unit: W instead of kW?)."
        )
    return values.astype(float)


def _drop_exact_duplicates(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, int]:
    repeated = frame.duplicated(TIMESTAMP, keep=False)
    if not repeated.any():
        return frame, 0
    groups = frame[repeated].groupby(TIMESTAMP)[KW]
    conflicting = groups.nunique(dropna=False) > 1
    if conflicting.any():
        first = conflicting[conflicting].index[:EXAMPLES_SHOWN]
        details = "; ".join(
            f"{ts:%Y-%m-%d %H:%M} on lines " + ", ".join(str(n) for n in frame.loc[frame[TIMESTAMP] == ts, "line"])
            for ts in first
        )
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' repeats {int(conflicting.sum())} time(s) with different "
            f"'{KW}' values ({details}); expected one reading per hour. Remove the wrong rows."
            + _daylight_saving_hint(pd.DatetimeIndex(first))
        )
    deduped = frame.drop_duplicates(TIMESTAMP, keep="first")
    return deduped, len(frame) - len(deduped)


def _daylight_saving_hint(repeated: pd.DatetimeIndex) -> str:
    """Repeats only in the night hours of October/November look like the autumn clock change."""
    if len(repeated) and repeated.month.isin([10, 11]).all() and (repeated.hour <= 3).all():
        return " If the file is in local time with daylight saving, pass --timezone (e.g. Europe/Berlin)."
    return ""


def _on_whole_hours_one_apart(stamps: pd.Series) -> bool:
    """True when every stamp is on a whole hour (seconds dropped, as the checks below do) and the typical
    spacing is one hour: the usual case, decided on the integer values without pandas' field accessors."""
    values = stamps.to_numpy()
    if values.dtype.kind != "M" or stamps.isna().any():
        return False
    unit, _ = np.datetime_data(values.dtype)
    if unit not in ("s", "ms", "us", "ns"):
        return False
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    ticks = values.view(np.int64)
    if np.any(np.floor_divide(ticks, per_second) % 3600 != 0):
        return False
    return len(ticks) < 2 or float(np.median(np.diff(ticks))) == 3600.0 * per_second


def _require_hourly(frame: pd.DataFrame, source: str) -> None:
    stamps = frame[TIMESTAMP]
    if _on_whole_hours_one_apart(stamps):
        return
    off_hour = (stamps.dt.minute != 0) | (stamps.dt.second != 0)
    if off_hour.any():
        raise DataValidationError(
            f"{source}: column '{TIMESTAMP}' is not hourly: {int(off_hour.sum())} stamp(s) fall between "
            f"hours, at {_examples(frame.loc[off_hour, 'line'], frame[TIMESTAMP].dt.strftime('%Y-%m-%d %H:%M'))}; "
            "expected one reading per whole hour (resample sub-hourly data to the hourly peak first)."
        )
    if len(stamps) > 1:
        spacing = stamps.diff().dropna().median()
        if spacing != pd.Timedelta(hours=1):
            raise DataValidationError(
                f"{source}: column '{TIMESTAMP}' is not hourly: the typical spacing is {spacing}; "
                "expected 1 hour between readings."
            )


def _require_enough_history(hours: int, source: str, policy: DataPolicy) -> None:
    if hours < policy.min_history_hours:
        raise DataValidationError(
            f"{source}: only {hours} hours ({hours / 24:.0f} days) of history; at least "
            f"{policy.min_history_hours} hours ({policy.min_history_hours / 24:.0f} days) are needed so that the "
            f"training split (first {TRAIN_SHARE:.0%}) covers a full year and the yearly cycle can be "
            "estimated, not guessed."
        )


def _longest_gap(series: pd.Series) -> tuple[int, pd.Timestamp | None]:
    missing = series.isna().to_numpy()
    if not missing.any():
        return 0, None
    # Label each run of equal values, then measure the runs of missing hours.
    run_id = np.concatenate([[0], np.cumsum(missing[1:] != missing[:-1])])
    lengths = pd.Series(missing).groupby(run_id).agg(["first", "size"])
    gaps = lengths[lengths["first"]]
    longest_run = gaps["size"].idxmax()
    start = series.index[np.argmax(run_id == longest_run)]
    return int(gaps["size"].max()), start


def _require_coverage(
    missing_share: float, longest_gap: int, gap_start: pd.Timestamp | None, source: str, policy: DataPolicy
) -> None:
    if missing_share > policy.max_missing_share:
        raise DataValidationError(
            f"{source}: column '{KW}' is missing for {missing_share:.1%} of the hours between the first and "
            f"last reading; at most {policy.max_missing_share:.0%} can be left out before the fit is unreliable."
        )
    if longest_gap > policy.max_gap_hours and gap_start is not None:
        gap_end = gap_start + pd.Timedelta(hours=longest_gap - 1)
        raise DataValidationError(
            f"{source}: column '{KW}' has a gap of {longest_gap} consecutive hours with no reading "
            f"({gap_start:%Y-%m-%d %H:%M} to {gap_end:%Y-%m-%d %H:%M}); at most {policy.max_gap_hours} hours "
            "are tolerated."
        )


def _require_variation(series: pd.Series, source: str, policy: DataPolicy) -> None:
    """A constant, all-zero, few-valued or mostly stuck series has no load pattern to learn."""
    observed = series.dropna().to_numpy()
    distinct = np.unique(observed[:256])  # enough distinct values among the first: no need to sort them all
    if len(distinct) < policy.min_distinct_readings:
        distinct = np.unique(observed)
    if len(distinct) == 1:
        what = (
            "is 0 on every row (an empty export or a disconnected meter)"
            if distinct[0] == 0
            else (f"is constant ({distinct[0]:g} kW on every row: a stuck sensor or a placeholder)")
        )
        raise DataValidationError(f"{source}: column '{KW}' {what}; there is no load pattern to forecast.")
    if len(distinct) < policy.min_distinct_readings:
        shown = ", ".join(f"{v:g}" for v in distinct)
        raise DataValidationError(
            f"{source}: column '{KW}' has only {len(distinct)} distinct reading(s) ({shown}); at least "
            f"{policy.min_distinct_readings} are needed: this looks like a status flag or a coarse counter, "
            "not load in kW."
        )
    stuck = flatline_mask(series.to_numpy())
    usable = int((series.notna().to_numpy() & ~stuck).sum())
    needed = math.ceil(policy.min_history_hours * (1 - policy.max_missing_share))
    if usable < needed:
        raise DataValidationError(
            f"{source}: column '{KW}' repeats the same value 4 or more hours running on {int(stuck.sum())} hours "
            f"(a stuck sensor), leaving {usable} usable hours; at least {needed} are needed to fit the model."
        )
