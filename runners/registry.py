"""Backend name -> factory, imported only when chosen so no cloud SDK loads for a local run."""

from __future__ import annotations

from importlib import import_module

from runners.base import BackendError, BackendOptions, Runner

BACKENDS = ("local", "azure", "aws")


def create_runner(backend: str, options: BackendOptions) -> Runner:
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    try:
        module = import_module(f"runners.{backend}")
    except ImportError as exc:
        raise BackendError(
            f"the {backend} backend needs its extra: pip install 'gridcast[{backend}]' ({exc})"
        ) from None
    return module.create(options)
