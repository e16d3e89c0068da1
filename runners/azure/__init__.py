"""The azure backend: the pipeline spec compiled into an AzureML pipeline job on the stack's workspace."""

import os

from runners.base import BackendOptions, Runner

POLL_SECONDS_ENV = "GRIDCAST_AZURE_POLL_SECONDS"


def create(options: BackendOptions) -> Runner:
    """Settings come from the Azure stack's outputs plus ``--image``; nothing is called until a submit."""
    from runners.azure.client import AzureML, build_ml_client
    from runners.azure.runner import DEFAULT_POLL_SECONDS, AzureRunner
    from runners.azure.settings import check_endpoint, load_settings

    settings = load_settings(options.stack_outputs, options.image)
    check_endpoint(options.endpoint_url)
    poll_seconds = float(os.environ.get(POLL_SECONDS_ENV, DEFAULT_POLL_SECONDS))
    return AzureRunner(
        settings, lambda: AzureML(build_ml_client(settings, endpoint_url=options.endpoint_url)), poll_seconds
    )
