"""Fixtures shared by the whole suite: data files, an isolated MLflow store per test, and the
real ``runner`` console script run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ml.synthetic import synthetic_load

REPO = Path(__file__).resolve().parents[1]
SHARED_CSV = REPO.parent / "shared" / "data" / "peak_load.csv"
RUNNER = Path(sys.executable).with_name("runner")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def seed_csv() -> Path:
    """The seed pipeline's reference data, read from ../shared (never copied into the repo).

    A fresh clone without ../shared skips the tests that need it; CI (``CI`` set) always has it, so
    there its absence fails instead of silently skipping the comparison with the seed.
    """
    if not SHARED_CSV.is_file():
        message = f"reference data missing: {SHARED_CSV} (the shared/ folder must sit beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_CSV


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    synthetic_load().to_csv(path, index=False)
    return path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private GRIDCAST_HOME and embedded MLflow store, so tests never share a registry."""
    home = tmp_path / "state"
    monkeypatch.setenv("GRIDCAST_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from ml.steps.tracking import configure

    configure(None)
    return home


@pytest.fixture
def run_runner(tmp_path: Path) -> Run:
    """``runner`` in a scratch working directory with its own state folder."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GRIDCAST_HOME")}
        return subprocess.run(
            [str(RUNNER), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=base | {"COLUMNS": "200", **(env or {})},
        )

    return run
