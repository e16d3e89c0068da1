"""The only place infrastructure meets the runners: a Pulumi stack's exported outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from runners.base import BackendError


class StackOutputsError(BackendError):
    """The stack outputs could not be read; the message says from where and why."""


def load_stack_outputs(path: Path | None = None, stack: str | None = None) -> dict[str, Any]:
    """From a JSON file (``pulumi stack output --json > f``), or by asking the Pulumi CLI for ``stack``."""
    if path is not None:
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise StackOutputsError(f"{path}: cannot read stack outputs as JSON ({exc})") from None
    if stack is None:
        return {}
    try:
        out = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--show-secrets=false", "--stack", stack],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
    except FileNotFoundError:
        raise StackOutputsError("the pulumi CLI is not installed; pass --stack-outputs FILE instead") from None
    except subprocess.CalledProcessError as exc:
        raise StackOutputsError(f"pulumi stack output --stack {stack} failed: {exc.stderr.strip()}") from None
    return dict(json.loads(out.stdout))
