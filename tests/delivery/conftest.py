"""What the delivery tests read: the Dockerfile as instructions, the repository root, stub engines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Instructions grouped by stage (index 0: the global ARGs before the first FROM)."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[list[Instruction]] = [[]]
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), " ".join(args.split())))
    return stages


@pytest.fixture(scope="session")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture
def stub_bin(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a stand-in ``docker``/``podman`` (a shell script) into a folder that becomes ``PATH``.

    A stub, not the engine: it answers only the probes engine.py makes, so detection and its
    error messages can be tested on machines with any (or no) engine installed.
    """
    folder = tmp_path / "bin"
    folder.mkdir()

    def write(name: str, script: str) -> Path:
        path = folder / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
        return folder

    return write
