"""Which transformer a run is about, and where its models live in the registry.

One registered model per transformer, found by its exact name: the one lookup every MLflow
registry answers in the same time with 100,000 transformers as with one (Azure ML's MLflow
registry cannot search models by tag or with ``LIKE``; see README "Registry layout").

The champion is marked with model-version tags only (Azure ML documents version tags as
supported and does not list aliases): the champion is the version whose ``gate.decision`` is
``promoted`` with the highest ``gate.promotion`` number (ties: the higher version).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

BUILTIN_ID = "builtin-synthetic"
"""The built-in data's id: its file is written as ``builtin-synthetic.csv``, so derivation finds it."""
ID_COLUMN = "transformer_id"
MAX_ID_LENGTH = 200
MODEL_PREFIX = "gridcast-"

TRANSFORMER_TAG = "transformer_id"
DECISION_TAG = "gate.decision"
PROMOTION_TAG = "gate.promotion"
"""On a promoted version: 1 for a transformer's first champion, the previous champion's number + 1 after."""
PENDING, PROMOTED, REJECTED = "pending", "promoted", "rejected"

# Azure ML model names: ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$ (REST API, Model Containers / Versions).
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_HASHED_TAIL = re.compile(r"--[0-9a-f]{16}$")


class TransformerIdError(ValueError):
    """No usable transformer id: the data names several, or the given id is empty or too long."""


def model_name(transformer_id: str) -> str:
    """The registered model of one transformer; deterministic, valid on every registry, collision-safe.

    Ids made of letters, digits, ``-`` and ``_`` map to ``gridcast-<id>``. Any other id (spaces, dots,
    slashes, non-ASCII) maps to a slug plus ``--`` and 16 hex digits of its SHA-256; ids that merely
    look like that form are hashed too, so a plain name can never equal a hashed one.
    """
    check_id(transformer_id)
    if _SAFE.fullmatch(transformer_id) and not _HASHED_TAIL.search(transformer_id):
        return MODEL_PREFIX + transformer_id
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", transformer_id).strip("-_")[:80] or "id"
    digest = hashlib.sha256(transformer_id.encode()).hexdigest()[:16]
    return f"{MODEL_PREFIX}{slug}--{digest}"


def check_id(transformer_id: str) -> str:
    if not transformer_id.strip():
        raise TransformerIdError("the transformer id is empty; pass a name with --transformer")
    if len(transformer_id) > MAX_ID_LENGTH or not transformer_id.isprintable():
        raise TransformerIdError(
            f"transformer id {transformer_id[:40]!r}... is not a printable name of at most {MAX_ID_LENGTH} characters"
        )
    return transformer_id


def transformer_id_for(data: Path, explicit: str | None = None) -> str:
    """``explicit``, else the data's one ``transformer_id`` value, else the file's stem.

    A file naming several transformers is refused (one run answers for one transformer; a fleet has
    its own command), and so is an ``explicit`` id the data's own column contradicts.
    """
    found = _ids_in_file(data)
    if len(found) > 1:
        shown = ", ".join(sorted(found)[:5]) + (", ..." if len(found) > 5 else "")
        raise TransformerIdError(
            f"{data}: column '{ID_COLUMN}' names {len(found)} transformers ({shown}); one run answers for one "
            "transformer: split the file, or use 'runner fleet'"
        )
    if explicit:
        if found and explicit not in found:
            raise TransformerIdError(
                f"{data}: column '{ID_COLUMN}' says transformer {next(iter(found))!r}, but the run was told "
                f"{explicit!r}; pass the right file or the right id"
            )
        return check_id(explicit)
    return check_id(found.pop() if found else data.stem)


def _ids_in_file(data: Path) -> set[str]:
    try:
        header = pd.read_csv(data, nrows=0).columns
    except (OSError, ValueError):
        return set()  # unreadable: the data validation that follows says why, with the line
    if ID_COLUMN not in header:
        return set()
    values = pd.read_csv(data, usecols=[ID_COLUMN], dtype=str, keep_default_na=False)[ID_COLUMN]
    return {v.strip() for v in values.unique() if v.strip()}


@contextmanager
def promotion_lock(lock_dir: Path, name: str) -> Iterator[None]:
    """Serialize promotions of one registered model among processes sharing ``lock_dir``.

    Each transformer has its own lock file, so runs on different transformers never wait for
    each other. It covers every promotion started from this machine (the local runner, on the
    embedded store or a tracking server); jobs on other machines rely on promote's re-check.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
