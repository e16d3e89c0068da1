"""The command-line contract every container and cloud backend calls: arguments, exit codes, messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.steps import EXIT_BAD_INPUT, EXIT_OK, EXIT_REJECTED


def step(*args: str, home: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env |= {"GRIDCAST_HOME": str(home), "PYTHONWARNINGS": "ignore", **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ml.steps", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_bad_input_exits_2_with_one_clear_line_and_tells_the_engine(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,kw\n2023-01-01 00:00,abc\n")
    failure = tmp_path / "opt-ml-output" / "failure"
    failure.parent.mkdir()

    result = step(
        "train",
        "--data",
        str(bad),
        "--model-out",
        str(tmp_path / "m"),
        home=tmp_path / "s",
        extra_env={"GRIDCAST_FAILURE_FILE": str(failure)},
    )

    expected = f"{bad}: column 'kw' has non-numeric text on 1 row(s) at line 2 ('abc'); expected a number in kW."
    assert result.returncode == EXIT_BAD_INPUT
    assert f"error: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
    assert failure.read_text().strip() == expected  # SageMaker shows this as the FailureReason
    assert (failure.parent / "message").read_text().strip() == expected  # ...and this for processing jobs
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_train_then_rejected_promote_exit_codes(tmp_path: Path, synthetic_csv: Path) -> None:
    home = tmp_path / "s"
    trained = step("train", "--data", str(synthetic_csv), "--model-out", str(tmp_path / "m"), home=home)
    assert trained.returncode == EXIT_OK, trained.stderr
    assert "registered models:/gridcast-synthetic/1" in trained.stdout

    common = [
        "promote",
        "--data",
        str(synthetic_csv),
        "--candidate",
        str(tmp_path / "m"),
        "--decision-out",
        str(tmp_path / "d"),
        "--threshold-kw",
        "0.1",
    ]
    rejected = step(*common, home=home)
    assert rejected.returncode == EXIT_REJECTED
    assert "version 1 rejected: test RMSE" in rejected.stdout

    # Engines that fail a step on any non-zero code get a zero and read decision.json instead.
    tolerated = step(*common, "--rejected-exit-code", "0", home=home)
    assert tolerated.returncode == EXIT_OK
    assert '"promoted": false' in (tmp_path / "d" / "decision.json").read_text()


def test_missing_candidate_is_an_error_not_a_crash(tmp_path: Path, synthetic_csv: Path) -> None:
    result = step(
        "promote",
        "--data",
        str(synthetic_csv),
        "--candidate",
        str(tmp_path / "none"),
        "--decision-out",
        str(tmp_path / "d"),
        home=tmp_path / "s",
    )
    assert result.returncode == 1
    assert (
        f"error: {tmp_path / 'none' / 'candidate.json'}: no candidate here; run the train step with "
        f"'--model-out {tmp_path / 'none'}' first." in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bad_input", [True, False], ids=["refused input", "missing file"])
def test_an_unwritable_failure_file_never_hides_the_steps_own_error(tmp_path: Path, bad_input: bool) -> None:
    """SageMaker's /opt/ml/output may be unwritable (root-owned mount, full disk): the real error still shows."""
    failure = tmp_path / "opt-ml-output" / "failure"
    failure.mkdir(parents=True)  # writing "failure" raises IsADirectoryError, even for root
    data = tmp_path / "bad.csv"
    if bad_input:
        data.write_text("timestamp,kw\n2023-01-01 00:00,abc\n")
    args = ["train", "--data", str(data), "--model-out", str(tmp_path / "m")]

    result = step(*args, home=tmp_path / "s", extra_env={"GRIDCAST_FAILURE_FILE": str(failure)})

    own_error = "column 'kw' has non-numeric text" if bad_input else "bad.csv"
    assert result.returncode == EXIT_BAD_INPUT
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and own_error in errors[0]
    assert f"warning: could not write the failure file {failure}" in result.stderr
    assert "Traceback" not in result.stderr
