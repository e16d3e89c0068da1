"""Helpers to run the real ``runner`` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RUNNER = Path(sys.executable).with_name("runner")

Run = Callable[..., subprocess.CompletedProcess[str]]


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
