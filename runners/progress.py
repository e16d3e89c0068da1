"""Add up the ``progress:`` lines of a sharded step's instances into one line for the user.

Each fleet shard prints ``progress: DONE/TOTAL transformers, FAILED failed, RATE/s, ...``
(``ml/steps/progress.py``); a runner reads the newest such line of every shard's log (local files,
CloudWatch streams) and shows the sum: done, failed, the combined rate and the time left.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

LINE = re.compile(r"progress: (?P<done>\d+)/(?P<total>\d+) transformers, (?P<failed>\d+) failed, (?P<rate>[\d.]+)/s")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    failed: int
    rate: float

    def __str__(self) -> str:
        left = (
            f", about {(self.total - self.done) / self.rate:.0f} s left"
            if self.rate > 0 and self.done < self.total
            else ""
        )
        return f"{self.done:,}/{self.total:,} transformers, {self.failed:,} failed, {self.rate:.1f}/s{left}"


def latest(text: str) -> Progress | None:
    """The newest progress line of one instance's log."""
    matches = LINE.findall(text)
    if not matches:
        return None
    found = dict(zip(("done", "total", "failed", "rate"), matches[-1], strict=True))
    return Progress(int(found["done"]), int(found["total"]), int(found["failed"]), float(found["rate"]))


def combined(logs: Iterable[str], instances: int) -> Progress | None:
    """The sum over instances; ``None`` until one of them has reported."""
    seen = [p for p in (latest(text) for text in logs) if p is not None]
    if not seen:
        return None
    total = sum(p.total for p in seen)
    if len(seen) < instances:  # the silent ones are still reading their input: count their share as pending
        total = max(total, round(total / len(seen) * instances))
    return Progress(sum(p.done for p in seen), total, sum(p.failed for p in seen), sum(p.rate for p in seen))
