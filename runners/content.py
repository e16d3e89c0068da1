"""Content addresses of local inputs: the same bytes (and, for a folder, the same names) give the
same digest on every machine, so a backend uploads an input once and a re-run finds it there."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_files(local: Path) -> list[tuple[Path, str]]:
    """``(file, path relative to the folder)`` in name order; a single file stands for a folder holding it."""
    if local.is_file():
        return [(local, local.name)]
    return [(p, p.relative_to(local).as_posix()) for p in sorted(local.rglob("*")) if p.is_file()]


def folder_digest(files: list[tuple[Path, str]]) -> str:
    """sha256 over each file's relative name and sha256."""
    digest = hashlib.sha256()
    for path, relative in files:
        digest.update(f"{relative}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()
