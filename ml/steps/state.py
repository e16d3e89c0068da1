"""Where gridcast keeps its state on this machine. Import-light on purpose: the ``runner`` CLI
needs these paths before it starts any step, and must not pay for importing MLflow to get them."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """Where the embedded store lives: ``$GRIDCAST_HOME`` or ``.gridcast`` in the working directory."""
    return Path(os.environ.get("GRIDCAST_HOME", ".gridcast")).resolve()


def default_tracking_uri() -> str:
    """The embedded SQLite tracking store and model registry inside :func:`state_dir`."""
    return f"sqlite:///{state_dir() / 'mlflow.db'}"
