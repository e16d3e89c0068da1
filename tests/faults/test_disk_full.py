"""A full disk: the output folder keeps its previous results whole, and a run whose state disk fills
up ends with one clear line instead of a bare exit code."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ml.steps.disk import disk_full
from runners import outputs
from runners.local import supervise
from runners.local.status import FAILED, read_status
from tests.conftest import RUNNER
from tests.faults.conftest import Start, mounted_tmpfs, wait_for_log


def results(folder: Path, text: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("predictions.csv", "overload_report.json", "forecast.png"):
        (folder / name).write_text(f"{name} {text}\n")
        files.append(folder / name)
    return files


def test_delivery_switches_the_whole_set_and_names_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outputs.deliver(results(tmp_path / "a", "old"), out, "run-a")
    delivered = outputs.deliver(results(tmp_path / "b", "new"), out, "run-b")

    assert [p.read_text() for p in delivered] == [f"{p.name} new\n" for p in delivered]
    assert outputs.previous_run(out) == "run-b"
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in delivered), outputs.MANIFEST])


def test_a_writer_that_runs_out_of_space_leaves_the_previous_results_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing writer: the second file hits ENOSPC half-way through."""
    out = tmp_path / "out"
    outputs.deliver(results(tmp_path / "a", "old"), out, "run-a")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    original = shutil.copyfileobj
    copies: list[object] = []

    def full_disk(src: object, dst: object, length: int = 0) -> None:
        copies.append(dst)
        if len(copies) == 2:
            dst.write(b"half a li")  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")
        original(src, dst, length)  # type: ignore[arg-type]

    monkeypatch.setattr(shutil, "copyfileobj", full_disk)

    with pytest.raises(OSError) as caught:
        outputs.deliver(results(tmp_path / "b", "new"), out, "run-b")

    assert outputs.no_space(caught.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporaries, nothing torn
    assert outputs.previous_run(out) == "run-a"


def test_a_second_run_cannot_take_a_folder_in_use(tmp_path: Path) -> None:
    held = outputs.hold(tmp_path)
    held.write("run 20260101-000000-abcdef\n")
    held.flush()
    with pytest.raises(outputs.OutputDirError) as caught:
        outputs.hold(tmp_path)
    assert "in use by run started" in str(caught.value) and "choose another --output-dir" in str(caught.value)
    held.close()
    outputs.hold(tmp_path).close()  # released with its handle (and by the kernel when a run dies)


def test_two_runs_on_one_output_dir_do_not_interleave(tmp_path: Path, start_runner: Start) -> None:
    first = start_runner("--output-dir", "shared")
    wait_for_log(tmp_path / ".gridcast", "train", "INFO")
    second = start_runner("--output-dir", "shared")
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 2
    assert err.strip().startswith("error: --output-dir shared: in use by run started")
    first.kill()


@pytest.fixture
def small_state_disk(tmp_path: Path) -> Iterator[Path]:
    yield from mounted_tmpfs(tmp_path / "state", "80m")


@pytest.mark.slow
def test_state_disk_filling_up_during_a_run_is_one_clear_line(
    tmp_path: Path, start_runner: Start, small_state_disk: Path
) -> None:
    runner = start_runner(env={"GRIDCAST_HOME": str(small_state_disk)})
    wait_for_log(small_state_disk, "train", "INFO")
    filler = small_state_disk / "filler"
    with filler.open("wb") as handle:  # something else takes the rest of the disk
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass
    out, err = runner.communicate(timeout=300)

    assert runner.returncode == 1, out + err
    assert f"no space left on device in the state folder {small_state_disk}" in err
    assert "Traceback" not in err
    filler.unlink()  # space again: the dead run is recovered and the next run works
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    again = subprocess.run(
        [str(RUNNER)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env=env | {"GRIDCAST_HOME": str(small_state_disk)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    runs = sorted((small_state_disk / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    assert json.loads((runs[0] / "status.json").read_text())["state"] in ("failed", "killed")


def test_a_store_whose_creation_dies_half_way_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations cut short (full disk, kill) must not leave a store every later run fails on."""
    from mlflow.tracking import MlflowClient

    from ml.steps import tracking

    database = tmp_path / "mlflow.db"
    real = MlflowClient.search_registered_models

    def full_disk(self: MlflowClient, *args: object, **kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(MlflowClient, "search_registered_models", full_disk)
    with pytest.raises(OSError):
        tracking.configure(f"sqlite:///{database}")
    assert not database.exists()

    monkeypatch.setattr(MlflowClient, "search_registered_models", real)
    tracking.configure(f"sqlite:///{database}")
    assert database.exists() and not list(tmp_path.glob(".mlflow.db.*"))


@pytest.mark.parametrize(
    "raised",
    [
        OSError(errno.ENOSPC, "No space left on device", "/state/mlruns/1/model.npz"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        RuntimeError("sqlite3.OperationalError: database or disk is full"),
    ],
)
def test_a_step_that_runs_out_of_space_says_so_in_one_line(
    raised: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from ml.steps import EXIT_ERROR
    from ml.steps.__main__ import _run

    def step() -> None:
        try:
            raise raised
        except Exception as exc:  # as a library wraps it: the full disk is the cause, not the top
            raise ValueError("could not log the model") from exc

    with pytest.raises(typer.Exit) as exit_info:
        _run(step)
    assert exit_info.value.exit_code == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no space left on device") and "\n" not in err
    if getattr(raised, "filename", None):
        assert "/state/mlruns/1/model.npz" in err


def test_other_os_errors_in_a_step_still_show_their_traceback() -> None:
    from ml.steps.__main__ import _run

    def step() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/state")

    with pytest.raises(PermissionError):
        _run(step)


def deep(error: Exception) -> Exception:
    """``error`` two links down, as libraries pass it on: explicitly (``from``), then implicitly (raised while
    handling it)."""
    try:
        try:
            try:
                raise error
            except Exception as exc:
                raise ValueError("could not write the artifact") from exc
        except ValueError:
            raise RuntimeError("could not log the model")  # noqa: B904 (the implicit link is the point)
    except RuntimeError as top:
        return top


def enospc() -> Exception:
    return OSError(errno.ENOSPC, "No space left on device", "/state/mlruns/1/model.npz")


def sqlite_full() -> Exception:
    return sqlite3.OperationalError("database or disk is full")  # SQLite's SQLITE_FULL, as text


def denied() -> Exception:
    return PermissionError(errno.EACCES, "Permission denied", "/state")


@pytest.mark.parametrize(("make", "where"), [(enospc, "/state/mlruns/1/model.npz"), (sqlite_full, "")])
def test_the_one_check_finds_a_full_disk_deep_in_the_chain_and_nothing_else(
    make: Callable[[], Exception], where: str
) -> None:
    assert disk_full(deep(make())) == where
    assert outputs.no_space(deep(make()))  # the runner's output and state folders: the same check
    assert disk_full(deep(denied())) is None and not outputs.no_space(deep(denied()))


@pytest.mark.parametrize("make", [enospc, sqlite_full])
def test_a_step_says_a_full_disk_deep_in_the_chain_in_one_line(
    make: Callable[[], Exception], capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from ml.steps.__main__ import _run

    def step() -> None:
        raise deep(make())

    with pytest.raises(typer.Exit):
        _run(step)
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no space left on device") and "\n" not in err


@pytest.mark.parametrize(
    ("make", "where"), [(enospc, "/state/mlruns/1/model.npz"), (sqlite_full, None), (denied, None)]
)
def test_the_supervisor_says_a_full_disk_deep_in_the_chain(
    make: Callable[[], Exception], where: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor itself failing (not a step): a full disk is named, with its file if known, else the run's
    folder; anything else keeps its repr."""
    run_dir = tmp_path / "runs" / "20260101-000000-abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / "plan.json").write_text(json.dumps({"tracking_uri": "sqlite:///unused.db", "steps": []}))
    error = deep(make())
    recovered: list[str] = []

    def fail(self: supervise.Supervisor) -> int:
        raise error

    monkeypatch.setattr(supervise.Supervisor, "listen", lambda self: None)  # no lifeline in a test
    monkeypatch.setattr(supervise.Supervisor, "_run_plan", fail)
    monkeypatch.setattr(supervise.Supervisor, "_recover", lambda self, state: recovered.append(state))

    assert supervise.Supervisor(run_dir).run() == 1

    status = read_status(run_dir)
    assert status is not None and status.state == FAILED and recovered == [FAILED]
    why = repr(error) if make is denied else f"no space left on device ({where or run_dir})"
    assert status.message == f"the supervisor could not go on: {why}"
