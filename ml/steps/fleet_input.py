"""Where a fleet's load data comes from, read one shard at a time so memory follows the shard.

Layouts (CSV or Parquet, told apart by suffix; the long ones follow the panel convention of
Nixtla and sktime, ``transformer_id,timestamp,kw``):

* a **folder of one file per transformer** (``<transformer_id>.csv|.parquet`` with ``timestamp,kw``):
  a shard opens only its own files, each inside the worker that forecasts it;
* a **long file** (``transformer_id,timestamp,kw``): read in chunks (CSV) or record batches
  (Parquet), keeping only this shard's rows;
* a **folder of long files** (parts of one panel, e.g. written by Spark or a Parquet dataset):
  every part read the same way; a transformer may span parts.

A folder's layout is decided by its first file (a ``transformer_id`` column means long parts).
``take_all`` is for a cluster that already split the files between instances (SageMaker's
``ShardedByS3Key``): every transformer in the files this instance received is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.fleet import ID, shard_of, split_long_frame
from ml.steps.data_io import read_text_csv
from ml.validation import DataValidationError, as_text

SUFFIXES = (".csv", ".parquet")
READ_CHUNK_ROWS = 1_000_000
LONG_COLUMNS = (ID, "timestamp", "kw")


def fleet_name_for(data: Path, explicit: str | None = None) -> str:
    """``--fleet``, else the data's name (a folder's name, a file's stem), so two fleets never share champions."""
    return explicit or (data.stem if data.is_file() else data.name)


@dataclass(frozen=True)
class FleetInput:
    """This shard's transformers and how to read each one."""

    items: list[tuple[str, object]]
    """``(transformer_id, source)``: a file path (read by ``load`` in the worker) or a raw table."""
    load: Callable[[Any], pd.DataFrame] | None
    files: list[Path]
    """Every data file of the fleet (not only this shard's): the data fingerprint covers them all."""
    layout: str
    """``folder`` (one file per transformer), ``long`` (one long file) or ``long parts``."""


def read_table(path: Path) -> pd.DataFrame:
    """One file as a raw table: a CSV's cells as text (what validation quotes), a Parquet file's values
    as they are typed (validation takes a clean typed table as it is, and renders anything else as text
    to quote it: :func:`ml.validation.as_text`)."""
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: the file is empty; expected a header 'timestamp,kw' and hourly rows.")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path)
    return read_text_csv(path)


def _read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).read(columns=columns).to_pandas()  # one file: no dataset discovery
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{path}: not a readable Parquet file ({exc}).") from None


