"""Session fixtures: each stack is built once from its real stack file, under mocks, and shared."""

from __future__ import annotations

import pytest
from pulumi_harness import StackRun, run_main


@pytest.fixture(scope="session")
def azure_run() -> StackRun:
    """The azure stack, built once per session from its real stack file."""
    return run_main("azure")


@pytest.fixture(scope="session")
def aws_run() -> StackRun:
    """The aws stack, built once per session from its real stack file."""
    return run_main("aws")


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated V2 aliases at import time; nothing here uses them.
    config.addinivalue_line("filterwarnings", r"ignore::DeprecationWarning:pulumi_aws\..*")
