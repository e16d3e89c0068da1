"""The one interface every backend implements; the CLI talks to nothing else.

A backend turns the pipeline spec plus a :class:`RunRequest` into work somewhere (local processes,
an AzureML pipeline job, a SageMaker pipeline execution), reports step status as it changes, and
brings the result files home. Only ``runners/<backend>/`` knows how.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from runners.spec import DEFAULT_RESULT_FILES, PipelineSpec

RESULT_FILES = DEFAULT_RESULT_FILES


class BackendError(RuntimeError):
    """A backend refused or could not do what was asked; the CLI shows the message as one line."""


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # promote only: the gate said no; the pipeline goes on with the champion
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def finished(self) -> bool:
        return self in {Status.SUCCEEDED, Status.REJECTED, Status.FAILED, Status.STOPPED}


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for, independent of where it runs."""

    data: Path
    """Local CSV to analyse (the built-in data set is written to a file before a backend sees it)."""
    output_dir: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    tracking_uri: str | None = None
    inputs: dict[str, Path] = field(default_factory=dict)
    """Every pipeline input by name when there is more than one (the fleet: data and limits)."""
    shards: int | None = None
    """Instances for each sharded step (default: the spec's ``shards.count``)."""

    def input_paths(self, spec: PipelineSpec) -> dict[str, Path]:
        """Each pipeline input's local path: ``inputs``, or ``data`` for a spec with one input."""
        if self.inputs:
            missing = sorted(set(spec.inputs) - set(self.inputs))
            if missing:
                raise BackendError(f"pipeline {spec.name} needs input(s) {', '.join(missing)}")
            return {name: self.inputs[name] for name in spec.inputs}
        return dict.fromkeys(spec.inputs, self.data)


@dataclass(frozen=True)
class RunHandle:
    """Enough to find a submitted run again, also from another process (``runner status``)."""

    backend: str
    run_id: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepReport:
    step: str
    status: Status
    message: str = ""
    log_tail: str = ""


@dataclass(frozen=True)
class RunResult:
    status: Status
    steps: list[StepReport]
    message: str = ""
    """Anything the steps' reports do not say: why it was stopped, where a detached run left its results."""

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCEEDED

    def failed_step(self) -> StepReport | None:
        return next((s for s in self.steps if s.status is Status.FAILED), None)


OnStatus = Callable[[StepReport], None]


@dataclass(frozen=True)
class Check:
    """One line of ``runner doctor``: what was checked from here, what was found, and the fix if it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def failed_checks(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.ok]


@dataclass(frozen=True)
class BackendOptions:
    """Everything a backend factory may need; each backend reads only its part."""

    state_dir: Path
    tracking_uri: str
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    """The backend's infrastructure, as exported by its Pulumi stack (see ``runners/stack.py``)."""
    image: str | None = None
    """Container image to run, by digest (cloud backends)."""
    endpoint_url: str | None = None
    """Override the cloud API endpoint (tests point it at a loopback server)."""
    isolation: str = "process"
    """Local backend: run each step as a plain ``process`` or in the image (``container``, docker/podman)."""


class Runner(ABC):
    """Submit a pipeline run, wait for it, read its logs, fetch its outputs."""

    name: str

    @abstractmethod
    def submit(self, spec: PipelineSpec, request: RunRequest) -> RunHandle:
        """Start the pipeline (or, for the local backend, prepare it) and return at once."""

    @abstractmethod
    def wait(self, handle: RunHandle, on_status: OnStatus) -> RunResult:
        """Block until the run ends, calling ``on_status`` each time a step's status changes."""

    @abstractmethod
    def logs(self, handle: RunHandle, step: str) -> str:
        """The log text of one step (the tail is enough to explain a failure)."""

    @abstractmethod
    def outputs(self, handle: RunHandle, destination: Path) -> list[Path]:
        """Copy the result files (``RESULT_FILES``) into ``destination`` and return their paths."""

    def stop(self, handle: RunHandle) -> None:
        """Ask the backend to stop a running pipeline (Ctrl-C, after the user confirms)."""
        raise NotImplementedError(f"the {self.name} backend cannot stop a run")

    def release(self, handle: RunHandle) -> None:
        """Ctrl-C, and the user chose to leave the run going: let it outlive this process (cloud runs do anyway)."""
        return None

    def status(self, handle: RunHandle) -> RunResult:
        """The run's status now, without waiting (``runner status``)."""
        raise NotImplementedError(f"the {self.name} backend cannot report status of a detached run")

    def doctor(self, spec: PipelineSpec) -> list[Check]:
        """Check from the caller what a submission needs (identity, stack, reachability...); calls read-only APIs.

        Also run before every cloud submission, so a missing grant or image fails in seconds with its
        fix, not as an opaque error halfway through a run. A backend with nothing remote checks nothing.
        """
        return []

    def describe(self, spec: PipelineSpec, request: RunRequest) -> str:
        """What would be uploaded and submitted (``--dry-run``); calls nothing."""
        raise NotImplementedError(f"the {self.name} backend has no dry run")

    def machine_size(self) -> str | None:
        """The instance type every job runs on when the stack fixes one (it overrides the spec's), else None:
        a plan must price the machines the jobs will get."""
        return None
