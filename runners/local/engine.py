"""Run a local step in the gridcast image with docker or podman, seeing only its declared paths.

Every host path a step needs (its inputs read-only, its outputs and the tracking store writable) is
mounted at the *same* absolute path in the container, so the command the plan rendered for a plain
process runs unchanged: the same argv is what SageMaker and AzureML run in the same image.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from runners.base import BackendError

DEFAULT_IMAGE = "gridcast:latest"
ENGINE_ENV = "GRIDCAST_CONTAINER_ENGINE"
"""Force ``docker`` or ``podman``; otherwise the first usable of the two is taken."""
ENGINES = ("docker", "podman")
# Host-specific variables a container must not inherit: the image has its own PATH, locale and
# revision (GRIDCAST_GIT_COMMIT is baked in at build time), and HOME is a writable tmpfs there.
HOST_ONLY_ENV = frozenset({"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "GRIDCAST_GIT_COMMIT"})
CONTAINER_HOME = "/tmp"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
PROBE_TIMEOUT_S = 30


class EngineUnavailableError(BackendError):
    """Container isolation was asked for but cannot work here; the message says why and what to do."""


@dataclass(frozen=True)
class Engine:
    name: str
    executable: str
    rootless: bool = False


@dataclass(frozen=True)
class Mount:
    source: Path
    target: Path
    read_only: bool

    def arg(self) -> str:
        return f"type=bind,source={self.source},target={self.target}" + (",readonly" if self.read_only else "")


def _probe(name: str, executable: str) -> tuple[Engine | None, str]:
    """Ask the engine for a server-side fact: a docker CLI without a daemon is not an engine."""
    fmt = "{{.Host.Security.Rootless}}" if name == "podman" else "{{json .SecurityOptions}}"
    try:
        out = subprocess.run(
            [executable, "info", "--format", fmt], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{name}: {exc}"
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        return None, f"{name}: {lines[-1] if lines else f'exit code {out.returncode}'}"
    rootless = out.stdout.strip() == "true" if name == "podman" else "rootless" in out.stdout
    return Engine(name, executable, rootless), ""


def detect_engine(preferred: str | None = None) -> Engine:
    """The first usable engine: ``preferred``, else ``$GRIDCAST_CONTAINER_ENGINE``, else docker then podman."""
    choice = preferred or os.environ.get(ENGINE_ENV) or None
    if choice is not None and choice not in ENGINES:
        raise EngineUnavailableError(f"{ENGINE_ENV}={choice!r}: choose docker or podman")
    reasons = []
    for name in (choice,) if choice else ENGINES:
        executable = shutil.which(name)
        if executable is None:
            reasons.append(f"{name}: not installed")
            continue
        engine, reason = _probe(name, executable)
        if engine is not None:
            return engine
        reasons.append(reason)
    raise EngineUnavailableError(
        f"container isolation needs docker or podman, and none is usable here ({'; '.join(reasons)}); "
        "install one, or run with --isolation process"
    )


JOB_USER_LABEL = "org.gridcast.job-user"
"""The image starts as root (its entrypoint hands SageMaker's mounts over); this label names the job user."""


def image_user(engine: Engine, image: str) -> str:
    """The image's job user (its label, else its ``USER``); also proves the image is in local storage."""
    template = f'{{{{with .Config.Labels}}}}{{{{index . "{JOB_USER_LABEL}"}}}}{{{{end}}}}|{{{{.Config.User}}}}'
    out = subprocess.run(
        [engine.executable, "image", "inspect", "--format", template, image],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
    )
    if out.returncode != 0:
        raise EngineUnavailableError(
            f"image {image} is not in {engine.name}'s local storage; build it (docker/README.md) or pull it first"
        )
    label, _, user = out.stdout.strip().partition("|")
    return label or user


def numeric_user(user: str) -> tuple[int, int]:
    """``UID[:GID]`` of a non-root image user; a root or named user cannot be handed host folders."""
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or not (gid or uid).isdigit() or int(uid) == 0:
        raise EngineUnavailableError(f"the image's USER is {user or 'root'!r}; it must be a numeric non-root UID:GID")
    return int(uid), int(gid or uid)


def tracking_access(tracking_uri: str, state_dir: Path) -> tuple[list[Path], str | None]:
    """Folders the steps must write for this tracking store, and the network they need.

    A file store (SQLite or ``file:``) lives in folders, artifacts under ``$GRIDCAST_HOME``: mount
    those and give the step no network at all. A server on this host needs the host network.
    """
    parsed = urlparse(tracking_uri)
    if parsed.scheme in ("sqlite", "file", ""):
        # sqlite:////abs/mlflow.db names a file (four slashes); file:///abs/mlruns and a bare path a folder
        path = Path(tracking_uri.removeprefix("sqlite:///") if parsed.scheme == "sqlite" else parsed.path)
        if not path.is_absolute():
            raise EngineUnavailableError(f"tracking URI {tracking_uri!r}: container isolation needs an absolute path")
        store = path.parent if parsed.scheme == "sqlite" else path
        folders = [state_dir] if store.is_relative_to(state_dir) else [state_dir, store]
        return folders, "none"
    if parsed.hostname in LOCAL_HOSTS:
        return [], "host"
    return [], None


def step_mounts(inputs: Mapping[str, str], outputs: Mapping[str, str], writable: Iterable[Path]) -> list[Mount]:
    """Inputs read-only, outputs and the tracking folders read-write, each at its host path."""
    mounts = [Mount(Path(p), Path(p), read_only=False) for p in writable]
    mounts += [Mount(Path(p), Path(p), read_only=True) for p in inputs.values()]
    mounts += [Mount(Path(p), Path(p), read_only=False) for p in outputs.values()]
    return mounts


def user_args(engine: Engine, image_uid_gid: tuple[int, int]) -> list[str]:
    """Never root inside: the caller's own UID, or the image's user when the caller is root."""
    if os.geteuid() == 0:
        return ["--user", "{}:{}".format(*image_uid_gid)]
    own = f"{os.geteuid()}:{os.getegid()}"
    return ["--userns", "keep-id", "--user", own] if engine.rootless and engine.name == "podman" else ["--user", own]


def run_argv(
    engine: Engine,
    image: str,
    command: list[str],
    *,
    name: str,
    mounts: list[Mount],
    masks: list[Path],
    env_names: Iterable[str],
    user: list[str],
    network: str | None,
) -> list[str]:
    """``docker|podman run`` for one step. Values of ``env_names`` come from the engine's environment,
    so nothing secret appears on a command line."""
    argv = [engine.executable, "run", "--rm", "--name", name, "--pull", "never", "--no-healthcheck", *user]
    argv += ["--read-only", "--tmpfs", "/tmp", "--tmpfs", "/opt/ml/output", "--workdir", "/tmp"]
    argv += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    argv += ["--network", network] if network else []
    for mount in mounts:
        argv += ["--mount", mount.arg()]
    for mask in masks:  # hide e.g. other runs' folders that sit inside a mounted state folder
        argv += ["--tmpfs", str(mask)]
    argv += ["--env", f"HOME={CONTAINER_HOME}"]
    for env_name in sorted(env_names):
        argv += ["--env", env_name]
    return [*argv, image, *command]


def hand_over(mounts: Iterable[Mount], masks: Iterable[Path], uid: int, gid: int) -> None:
    """Root runs the step as the image's user, who must own what it writes (masked folders excepted)."""
    skip = {Path(m) for m in masks}
    for mount in mounts:
        if mount.read_only or not mount.source.exists():
            continue
        for root, dirs, files in os.walk(mount.source):
            dirs[:] = [d for d in dirs if Path(root, d) not in skip]
            for entry in [root, *(os.path.join(root, f) for f in files)]:
                if os.lstat(entry).st_uid != uid:
                    os.lchown(entry, uid, gid)


@dataclass
class ContainerIsolation:
    """Runs each planned step through one engine and image; ``LocalRunner`` calls ``run``."""

    engine: Engine
    image: str
    state_dir: Path
    image_ids: tuple[int, int]

    @classmethod
    def create(cls, state_dir: Path, image: str | None = None, preferred: str | None = None) -> ContainerIsolation:
        engine = detect_engine(preferred)
        chosen = image or DEFAULT_IMAGE
        return cls(engine, chosen, state_dir, numeric_user(image_user(engine, chosen)))

    def run(self, run_id: str, step: dict, env: Mapping[str, str], log: IO[str]) -> int:
        """Run ``step`` (a plan entry: name, command, inputs, outputs) and return its exit code."""
        folders, network = tracking_access(env["MLFLOW_TRACKING_URI"], self.state_dir)
        masks = [self.state_dir / "runs"] if self.state_dir in folders else []
        for path in step["outputs"].values():
            Path(path).mkdir(parents=True, exist_ok=True)
        mounts = step_mounts(step["inputs"], step["outputs"], folders)
        if os.geteuid() == 0:
            hand_over(mounts, masks, *self.image_ids)
        passed = {k: v for k, v in env.items() if k not in HOST_ONLY_ENV} | {"USER": getpass.getuser()}
        name = f"gridcast-{run_id}-{step['name']}"
        argv = run_argv(
            self.engine, self.image, step["command"], name=name, mounts=mounts, masks=masks,
            env_names=passed, user=user_args(self.engine, self.image_ids), network=network,
        )  # fmt: skip
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        try:
            return subprocess.run(argv, env=os.environ | passed, stdout=log, stderr=subprocess.STDOUT).returncode
        except BaseException:  # Ctrl-C kills the client, not necessarily the container: remove it
            subprocess.run([self.engine.executable, "rm", "--force", name], capture_output=True, timeout=60)
            raise