def columns_of(path: Path) -> list[str]:
    """The header of a CSV or the schema of a Parquet file, without reading the rows."""
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataValidationError(f"{path}: not a readable Parquet file ({exc}).") from None
    try:
        return list(pd.read_csv(path, nrows=0, dtype=str).columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: not a readable CSV file ({exc}).") from None


def data_files(folder: Path) -> list[Path]:
    """Every CSV or Parquet file below ``folder``, in name order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def discover(data: Path, shard_index: int = 0, shard_count: int = 1, take_all: bool = False) -> FleetInput:
    """This shard's transformers: ids by ``sha256(id) mod shard_count == shard_index`` unless ``take_all``."""

    def mine(tid: str) -> bool:
        return take_all or shard_count == 1 or shard_of(tid, shard_count) == shard_index

    if data.is_dir():
        files = data_files(data)
        if not files:
            if take_all:  # the cluster gave this instance no file: an empty shard, not an error
                return FleetInput([], read_table, [], "folder")
            raise DataValidationError(
                f"{data}: no '*.csv' or '*.parquet' files; expected one 'timestamp,kw' file per transformer "
                f"or long files '{ID},timestamp,kw'."
            )
        if ID in columns_of(files[0]):
            frame = pd.concat([_long_rows(f, mine) for f in files], ignore_index=True)
            return FleetInput(_split(frame, str(data)), _loader(frame), files, "long parts")
        stems = [f.stem for f in files]
        repeated = sorted({s for s in stems if stems.count(s) > 1})
        if repeated:
            raise DataValidationError(
                f"{data}: transformer id(s) {', '.join(repeated[:10])} have more than one file; keep one per id."
            )
        return FleetInput([(f.stem, f) for f in files if mine(f.stem)], read_table, files, "folder")
    if not data.is_file():
        raise DataValidationError(f"{data}: no such file or folder; pass a CSV/Parquet file or a folder with '--data'.")
    if data.stat().st_size == 0:
        raise DataValidationError(f"{data}: the file is empty; expected a header '{ID},timestamp,kw' and rows.")
    frame = _long_rows(data, mine)
    return FleetInput(_split(frame, str(data)), _loader(frame), [data], "long")


def _split(frame: pd.DataFrame, source: str) -> list[tuple[str, object]]:
    return list(split_long_frame(frame, source))


def _loader(frame: pd.DataFrame) -> Callable[[Any], pd.DataFrame] | None:
    """Typed (Parquet) rows become text in the worker, so the shard is held compactly until then."""
    return as_text if any(not pd.api.types.is_object_dtype(frame[c]) for c in LONG_COLUMNS if c in frame) else None


def _long_rows(path: Path, mine: Callable[[str], bool]) -> pd.DataFrame:
    """This shard's rows of one long file, with file line numbers (CSV) or row numbers (Parquet) in ``_line``."""
    chunks = list(_parquet_chunks(path, mine) if path.suffix.lower() == ".parquet" else _csv_chunks(path, mine))
    if not chunks:
        return pd.DataFrame(columns=[*LONG_COLUMNS, "_line"])
    return pd.concat(chunks, ignore_index=True)


def _keep(chunk: pd.DataFrame, mine: Callable[[str], bool]) -> pd.DataFrame:
    if ID not in chunk.columns:
        return chunk  # split_long_frame names the missing column
    ids = chunk[ID].astype("string").fillna("").str.strip()
    owner = {t: t == "" or mine(t) for t in ids.unique()}  # blank ids stay, so they are reported
    return chunk[ids.map(owner).to_numpy(dtype=bool)]


def _csv_chunks(path: Path, mine: Callable[[str], bool]) -> Iterator[pd.DataFrame]:
    offset = 0
    try:
        for chunk in pd.read_csv(path, dtype=str, skip_blank_lines=False, chunksize=READ_CHUNK_ROWS):
            chunk["_line"] = np.arange(len(chunk)) + offset + 2
            offset += len(chunk)
            yield _keep(chunk, mine)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: not a readable CSV file ({exc}).") from None


def _parquet_chunks(path: Path, mine: Callable[[str], bool]) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    offset = 0
    try:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(batch_size=READ_CHUNK_ROWS):
            chunk = batch.to_pandas()
            chunk["_line"] = np.arange(len(chunk)) + offset + 1  # a row number: Parquet has no lines
            offset += len(chunk)
            if ID in chunk.columns:
                chunk[ID] = chunk[ID].astype("string").fillna("").astype(str)
            yield _keep(chunk, mine)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{path}: not a readable Parquet file ({exc}).") from None


def count_transformers(data: Path) -> int:
    """How many transformers the data holds, reading file names or only the id column (for a plan)."""
    if data.is_dir():
        files = data_files(data)
        if not files or ID not in columns_of(files[0]):
            return len(files)
    else:
        files = [data]
    ids: set[str] = set()
    for path in files:
        if path.suffix.lower() == ".parquet":
            ids.update(_read_parquet(path, [ID])[ID].astype(str))
        else:
            for chunk in pd.read_csv(path, dtype=str, usecols=[ID], chunksize=READ_CHUNK_ROWS):
                ids.update(chunk[ID].dropna())
    return len(ids)
