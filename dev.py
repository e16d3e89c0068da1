#!/usr/bin/env python3
"""Set up and run gridcast from a fresh clone with nothing but Python 3.11+ and pip.

    python3 dev.py run  [runner options...]   # the main job: runner --backend local
    python3 dev.py test [pytest options...]   # the test suite

Each command creates ``.venv`` if needed and installs the locked dependencies into it (again only
when the lock file changed), then runs. Nothing is installed outside ``.venv``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCKS = {"run": ROOT / "requirements" / "core.lock", "test": ROOT / "requirements" / "dev.lock"}
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_environment(lock: Path) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before anything checks the interpreter
        sys.exit(f"gridcast needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{lock.stem}-{hashlib.sha256(lock.read_bytes()).hexdigest()[:16]}"
    if stamp.exists():
        return
    print(f"installing locked dependencies from {lock.relative_to(ROOT)} (first time only)", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(lock)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    stamp.touch()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in LOCKS:
        print(__doc__)
        return 2
    command, extra = sys.argv[1], sys.argv[2:]
    ensure_environment(LOCKS[command])
    if command == "run":
        return subprocess.call([str(BIN / "runner"), "--backend", "local", *extra])
    return subprocess.call([str(BIN / "python"), "-m", "pytest", *extra], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
