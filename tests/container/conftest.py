"""Build the image once per session, for real: Debian base by debootstrap, locked wheels, podman build.

No registry is reachable here, so the base comes from docker/build-local-base.sh instead of
python:3.11-slim; everything else is the same Dockerfile CI and the clouds use. Downloads are
cached (``$GRIDCAST_CACHE``) and podman keeps its layer cache, so a second session is much faster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE = "localhost/gridcast-base:bookworm"
IMAGE = "localhost/gridcast:test"
BUILD_TIMEOUT_S = 1500


@dataclass(frozen=True)
class BuiltImage:
    podman: str
    ref: str
    commit: str
    timings: dict[str, float]


def _podman_problem() -> str | None:
    executable = shutil.which("podman")
    if executable is None:
        return "podman is not installed"
    probe = subprocess.run([executable, "info"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return f"podman is not usable: {(probe.stderr.strip().splitlines() or ['?'])[-1]}"
    if os.geteuid() != 0:
        return "the container tests need root (debootstrap, and handing folders to the image's user)"
    return None


def run(argv: Sequence[str], timeout: float = BUILD_TIMEOUT_S, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a build command; on failure fail the test with the command and the end of its output."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{tail}")
    return result


@pytest.fixture(scope="session")
def podman() -> str:
    problem = _podman_problem()
    if problem is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{problem}; CI must run the container tests (.ci/run installs podman, runc and debootstrap)")
        pytest.skip(problem)
    return shutil.which("podman") or "podman"


@pytest.fixture(scope="session")
def image(podman: str) -> BuiltImage:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    run([str(REPO / "docker" / "build-local-base.sh"), BASE])
    timings["base"] = time.perf_counter() - started
    run([str(REPO / "docker" / "build-wheelhouse.sh")], env=os.environ | {"PYTHON": sys.executable})
    timings["wheelhouse"] = time.perf_counter() - started - timings["base"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    commit = head.stdout.strip() if head.returncode == 0 else "unknown"
    build = [podman, "build", "--format", "docker", "--network", "none", "-f", "docker/Dockerfile"]
    build += ["--build-arg", f"BASE_IMAGE={BASE}", "--build-arg", f"GIT_COMMIT={commit}", "-t", IMAGE, "."]
    run(build, cwd=REPO)  # --network none: the build really is offline
    timings["image"] = time.perf_counter() - started - timings["base"] - timings["wheelhouse"]
    print(f"\nimage {IMAGE} built: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    return BuiltImage(podman, IMAGE, commit, timings)
