"""``runs/<id>/status.json``: what the run's supervisor is doing, readable by any ``runner`` process.

Written atomically (temporary file, then rename), so a reader never sees half a file, and a full
disk leaves the previous status in place.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runners.base import Status, StepReport

STATUS_FILE = "status.json"
RUNNING, SUCCEEDED, FAILED, STOPPED, KILLED = "running", "succeeded", "failed", "stopped", "killed"
FINAL = {SUCCEEDED, FAILED, STOPPED, KILLED}


@dataclass
class RunStatus:
    state: str = RUNNING
    supervisor_pid: int | None = None
    supervisor_started: str | None = None
    detached: bool = False
    steps: list[dict[str, str]] = field(default_factory=list)
    step_pids: list[tuple[int, str | None]] = field(default_factory=list)
    message: str = ""
    """Why the run ended as it did, when that is not a step's own message (stopped, killed, no space)."""
    outputs: list[str] = field(default_factory=list)
    """The result files delivered into the output folder (empty until the run succeeded)."""
    recovered: bool = False
    """Its MLflow runs were closed and undecided model versions marked after it ended abnormally."""

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def reports(self) -> list[StepReport]:
        return [
            StepReport(s["step"], Status(s["status"]), s.get("message", ""), s.get("log_tail", "")) for s in self.steps
        ]

    def record(self, report: StepReport) -> None:
        entry = {
            "step": report.step,
            "status": report.status.value,
            "message": report.message,
            "log_tail": report.log_tail,
        }
        for i, existing in enumerate(self.steps):
            if existing["step"] == report.step:
                self.steps[i] = entry
                return
        self.steps.append(entry)


def read_status(run_dir: Path) -> RunStatus | None:
    try:
        data: dict[str, Any] = json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    data["step_pids"] = [tuple(p) for p in data.get("step_pids", [])]
    return RunStatus(**data)


def write_status(run_dir: Path, status: RunStatus) -> None:
    path = run_dir / STATUS_FILE
    scratch = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
    try:
        scratch.write_text(json.dumps(asdict(status), indent=2) + "\n")
        os.replace(scratch, path)
    except OSError:
        scratch.unlink(missing_ok=True)
        raise
