"""A warm step process does nothing until told to go, then behaves exactly like a cold one."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from runners.local.warm import StepProcess


def command(tmp_path: Path) -> list[str]:
    source = tmp_path / "in.json"
    source.write_text('{"b": 1, "a": 2}')
    return [sys.executable, "-m", "json.tool", "--sort-keys", str(source), str(tmp_path / "out.json")]


def test_runs_only_after_go(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as log:
        step = StepProcess(command(tmp_path), tmp_path, {}, log)
        time.sleep(0.5)  # long enough for an eager process to have written its output
        assert not (tmp_path / "out.json").exists()
        assert step.go() == 0
    assert (tmp_path / "out.json").read_text().startswith('{\n    "a": 2')


def test_cancelled_step_never_runs(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as log:
        step = StepProcess(command(tmp_path), tmp_path, {}, log)
        step.cancel()
    assert step.process is not None and step.process.returncode == 1
    assert not (tmp_path / "out.json").exists()


def test_exit_code_and_output_are_the_step_s_own(tmp_path: Path) -> None:
    missing = [sys.executable, "-m", "json.tool", str(tmp_path / "nope.json")]
    with (tmp_path / "log").open("w") as log:
        code = StepProcess(missing, tmp_path, {}, log).go()
    assert code != 0
    assert "nope.json" in (tmp_path / "log").read_text()


def test_other_commands_start_on_go(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as log:
        step = StepProcess(["/bin/sh", "-c", "echo ran > marker"], tmp_path, {}, log)
        assert step.process is None
        assert step.go() == 0
    assert (tmp_path / "marker").read_text() == "ran\n"


def test_a_bare_full_disk_as_the_step_starts_or_ends_is_one_line(tmp_path: Path) -> None:
    """The launcher's own inline check (it cannot import ml.steps.disk): ENOSPC that no handler of the step caught."""
    (tmp_path / "fills.py").write_text("import errno\nraise OSError(errno.ENOSPC, 'No space left on device')\n")
    with (tmp_path / "log").open("w") as log:
        code = StepProcess([sys.executable, "-m", "fills"], tmp_path, {}, log).go()
    assert code == 1
    assert (tmp_path / "log").read_text() == "error: no space left on device: [Errno 28] No space left on device\n"
