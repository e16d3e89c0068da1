"""Sharded steps on this machine: a step with ``shards`` runs as N processes at once, one log each.

Kept apart from ``runner.py`` (which plans and runs ordinary steps): this module plans the N shard
commands of a step and runs them, adding their ``progress:`` lines up while they go. Each shard
process gets the same narrow environment as any local step, never the caller's whole environment.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from runners.base import OnStatus, Status, StepReport
from runners.local.lifetime import die_with_parent
from runners.progress import combined
from runners.spec import Step

POLL_S = 0.5
SHOW_EVERY_S = 5.0
JOBS = "jobs"
"""A sharded step's ``jobs`` parameter (workers per instance); 0 here means: split this machine's cores."""


def cores() -> int:
    from ml.workers import default_jobs

    return default_jobs()


def shard_commands(
    step: Step, inputs: dict[str, str], outputs: dict[str, str], parameters: dict[str, Any]
) -> list[list[str]]:
    """One command per shard; ``jobs`` 0 becomes this machine's cores divided among the shards."""
    assert step.shards is not None
    if parameters.get(JOBS) == 0:
        parameters = parameters | {JOBS: max(cores() // step.shards.count, 1)}
    return step.render_shards(inputs, outputs, parameters)


def shard_log(run_dir: Path, step: str, index: int) -> Path:
    return run_dir / f"{step}.shard-{index}.log"


def run_shards(
    run_dir: Path,
    step: dict[str, Any],
    env: dict[str, str],
    on_status: OnStatus,
    tail: Callable[[Path], str],
    stop: threading.Event | None = None,
    track: Callable[[list[subprocess.Popen[bytes]]], None] | None = None,
) -> StepReport:
    """Start every shard, report combined progress while they run, and fail the step if any shard fails.

    ``stop`` set while they run terminates every shard; ``track`` is told the shard processes (the
    supervisor records their pids so a run found dead later is cleaned up)."""
    name, commands = step["name"], step["shards"]
    (run_dir / name).mkdir(parents=True, exist_ok=True)
    logs = [shard_log(run_dir, name, i) for i in range(len(commands))]
    started = time.perf_counter()
    with ExitStack() as stack:
        handles = [stack.enter_context(log.open("w")) for log in logs]
        processes = [
            subprocess.Popen(
                [sys.executable if argv[0] == "python" else argv[0], *argv[1:]],
                cwd=run_dir / name,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # a killed supervisor takes its shards with it
            )
            for argv, handle in zip(commands, handles, strict=True)
        ]
        if track is not None:
            track(processes)
        try:
            _follow(name, processes, logs, on_status, stop)
        except BaseException:  # Ctrl-C or an error here: no shard is left running
            for process in processes:
                process.kill()
                process.wait()
            raise
    codes = [p.returncode for p in processes]
    elapsed = f"{time.perf_counter() - started:.1f} s, {len(commands)} shards"
    (run_dir / f"{name}.log").write_text(
        "".join(
            f"--- shard {i} of {len(logs)} (exit code {c}) ---\n{log.read_text(errors='replace')}"
            for i, (log, c) in enumerate(zip(logs, codes, strict=True))
        )
    )
    failed = [i for i, code in enumerate(codes) if code != 0]
    if failed:
        first = failed[0]
        message = (
            f"shard(s) {', '.join(map(str, failed))} of {len(codes)} failed (exit code {codes[first]}) after {elapsed}"
        )
        return StepReport(name, Status.FAILED, message, tail(logs[first]))
    return StepReport(name, Status.SUCCEEDED, elapsed, tail(run_dir / f"{name}.log"))


def _follow(
    name: str,
    processes: list[subprocess.Popen[bytes]],
    logs: list[Path],
    on_status: OnStatus,
    stop: threading.Event | None,
) -> None:
    shown, last = "", time.perf_counter()
    while any(p.poll() is None for p in processes):
        time.sleep(POLL_S)
        if stop is not None and stop.is_set():
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            continue
        if time.perf_counter() - last < SHOW_EVERY_S:
            continue
        last = time.perf_counter()
        progress = combined((log.read_text(errors="replace") for log in logs), len(logs))
        if progress is not None and str(progress) != shown:
            shown = str(progress)
            on_status(StepReport(name, Status.RUNNING, shown))
