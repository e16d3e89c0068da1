"""Whether an error is a full disk: the one check the steps and the runner share.

A full disk is not a bug but a condition the user fixes (free space, run again), so wherever one
surfaces it is said in one line rather than as a traceback. It rarely arrives bare: libraries wrap
it (MLflow, SQLAlchemy) and SQLite reports it as text, so the whole exception chain is searched.
Here, not in ``runners``, because the steps need it and ``ml`` never imports ``runners``.
"""

from __future__ import annotations

import errno

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""No space left, and the disk quota exceeded: the same remedy."""
SQLITE_FULL = "database or disk is full"
"""SQLite's wording for SQLITE_FULL: the tracking store reports it as text, not as an OSError."""


def disk_full(exc: BaseException) -> str | None:
    """Whether ``exc`` (or what caused it) is a full disk: the file it was writing ('' if not known), else None.

    An ``OSError`` with ENOSPC or EDQUOT anywhere in the chain (``__cause__`` or ``__context__``), or
    SQLite's own wording."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return str(current.filename or "")
        if SQLITE_FULL in str(current):
            return ""
        current = current.__cause__ or current.__context__
    return None
