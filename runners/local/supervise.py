"""``python -m runners.local.supervise RUN_DIR``: run a planned local pipeline, step after step.

The ``runner`` starts this supervisor in a session of its own, so Ctrl-C at the terminal reaches
the runner (which asks what to do) and never the steps directly. Its standard input is a lifeline
from the runner:

- ``stop``: stop the current step (SIGTERM, then SIGKILL after a grace period) and end the run;
- ``detach``: the user chose to leave the run going; it continues without a runner;
- end of input without ``detach``: the runner died (even by ``kill -9``): stop, as for ``stop``.

Each step is started with ``PR_SET_PDEATHSIG``, so a ``kill -9`` of the supervisor itself takes its
step with it. Whenever a run ends other than by succeeding, the supervisor runs the ``recover`` step
(``ml/steps/recover.py``): no MLflow run stays RUNNING, no version stays without a gate decision.
Progress goes to ``status.json`` (``runners/local/status.py``), which ``runner status`` reads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from ml.steps.disk import disk_full
from runners.base import Status, StepReport
from runners.local import shards
from runners.local.engine import ContainerIsolation
from runners.local.lifetime import die_with_parent, start_time
from runners.local.status import FAILED, KILLED, STOPPED, SUCCEEDED, RunStatus, write_status
from runners.local.warm import StepProcess

LOG_TAIL_LINES = 20
STOP_GRACE_S = 20.0
"""How long a step gets to close its MLflow run after SIGTERM before it is killed."""
RECOVER_TIMEOUT_S = 120


class Supervisor:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.plan: dict[str, Any] = json.loads((run_dir / "plan.json").read_text())
        self.status = RunStatus(supervisor_pid=os.getpid(), supervisor_started=start_time(os.getpid()))
        self.stop_requested = threading.Event()
        self.why_stopped = ""
        self.current: StepProcess | None = None
        self.lock = threading.Lock()
        self.env = self._step_env()
        self.container = self._container()

    # -- the lifeline -------------------------------------------------------------------------
    def listen(self) -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "detach":
                with self.lock:
                    self.status.detached = True
                    self._save()
            elif command == "stop":
                self._stop("stopped on request (Ctrl-C)")
                return
        if not self.status.detached:
            self._stop("the runner went away (killed or its terminal closed): stopped with it")

    def _stop(self, why: str) -> None:
        self.why_stopped = why
        self.stop_requested.set()
        current = self.current
        if current is not None:
            current.terminate(STOP_GRACE_S)

    # -- running the plan ---------------------------------------------------------------------
    def run(self) -> int:
        """Run the plan; whatever goes wrong here (a full disk most likely), the run still ends recovered."""
        self._save()
        threading.Thread(target=self.listen, daemon=True).start()
        try:
            return self._run_plan()
        except Exception as exc:
            full = disk_full(exc)
            why = f"no space left on device ({full or self.run_dir})" if full is not None else repr(exc)
            with self.lock:
                self.status.message = f"the supervisor could not go on: {why}"
                for entry in self.status.steps:
                    if entry["status"] == Status.RUNNING.value:
                        entry |= {"status": Status.FAILED.value, "message": self.status.message}
            self._recover(FAILED)
            with self.lock:
                self.status.state = FAILED
                self._save()
            return 1

    def _run_plan(self) -> int:
        steps = self.plan["steps"]
        state = SUCCEEDED
        with ExitStack() as logs:
            upcoming = self._prepare(steps[0], logs) if steps else None
            for i, step in enumerate(steps):
                current, upcoming = upcoming, None
                if self.stop_requested.is_set():
                    state = STOPPED
                    if current is not None:
                        current.cancel()
                    break
                self._report(StepReport(step["name"], Status.RUNNING))
                if i + 1 < len(steps):  # its imports overlap this step's work; it waits for "go"
                    upcoming = self._prepare(steps[i + 1], logs)
                report = self._run_step(step, current)
                if self.stop_requested.is_set() and report.status is Status.FAILED:
                    report = StepReport(step["name"], Status.STOPPED, self.why_stopped, report.log_tail)
                self._report(report)
                if report.status in (Status.FAILED, Status.STOPPED):
                    if upcoming is not None:
                        upcoming.cancel()
                    state = STOPPED if report.status is Status.STOPPED else FAILED
                    break
        if state != SUCCEEDED:
            self._recover(state)
        with self.lock:
            self.status.state = state
            if state == STOPPED:
                self.status.message = self.why_stopped
            elif state == SUCCEEDED:
                self.status.message = f"results in {self.plan['result_dir']}"
            self._save()
        return 0 if state == SUCCEEDED else 1

    def _step_env(self) -> dict[str, str]:
        from runners.local.runner import PASSED_ENV

        planned = self.plan["tracking_uri"]
        given = os.environ.get("MLFLOW_TRACKING_URI", "")
        from ml.steps.store_uri import redact

        # The plan stores the URI without secrets; the runner handed the real one in our environment.
        uri = given if given and redact(given) == planned else planned
        return {k: os.environ[k] for k in PASSED_ENV if k in os.environ} | {
            "MLFLOW_TRACKING_URI": uri,
            "GRIDCAST_PIPELINE_RUN_ID": self.run_dir.name,
            "GRIDCAST_HOME": os.environ.get("GRIDCAST_HOME", str(self.run_dir.parents[1])),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONWARNINGS": "ignore",
        }

    def _container(self) -> ContainerIsolation | None:
        config = self.plan.get("container")
        if not config:
            return None
        return ContainerIsolation.create(self.run_dir.parents[1], config["image"], config["engine"])

    def _prepare(self, step: dict, logs: ExitStack) -> StepProcess | None:
        """Start the step's process warm (process isolation only; containers start on their turn)."""
        if self.container is not None or "shards" in step:
            return None
        workdir = self.run_dir / step["name"]
        workdir.mkdir(parents=True, exist_ok=True)
        log = logs.enter_context((self.run_dir / f"{step['name']}.log").open("w"))
        command = [sys.executable if step["command"][0] == "python" else step["command"][0], *step["command"][1:]]
        process = StepProcess(command, workdir, self.env, log)
        self._track(process)
        return process

    def _run_step(self, step: dict, process: StepProcess | None) -> StepReport:
        if "shards" in step:
            return shards.run_shards(
                self.run_dir, step, self.env, self._report, _tail, self.stop_requested, self._track_shards
            )
        log_path = self.run_dir / f"{step['name']}.log"
        started = time.perf_counter()
        if self.container is not None:
            (self.run_dir / step["name"]).mkdir(parents=True, exist_ok=True)
            with log_path.open("w") as log:
                code = self.container.run(self.run_dir.name, step, self.env, log)
        else:
            assert process is not None  # prepared by run()
            self.current = process
            if self.stop_requested.is_set():  # asked to stop between _prepare and now
                process.cancel()
                code = -signal.SIGTERM
            else:
                code = process.go()
            self._track(process)
            self.current = None
            with suppress(OSError):  # a full disk cannot take the last buffered lines; the step has ended
                process.log.close()
        where = f" in {self.container.engine.name}" if self.container is not None else ""
        elapsed = f"{time.perf_counter() - started:.1f} s{where}"
        tail = _tail(log_path)
        if code == 0:
            return StepReport(step["name"], Status.SUCCEEDED, elapsed, tail)
        if step["exit_codes"].get(str(code)) == "rejected":
            return StepReport(step["name"], Status.REJECTED, elapsed, tail)
        return StepReport(step["name"], Status.FAILED, f"{_ended(code)} after {elapsed}", tail)

    def _recover(self, state: str) -> None:
        """Close this run's MLflow runs and mark its undecided versions; never fails the supervisor."""
        command = [sys.executable, "-m", "ml.steps", "recover", "--pipeline-run-id", self.run_dir.name]
        command += ["--status", "KILLED" if state in (STOPPED, KILLED) else "FAILED"]
        try:
            log = (self.run_dir / "recover.log").open("w")
        except OSError:
            log = open(os.devnull, "w")  # noqa: SIM115 (closed below)
        with log:
            try:
                code = subprocess.run(
                    command, env=self.env, stdout=log, stderr=subprocess.STDOUT, timeout=RECOVER_TIMEOUT_S,
                    preexec_fn=die_with_parent,
                ).returncode  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.write(f"recover did not finish: {exc}\n")
                code = 1
        with self.lock:
            self.status.recovered = code == 0
            self._save()

    # -- status -------------------------------------------------------------------------------
    def _track(self, process: StepProcess) -> None:
        if process.process is not None:
            pid = process.process.pid
            with self.lock:
                if process.process.returncode is None:
                    self.status.step_pids.append((pid, start_time(pid)))
                else:
                    self.status.step_pids = [p for p in self.status.step_pids if p[0] != pid]
                self._save()

    def _track_shards(self, processes: list[subprocess.Popen[bytes]]) -> None:
        with self.lock:
            self.status.step_pids += [(p.pid, start_time(p.pid)) for p in processes]
            self._save()

    def _report(self, report: StepReport) -> None:
        with self.lock:
            self.status.record(report)
            self._save()

    def _save(self) -> None:
        try:
            write_status(self.run_dir, self.status)
        except OSError as exc:  # a full state disk: the step's failure says why; keep supervising
            with suppress(OSError):  # our own log is on the same disk
                print(f"status not saved: {exc}", file=sys.stderr, flush=True)


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle; "stop" comes from it
    supervisor = Supervisor(Path(sys.argv[1]))
    signal.signal(signal.SIGTERM, lambda signum, frame: supervisor._stop("stopped by SIGTERM"))
    sys.exit(supervisor.run())


if __name__ == "__main__":
    main()
