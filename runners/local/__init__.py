"""The local backend: every step a separate process on this machine."""

from runners.base import BackendOptions, Runner


def create(options: BackendOptions) -> Runner:
    from runners.local.runner import LocalRunner

    return LocalRunner(options.state_dir, options.tracking_uri)
