"""The output folder: checked before a run, held by one run at a time, switched to new results at once.

- Before any step runs, the folder must be a folder (or creatable), writable, and have room.
- A run holds ``.gridcast.lock`` in it (``flock``, released by the kernel however the run ends; the
  file is removed when the run lets go), so a second run with the same ``--output-dir`` is refused
  instead of interleaving its files.
- Results are copied in under temporary names first; only when every file is complete do they
  replace the old ones, and ``gridcast_run.json`` (which run the files are from) is written last.
  A full disk or a kill before that leaves the previous run's files as they were, and the manifest
  always names the run the files belong to.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ml.steps.disk import disk_full

LOCK_FILE = ".gridcast.lock"
MANIFEST = "gridcast_run.json"
MIB = 1024 * 1024
BYTES_PER_FORECAST_HOUR = 64
"""predictions.csv is ~45 bytes a row; with the report and the chart, 64 bytes per hour is ample."""
FIXED_OUTPUT_BYTES = 2 * MIB
STATE_FREE_BYTES = 64 * MIB
"""The state folder takes the model, the step logs, MLflow artifacts and the pip freeze of each run."""


class OutputDirError(ValueError):
    """The output location cannot take this run's results; the message says why."""


def no_space(exc: BaseException) -> bool:
    """A full disk or quota, also as the cause of ``exc``: the steps' own check, so both say it alike."""
    return disk_full(exc) is not None


def needed_output_bytes(horizon_years: float) -> int:
    return FIXED_OUTPUT_BYTES + int(horizon_years * 8766 * BYTES_PER_FORECAST_HOUR)


def check_room(folder: Path, needed: int, what: str) -> None:
    """``folder`` (or its nearest existing parent) has ``needed`` bytes free, else one clear line."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise OutputDirError(
            f"{what} {folder}: only {free / MIB:.1f} MiB free on its disk, at least {needed / MIB:.0f} MiB needed; "
            "free some space or choose another location"
        )


def check_output_dir(folder: Path, needed: int) -> None:
    """A folder we can create files in, with room for the results: checked before any step runs."""
    if folder.exists() and not folder.is_dir():
        raise OutputDirError(f"--output-dir {folder}: is a file, not a folder")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".gridcast-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        check_room(folder, needed, "--output-dir")
    except OSError as exc:
        reason = "no space left on its disk" if no_space(exc) else (exc.strerror or str(exc))
        raise OutputDirError(f"--output-dir {folder}: cannot write there ({reason})") from None
    except OutputDirError:
        if created:
            with suppress(OSError):
                folder.rmdir()
        raise


def let_go(folder: Path, handle: IO[str], created: bool) -> None:
    """End this run's hold (the lock file goes, while still locked); a folder this run created and left
    empty (it failed) is removed again."""
    with suppress(OSError):
        (folder / LOCK_FILE).unlink()
        if created and not any(folder.iterdir()):
            folder.rmdir()
    handle.close()


def hold(folder: Path) -> IO[str]:
    """Take the folder for this run; :class:`OutputDirError` if another run holds it. Keep the handle open."""
    path = folder / LOCK_FILE
    while True:
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            handle.close()
            raise OutputDirError(
                f"--output-dir {folder}: in use by {holder}; wait for it or choose another --output-dir"
            ) from None
        try:  # the holder before us removes the file when it lets go: ours must still be the one at the path
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(f"run started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC by pid {os.getpid()}\n")
    handle.flush()
    return handle


def previous_run(folder: Path) -> str | None:
    """The run whose results the folder holds now, from its manifest (None: none, or a switch was cut short)."""
    try:
        return str(json.loads((folder / MANIFEST).read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def deliver(files: list[Path], folder: Path, run_id: str) -> list[Path]:
    """Copy ``files`` into ``folder`` so that it holds either the old set or the new one, never a torn file."""
    staged: list[tuple[Path, Path]] = []
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for source in files:
            scratch = folder / f".{source.name}.{run_id}.tmp"
            staged.append((scratch, folder / source.name))
            _copy_durably(source, scratch)
        (folder / MANIFEST).unlink(missing_ok=True)  # from here until the end the set is in transition
        for scratch, final in staged:
            os.replace(scratch, final)
        manifest = folder / f".{MANIFEST}.{run_id}.tmp"
        names = [final.name for _, final in staged]
        manifest.write_text(json.dumps({"run_id": run_id, "files": names}, indent=2) + "\n")
        os.replace(manifest, folder / MANIFEST)
    except OSError:
        for scratch, _ in staged:
            scratch.unlink(missing_ok=True)
        (folder / f".{MANIFEST}.{run_id}.tmp").unlink(missing_ok=True)
        raise
    return [final for _, final in staged]


def _copy_durably(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
        dst.flush()
        os.fsync(dst.fileno())
