"""How the CLI ends a run it did not see succeed: one clear line, non-zero, no outputs fetched.

The backend here is a test double (a minimal ``Runner``): the real backends have their own tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from runners import cli
from runners.base import BackendError, RunHandle, Runner, RunRequest, RunResult, Status, StepReport
from runners.spec import PipelineSpec, load_spec


class StoppedRunner(Runner):
    """Test double: a run that was stopped before any step failed."""

    name = "double"

    def __init__(self) -> None:
        self.fetched = False

    def submit(self, spec: PipelineSpec, request: RunRequest) -> RunHandle:
        return RunHandle(self.name, "run-1")

    def wait(self, handle: RunHandle, on_status: object) -> RunResult:
        return RunResult(Status.STOPPED, [StepReport("train", Status.STOPPED)])

    def logs(self, handle: RunHandle, step: str) -> str:
        return ""

    def outputs(self, handle: RunHandle, destination: Path) -> list[Path]:
        self.fetched = True
        raise BackendError("no outputs")


def test_a_stopped_run_exits_1_without_fetching_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path))
    runner = StoppedRunner()
    request = RunRequest(data=tmp_path / "d.csv", output_dir=tmp_path / "out")

    with pytest.raises(typer.Exit) as caught:
        cli._execute(runner, load_spec(), request, detach=False)

    assert caught.value.exit_code == 1
    assert not runner.fetched
    assert "error: run run-1 ended stopped" in capsys.readouterr().err


def test_backend_errors_become_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as caught, cli._backend_errors():
        raise BackendError("aws stack outputs: missing key 'bucket' [see infra/README.md]")
    assert caught.value.exit_code == 1
    assert capsys.readouterr().err.strip() == "error: aws stack outputs: missing key 'bucket' [see infra/README.md]"


def test_unreadable_stack_outputs_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path / "state"))
    outputs = tmp_path / "stack.json"
    outputs.write_text("{bad")
    data = tmp_path / "d.csv"
    data.write_text("timestamp,kw\n")

    result = CliRunner().invoke(cli.app, ["--backend", "aws", "--data", str(data), "--stack-outputs", str(outputs)])

    assert result.exit_code == 1
    assert f"error: {outputs}: cannot read stack outputs as JSON (Expecting property name" in result.output
    assert "Traceback" not in result.output
