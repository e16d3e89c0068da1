"""Every option, the output folder, the state folder and the tracking store are checked before any
step runs: exit 2, one line naming the problem, nothing registered (no store is even created)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Run
from tests.faults.conftest import mounted_tmpfs


def refused(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert result.returncode == 2, result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / ".gridcast" / "mlflow.db").exists()  # nothing registered, nothing moved
    assert not (tmp_path / ".gridcast" / "runs").exists()
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold-kw", "nan"], "error: --threshold-kw nan: must be a finite number"),
        (["--limit-kw", "inf"], "error: --limit-kw inf: must be a finite number"),
        (["--limit-kw", "0"], "error: --limit-kw 0.0: must be greater than 0"),
        (["--limit-kw", "-5"], "error: --limit-kw -5.0: must be greater than 0"),
        (["--horizon-years", "100"], "error: --horizon-years 100.0: must be less than or equal to 30"),
        (["--horizon-years", "nan"], "error: --horizon-years nan: must be a finite number"),
        (["--threshold-kw", "1e400"], "error: --threshold-kw inf: must be a finite number"),
        (["--data", "nope.csv"], "error: --data nope.csv: no such file; pass an existing CSV"),
        (["--limitkw", "3"], "error: No such option: --limitkw (Possible options: --limit-kw)"),
        (["--tracking-uri", "foo://x"], "error: tracking URI 'foo://x': unsupported scheme 'foo'"),
    ],
)
def test_bad_option_is_refused_before_anything_runs(
    tmp_path: Path, run_runner: Run, args: list[str], message: str
) -> None:
    assert refused(run_runner(*args), tmp_path).startswith(message)


def test_output_dir_that_is_a_file(tmp_path: Path, run_runner: Run) -> None:
    (tmp_path / "taken").write_text("x")
    line = refused(run_runner("--output-dir", "taken"), tmp_path)
    assert line == "error: --output-dir taken: is a file, not a folder"


def test_closed_tracking_server_port_is_refused_in_seconds(tmp_path: Path, run_runner: Run) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    line = refused(run_runner("--tracking-uri", f"http://127.0.0.1:{port}"), tmp_path)
    assert time.monotonic() - started < 15
    assert line.startswith(f"error: tracking server http://127.0.0.1:{port} did not answer within 3 s")


def test_password_in_a_refused_uri_is_not_printed(tmp_path: Path, run_runner: Run) -> None:
    result = run_runner("--tracking-uri", "foo://alice:s3cret@host/x")
    assert "s3cret" not in result.stderr + result.stdout
    assert "alice:***@host" in refused(result, tmp_path)


@pytest.fixture
def tiny_mount(tmp_path: Path) -> Iterator[Path]:
    yield from mounted_tmpfs(tmp_path / "tiny", "1m")


def test_output_dir_on_a_full_disk_is_refused(tmp_path: Path, run_runner: Run, tiny_mount: Path) -> None:
    line = refused(run_runner("--output-dir", str(tiny_mount)), tmp_path)
    assert line.startswith(f"error: --output-dir {tiny_mount}: only 1.0 MiB free on its disk, at least")


def test_state_folder_on_a_full_disk_is_refused(tmp_path: Path, run_runner: Run, tiny_mount: Path) -> None:
    result = run_runner(env={"GRIDCAST_HOME": str(tiny_mount / "state")})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: state folder {tiny_mount / 'state'}: only 1.0 MiB free on its disk, at least 64 MiB needed; "
        "free some space or choose another location"
    )
    assert not (tiny_mount / "state" / "mlflow.db").exists()


def test_read_only_output_dir_is_refused(tmp_path: Path, run_runner: Run, tiny_mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_mount)], check=True)
    line = refused(run_runner("--output-dir", str(tiny_mount / "out")), tmp_path)
    assert line == f"error: --output-dir {tiny_mount / 'out'}: cannot write there (Read-only file system)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--limit-kw", "nan"], "error: Invalid value for '--limit-kw'"),
        (["predict", "--limit-kw", "inf"], "error: --limit-kw inf: must be a finite number"),
        (["predict", "--horizon-years", "nan"], "error: Invalid value for '--horizon-years'"),
        (["promote", "--threshold-kw", "nan"], "error: --threshold-kw nan: must be a finite number"),
        (["promote", "--threshold-kw", "-1"], "error: --threshold-kw -1.0: must be greater than or equal to 0"),
        (["train", "--tracking-uri", "foo://x"], "error: tracking URI 'foo://x': unsupported scheme 'foo'"),
    ],
)
def test_step_commands_refuse_bad_options_too(tmp_path: Path, args: list[str], message: str) -> None:
    """Containers and cloud jobs call the steps directly: they check for themselves."""
    paths = {
        "predict": ["--data", "x.csv", "--out", "o"],
        "promote": ["--data", "x.csv", "--candidate", "c", "--decision-out", "d"],
        "train": ["--data", "x.csv", "--model-out", "m"],
    }[args[0]]
    env = os.environ | {"GRIDCAST_HOME": str(tmp_path / "state"), "GRIDCAST_FAILURE_FILE": str(tmp_path / "f")}
    result = subprocess.run(
        [sys.executable, "-m", "ml.steps", args[0], *paths, *args[1:]],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "state" / "mlflow.db").exists()


def test_messages_stay_one_line_on_a_narrow_terminal(tmp_path: Path, run_runner: Run) -> None:
    result = run_runner("--tracking-uri", "foo://x", env={"COLUMNS": "40"})
    assert refused(result, tmp_path).endswith("or a folder path")
