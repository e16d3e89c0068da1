"""Processes that cannot outlive the process that started them, and a way to tell one is still alive.

A step is started with ``PR_SET_PDEATHSIG``: when its parent dies, even by ``kill -9``, the kernel
sends the step SIGTERM, and the step closes its MLflow run and exits (``ml/steps/__main__.py``). An
orphaned step can therefore never go on to promote a model after its runner is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
from contextlib import suppress
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def _prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _prctl()  # looked up once here: the forked child only calls it


def die_with_parent() -> None:
    """``preexec_fn`` for Popen: SIGTERM this child when its parent dies (Linux; a no-op elsewhere)."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent died between fork and prctl: nobody will signal us
        os._exit(1)


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is not running.

    Stored beside a pid so that a later check is not fooled by the pid being reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has finished
        return None
    return fields[19]


def alive(pid: int | None, started: str | None) -> bool:
    """Is this the same process, still running?"""
    return pid is not None and started is not None and start_time(pid) == started


def kill_if_alive(pid: int, started: str | None, sig: int = signal.SIGKILL) -> None:
    if alive(pid, started):
        with suppress(ProcessLookupError):
            os.kill(pid, sig)
