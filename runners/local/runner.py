"""Run the pipeline on this machine: each step its own process, seeing only its declared paths.

That is exactly what a container gets, so a step that works here works in the image and the
clouds. Each run lives in ``<state>/runs/<run id>/``: one folder per step output, one log per step.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.steps.store_uri import REDACTED, redact
from runners.base import RESULT_FILES, BackendError, OnStatus, RunHandle, Runner, RunRequest, RunResult, Status
from runners.local import shards
from runners.local.engine import ContainerIsolation
from runners.local.lifetime import alive, kill_if_alive
from runners.local.status import KILLED, RUNNING, STATUS_FILE, STOPPED, SUCCEEDED, RunStatus, read_status, write_status
from runners.spec import PipelineSpec

POLL_S = 0.1
STOP_WAIT_S = 180.0
"""A stop waits for the step's grace period, then the recovery step."""
RELEASE_WAIT_S = 10.0
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
        self._supervisors: dict[str, subprocess.Popen[str]] = {}  # runs this process started and follows

    def _run_dir(self, handle: RunHandle) -> Path:
        return self.state_dir / "runs" / handle.run_id

    def submit(self, spec: PipelineSpec, request: RunRequest) -> RunHandle:
        """Write the run's plan (every step's concrete command); ``wait`` executes it."""
        self.recover_dead_runs()
        handle = RunHandle(self.name, new_run_id())
        run_dir = self._run_dir(handle)
        if request.tracking_uri:
            self.tracking_uri = request.tracking_uri
        # The plan is on disk: the URI goes there without its password; the steps get the real one.
        plan: dict[str, Any] = {"spec": spec.name, "tracking_uri": redact(self.tracking_uri), "steps": []}
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
        """Start the run's supervisor (``supervise.py``) in its own session and follow it."""
        run_dir = self._run_dir(handle)
        with (run_dir / "supervisor.log").open("a") as log:
            self._supervisors[handle.run_id] = subprocess.Popen(
                [sys.executable, "-m", "runners.local.supervise", str(run_dir)],
                stdin=subprocess.PIPE,  # the lifeline: closed when this process dies, however it dies
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # Ctrl-C at the terminal reaches this process only; we ask first
                env=os.environ | {"MLFLOW_TRACKING_URI": self.tracking_uri, "GRIDCAST_HOME": str(self.state_dir)},
            )
        return self._follow(handle, on_status)

    def _follow(self, handle: RunHandle, on_status: OnStatus, timeout_s: float | None = None) -> RunResult:
        run_dir = self._run_dir(handle)
        seen: dict[str, tuple[Status, str]] = {}
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            status = read_status(run_dir)
            process = self._supervisors.get(handle.run_id)
            if status is None and process is not None and process.poll() is not None:
                log = (run_dir / "supervisor.log").read_text(errors="replace").strip().splitlines()
                raise BackendError(
                    f"run {handle.run_id}: the supervisor did not start ({log[-1] if log else 'no log'})"
                )
            gone = status is not None and not self._supervisor_alive(handle, status)
            if gone and status is not None and not status.final:
                status = read_status(run_dir) or status  # it may have finished between the two reads
                if not status.final:
                    status = self._close_dead(run_dir, status, self._why_gone(handle))
            for report in status.reports() if status else []:
                if seen.get(report.step) != (report.status, report.message):
                    seen[report.step] = (report.status, report.message)
                    on_status(report)
            if status is not None and status.final:
                return _result(status)
            if deadline is not None and time.monotonic() > deadline:
                return RunResult(Status.RUNNING, status.reports() if status else [])
            time.sleep(POLL_S)

    def _why_gone(self, handle: RunHandle) -> str:
        process = self._supervisors.get(handle.run_id)
        if process is not None and process.returncode is not None and process.returncode >= 0:
            return "the run's supervisor ended without recording how (is the state folder's disk full?)"
        return "the run's supervisor was killed"

    def _supervisor_alive(self, handle: RunHandle, status: RunStatus) -> bool:
        process = self._supervisors.get(handle.run_id)
        if process is not None:
            return process.poll() is None
        return alive(status.supervisor_pid, status.supervisor_started)

    def stop(self, handle: RunHandle) -> None:
        """Stop the steps cleanly (they close their MLflow runs), recover, and wait until the run has ended."""
        process = self._supervisors.get(handle.run_id)
        status = read_status(self._run_dir(handle))
        if process is not None and process.stdin is not None and process.poll() is None:
            _tell(process, "stop")
        elif status is not None and not status.final and status.supervisor_pid is not None:
            kill_if_alive(status.supervisor_pid, status.supervisor_started, signal.SIGTERM)
        self._follow(handle, lambda report: None, timeout_s=STOP_WAIT_S)

    def release(self, handle: RunHandle) -> None:
        """Leave the run going without this process: its supervisor stops listening for our death."""
        process = self._supervisors.get(handle.run_id)
        if process is None or process.poll() is not None:
            return
        _tell(process, "detach")
        deadline = time.monotonic() + RELEASE_WAIT_S
        while time.monotonic() < deadline:
            status = read_status(self._run_dir(handle))
            if status is not None and (status.detached or status.final):
                return
            time.sleep(POLL_S)
        raise BackendError(f"run {handle.run_id}: its supervisor did not confirm; it stops when this runner exits")

    def status(self, handle: RunHandle) -> RunResult:
        run_dir = self._run_dir(handle)
        status = read_status(run_dir)
        if status is None:
            raise BackendError(f"run {handle.run_id}: no status in {run_dir} (it never started)")
        if not status.final and not self._supervisor_alive(handle, status):
            status = self._close_dead(run_dir, status, "its supervisor is gone (killed, or the machine restarted)")
        return _result(status)

    def recover_dead_runs(self) -> list[str]:
        """Close what earlier runs left open when everything was killed at once: at the latest, at the next start."""
        closed = []
        for status_path in sorted((self.state_dir / "runs").glob(f"*/{STATUS_FILE}")):
            status = read_status(status_path.parent)
            if status is not None and not status.final and not alive(status.supervisor_pid, status.supervisor_started):
                self._close_dead(status_path.parent, status, "its runner and supervisor were killed")
                closed.append(status_path.parent.name)
        return closed

    def _close_dead(self, run_dir: Path, status: RunStatus, why: str) -> RunStatus:
        """A run whose supervisor died: kill what is left of it, close its MLflow runs, mark it KILLED."""
        for pid, started in status.step_pids:
            kill_if_alive(pid, started)
        status.recovered = self._recover(run_dir)
        for entry in status.steps:
            if entry["status"] in (Status.RUNNING.value, Status.PENDING.value):
                entry |= {"status": Status.FAILED.value, "message": why}
        status.state, status.message = KILLED, why
        with suppress(OSError):  # a full disk: the next start finds it dead again and recovers it again
            write_status(run_dir, status)
        return status

    def _recover(self, run_dir: Path) -> bool:
        """Run the ``recover`` step for one dead run against the store it used (if we can reach it)."""
        planned = json.loads((run_dir / "plan.json").read_text())["tracking_uri"]
        uri = self.tracking_uri if redact(self.tracking_uri) == planned else planned
        if REDACTED in uri:  # its credentials are not ours to know: a run against that store recovers it
            return False
        command = [sys.executable, "-m", "ml.steps", "recover", "--pipeline-run-id", run_dir.name]
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env |= {"MLFLOW_TRACKING_URI": uri, "GRIDCAST_HOME": str(self.state_dir), "PYTHONWARNINGS": "ignore"}
        with suppress(OSError), (run_dir / "recover.log").open("a") as log:
            try:
                return (
                    subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=120).returncode == 0
                )
            except (OSError, subprocess.TimeoutExpired):
                return False
        return False

    def logs(self, handle: RunHandle, step: str) -> str:
        path = self._run_dir(handle) / f"{step}.log"
        return path.read_text() if path.is_file() else ""

    def outputs(self, handle: RunHandle, destination: Path) -> list[Path]:
        plan = json.loads((self._run_dir(handle) / "plan.json").read_text())
        destination.mkdir(parents=True, exist_ok=True)
        names = plan.get("result_files", RESULT_FILES)
        return [Path(shutil.copy2(Path(plan["result_dir"]) / name, destination / name)) for name in names]


def _tell(process: subprocess.Popen[str], command: str) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(command + "\n")
        process.stdin.flush()
    except (BrokenPipeError, OSError):
        pass  # it has ended meanwhile; its status says how


def _result(status: RunStatus) -> RunResult:
    state = {SUCCEEDED: Status.SUCCEEDED, STOPPED: Status.STOPPED}.get(status.state, Status.FAILED)
    if status.state == RUNNING:
        state = Status.RUNNING
    return RunResult(state, status.reports(), status.message)
