"""Start a step's process before its turn, so its imports overlap the step before it.

A local step is ``python -m ml.steps STEP ...`` in a process of its own, and most of its wall time
is Python importing MLflow, scikit-learn and pandas rather than work. A warm process is started
early with the step's final command, environment and working directory; it imports the step's
module, then blocks on stdin until the runner says its inputs are ready (``go``), and only then
runs the step exactly as a cold process would. End of input without ``go`` (the step before
failed, the runner went away) makes it exit without doing anything.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from runners.local.lifetime import die_with_parent

# The launcher's full-disk check is inline, not ml.steps.disk.disk_full: this text runs under `python -c` in
# the step's process, for any `python -m` module, so it cannot count on `ml` being importable (a failed import
# would hide the step's own error). An ml.steps command already says a full disk in one line through disk_full
# (ml/steps/__main__.py); this catches only a bare one while the step starts or ends.
LAUNCHER = """
import errno, importlib, runpy, sys
module, argv = sys.argv[1], sys.argv[2:]
try:
    importlib.import_module(f"{module}.{argv[0]}")  # e.g. ml.steps.train: the expensive imports
except (ImportError, IndexError):
    pass  # nothing to pre-import; the step still runs below
if sys.stdin.readline().strip() != "go":
    sys.exit(1)
sys.argv = [module, *argv]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except OSError as exc:  # a full disk while starting or ending the step: one line, as the step itself says it
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise
    print(f"error: no space left on device: {exc}", file=sys.stderr)
    sys.exit(1)
"""


class StepProcess:
    """One step's process: warm (started now, runs on :meth:`go`) for ``python -m``, else started on ``go``."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: IO[str]) -> None:
        self.command, self.cwd, self.env, self.log = command, cwd, env, log
        self.process: subprocess.Popen[str] | None = None
        if command[0] == sys.executable and command[1:2] == ["-m"] and len(command) > 2:
            self.process = self._start([sys.executable, "-c", LAUNCHER, *command[2:]], stdin=subprocess.PIPE)

    def _start(self, argv: list[str], stdin: int | None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv, cwd=self.cwd, env=self.env, stdin=stdin, stdout=self.log, stderr=subprocess.STDOUT, text=True,
            preexec_fn=die_with_parent,  # only a prctl call runs in the child
        )  # fmt: skip

    def go(self) -> int:
        """Run the step now and wait for it; returns its exit code."""
        if self.process is None:
            self.process = self._start(self.command, stdin=subprocess.DEVNULL)
        elif self.process.stdin is not None:
            self.process.stdin.write("go\n")
            self.process.stdin.close()
        return self.process.wait()

    def terminate(self, grace_s: float) -> None:
        """Ask the step to stop (SIGTERM: it closes its MLflow run); kill it if it is still there after ``grace_s``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()

        def kill_late() -> None:
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.kill()

        threading.Thread(target=kill_late, daemon=True).start()

    def cancel(self) -> None:
        """The step will not run: let a warm process exit on end of input."""
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            self.process.wait()
