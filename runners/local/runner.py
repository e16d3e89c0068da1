"""Run the pipeline on this machine: each step its own process, seeing only its declared paths.

That is exactly what a container gets, so a step that works here works in the image and the
clouds. Each run lives in ``<state>/runs/<run id>/``: one folder per step output, one log per step.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runners.base import (
    RESULT_FILES,
    BackendError,
    OnStatus,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
    Status,
    StepReport,
)
from runners.local import shards
from runners.local.engine import ContainerIsolation
from runners.local.warm import StepProcess
from runners.spec import PipelineSpec

LOG_TAIL_LINES = 20
# A step sees these variables from the caller and nothing else (no cloud credentials leak in).
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "GRIDCAST_GIT_COMMIT",
)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class LocalRunner(Runner):
    name = "local"

    def __init__(self, state_dir: Path, tracking_uri: str, container: ContainerIsolation | None = None) -> None:
        self.state_dir = state_dir
        self.tracking_uri = tracking_uri
        self.container = container  # set: each step runs in the image (--isolation container), not as a process

    def _run_dir(self, handle: RunHandle) -> Path:
        return self.state_dir / "runs" / handle.run_id

    def submit(self, spec: PipelineSpec, request: RunRequest) -> RunHandle:
        """Write the run's plan (every step's concrete command); ``wait`` executes it."""
        handle = RunHandle(self.name, new_run_id())
        run_dir = self._run_dir(handle)
        tracking_uri = request.tracking_uri or self.tracking_uri
        plan: dict[str, Any] = {"spec": spec.name, "tracking_uri": tracking_uri, "steps": []}
        if self.container is not None and any(step.shards for step in spec.steps):
            raise BackendError("--isolation container does not run sharded steps yet; use --isolation process")
        if self.container is not None:
            plan["container"] = {"engine": self.container.engine.name, "image": self.container.image}
        produced: dict[tuple[str, str], Path] = {}
        parameters = spec.parameter_values(request.parameters)
        given = {name: str(path.resolve()) for name, path in request.input_paths(spec).items()}
        spec = spec.with_shards(request.shards)
        for step in spec.steps:
            inputs = {
                name: given[b.name] if b.source == "pipeline" else str(produced[b.key])
                for name, b in step.bindings().items()
            }
            outputs = {name: run_dir / step.name / name for name in step.outputs}
            produced |= {(step.name, name): path for name, path in outputs.items()}
            rendered = {k: str(v) for k, v in outputs.items()}
            commands = (
                shards.shard_commands(step, inputs, rendered, parameters)
                if step.shards is not None
                else [step.render(inputs, rendered, parameters)]
            )
            command = commands[0]
            plan["steps"].append(
                {
                    "name": step.name,
                    "command": command,
                    "exit_codes": step.exit_codes,
                    "inputs": inputs,
                    "outputs": {k: str(v) for k, v in outputs.items()},
                }
            )
            if step.shards is not None:
                plan["steps"][-1]["shards"] = commands
        result = spec.result_binding()
        plan["result_dir"] = str(produced[result.key])
        plan["result_files"] = list(spec.result_files)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
        return handle

    def wait(self, handle: RunHandle, on_status: OnStatus) -> RunResult:
        run_dir = self._run_dir(handle)
        plan = json.loads((run_dir / "plan.json").read_text())
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ} | {
            "MLFLOW_TRACKING_URI": plan["tracking_uri"],
            "GRIDCAST_PIPELINE_RUN_ID": handle.run_id,
            "GRIDCAST_HOME": str(self.state_dir),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONWARNINGS": "ignore",
        }
        reports: list[StepReport] = []
        steps = plan["steps"]
        with ExitStack() as logs:
            upcoming = self._prepare(run_dir, steps[0], env, logs) if steps else None
            for i, step in enumerate(steps):
                current, upcoming = upcoming, None
                on_status(StepReport(step["name"], Status.RUNNING))
                if i + 1 < len(steps):  # its imports overlap this step's work; it waits for "go"
                    upcoming = self._prepare(run_dir, steps[i + 1], env, logs)
                if "shards" in step:
                    report = shards.run_shards(run_dir, step, env, on_status, _tail)
                else:
                    report = self._run_step(run_dir, step, env, current)
                reports.append(report)
                on_status(report)
                if report.status is Status.FAILED:
                    if upcoming is not None:
                        upcoming.cancel()
                    return RunResult(Status.FAILED, reports)
        return RunResult(Status.SUCCEEDED, reports)

    def _prepare(self, run_dir: Path, step: dict, env: dict[str, str], logs: ExitStack) -> StepProcess | None:
        """Start the step's process warm (process isolation only; containers start on their turn)."""
        if self.container is not None or "shards" in step:
            return None
        workdir = run_dir / step["name"]
        workdir.mkdir(parents=True, exist_ok=True)
        log = logs.enter_context((run_dir / f"{step['name']}.log").open("w"))
        command = [sys.executable if step["command"][0] == "python" else step["command"][0], *step["command"][1:]]
        return StepProcess(command, workdir, env, log)

    def _run_step(self, run_dir: Path, step: dict, env: dict[str, str], process: StepProcess | None) -> StepReport:
        log_path = run_dir / f"{step['name']}.log"
        started = time.perf_counter()
        if self.container is not None:
            (run_dir / step["name"]).mkdir(parents=True, exist_ok=True)
            with log_path.open("w") as log:
                code = self.container.run(run_dir.name, step, env, log)
        else:
            assert process is not None  # prepared by wait()
            code = process.go()
            process.log.close()
        where = f" in {self.container.engine.name}" if self.container is not None else ""
        elapsed = f"{time.perf_counter() - started:.1f} s{where}"
        tail = _tail(log_path)
        if code == 0:
            return StepReport(step["name"], Status.SUCCEEDED, elapsed, tail)
        if step["exit_codes"].get(str(code)) == "rejected":
            return StepReport(step["name"], Status.REJECTED, elapsed, tail)
        return StepReport(step["name"], Status.FAILED, f"exit code {code} after {elapsed}", tail)

    def logs(self, handle: RunHandle, step: str) -> str:
        path = self._run_dir(handle) / f"{step}.log"
        return path.read_text() if path.is_file() else ""

    def outputs(self, handle: RunHandle, destination: Path) -> list[Path]:
        plan = json.loads((self._run_dir(handle) / "plan.json").read_text())
        destination.mkdir(parents=True, exist_ok=True)
        names = plan.get("result_files", RESULT_FILES)
        return [Path(shutil.copy2(Path(plan["result_dir"]) / name, destination / name)) for name in names]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
