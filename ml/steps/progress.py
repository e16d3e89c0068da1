"""A long fleet run says how far it is: one ``progress:`` line at most every few seconds.

The line is for people (the step log, the cloud's log stream) and for the runner, which adds up
the lines of all shards (``runners/progress.py`` reads the same format).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

EVERY_S_ENV = "GRIDCAST_PROGRESS_SECONDS"
DEFAULT_EVERY_S = 5.0


def format_progress(done: int, total: int, failed: int, elapsed_s: float) -> str:
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    left = f"about {(total - done) / rate:.0f} s left" if rate > 0 and done < total else "done" if done else "starting"
    return f"progress: {done}/{total} transformers, {failed} failed, {rate:.1f}/s, {left}"


def reporter(total: int, write: Callable[[str], None] | None = None) -> Callable[[int, int], None]:
    """A ``progress(done, failed)`` callback printing at most every ``$GRIDCAST_PROGRESS_SECONDS`` and at the end."""
    every = float(os.environ.get(EVERY_S_ENV, DEFAULT_EVERY_S))
    started = time.perf_counter()
    last = [started]
    out = write or (lambda line: print(line, file=sys.stdout, flush=True))

    def report(done: int, failed: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] >= every:
            last[0] = now
            out(format_progress(done, total, failed, now - started))

    return report
