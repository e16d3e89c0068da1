"""`runner --backend azure ...` end to end through the real CLI, against the loopback workspace."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure_testkit import IMAGE, FakeCredential
from azureml_loopback import FakeAzureML, Scenario
from rich.console import Console
from typer.testing import CliRunner

from runners.azure import POLL_SECONDS_ENV
from runners.cli import app
from runners.summary import print_summary

Start = Callable[..., FakeAzureML]


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack_outputs: dict[str, Any], credential: FakeCredential
) -> Callable[..., Any]:
    """Invoke the CLI with the stack outputs file; DefaultAzureCredential replaced by the fake (MOCK)."""
    import runners.azure.client

    monkeypatch.setattr(runners.azure.client, "default_credential", lambda: credential)
    monkeypatch.setenv("GRIDCAST_HOME", str(tmp_path / "state"))
    monkeypatch.setenv(POLL_SECONDS_ENV, "0.01")
    monkeypatch.setenv("COLUMNS", "200")
    outputs_file = tmp_path / "stack-outputs.json"
    outputs_file.write_text(json.dumps(stack_outputs))

    def invoke(*args: str) -> Any:
        stack = [] if "--stack-outputs" in args else ["--stack-outputs", str(outputs_file)]
        return CliRunner().invoke(app, [*args, "--backend", "azure", *stack])

    return invoke


def test_dry_run_prints_the_job_and_calls_nothing(
    workspace: Start, cli: Callable[..., Any], credential: FakeCredential, load_csv: Path
) -> None:
    fake = workspace()
    result = cli("--dry-run", "--data", str(load_csv), "--image", IMAGE, "--endpoint-url", fake.url)
    assert result.exit_code == 0, result.output
    assert "-> data asset transformer-load-data:" in result.stdout
    assert f"image: {IMAGE}" in result.stdout
    assert "command: python -m ml.steps promote" in result.stdout
    assert "path: ${{parent.jobs.train.outputs.model}}" in result.stdout
    assert fake.requests == []
    assert credential.scopes == []  # not even a token was asked for


def test_a_bad_stack_output_is_one_error_line(
    cli: Callable[..., Any], stack_outputs: dict[str, Any], tmp_path: Path, load_csv: Path
) -> None:
    del stack_outputs["compute_target"]
    broken = tmp_path / "broken-outputs.json"
    broken.write_text(json.dumps(stack_outputs))
    result = cli("--data", str(load_csv), "--image", IMAGE, "--stack-outputs", str(broken))
    assert result.exit_code == 1
    assert result.stderr == "error: stack outputs are missing compute_target (is this the Azure stack?)\n"


def test_a_run_prints_steps_then_the_same_summary_as_local(
    workspace: Start, cli: Callable[..., Any], load_csv: Path, tmp_path: Path, result_files: dict[str, bytes]
) -> None:
    fake = workspace(Scenario(result_files=result_files))
    out = tmp_path / "out"
    result = cli("--data", str(load_csv), "--image", IMAGE, "--endpoint-url", fake.url, "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    assert re.search(r"running  train\n.*succeeded  train\n", result.stdout)
    assert "succeeded  predict" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted([*result_files, "gridcast_run.json"])

    expected = io.StringIO()
    print_summary(Console(file=expected, width=200, highlight=False), out, [out / name for name in result_files])
    assert expected.getvalue() in result.stdout
    assert "REJECTED, champion kept" in result.stdout


def test_a_failed_run_exits_non_zero_with_the_step_error_and_log(
    workspace: Start, cli: Callable[..., Any], load_csv: Path
) -> None:
    fake = workspace(
        Scenario(
            timeline=[{"pipeline": "Failed", "train": "Failed"}],
            errors={"train": "Execution failed. User process 'python' exited with status code 2."},
            logs={"train": "error: load.csv line 7: kw is not a number\n"},
        )
    )
    result = cli("--data", str(load_csv), "--image", IMAGE, "--endpoint-url", fake.url)
    assert result.exit_code == 1
    assert "step train failed: Execution failed. User process 'python' exited with status code 2." in result.stderr
    assert "--- last lines of the train log ---\nerror: load.csv line 7: kw is not a number" in result.stderr


def test_detach_then_status(workspace: Start, cli: Callable[..., Any], load_csv: Path) -> None:
    fake = workspace(Scenario(timeline=[{"pipeline": "Running", "train": "Completed", "promote": "Queued"}]))
    submitted = cli("--detach", "--data", str(load_csv), "--image", IMAGE, "--endpoint-url", fake.url)
    assert submitted.exit_code == 0, submitted.output
    run_id = fake.pipeline_name()
    assert f"runner status --backend azure {run_id}" in submitted.stdout
    assert fake.calls("GET", r"/children$") == []  # detached: submitted, not followed

    status = cli("status", run_id, "--endpoint-url", fake.url)
    assert status.exit_code == 0, status.output
    assert re.search(r"succeeded  train\n\s+pending  promote \(Queued\)\n", status.stdout)
    assert f"run {run_id}: running" in status.stdout
