"""The local backend: every step a separate process on this machine, or a container (``--isolation``)."""

from runners.base import BackendOptions, Runner

ISOLATIONS = ("process", "container")


def create(options: BackendOptions) -> Runner:
    from runners.local.engine import ContainerIsolation
    from runners.local.runner import LocalRunner

    if options.isolation not in ISOLATIONS:
        raise ValueError(f"unknown isolation {options.isolation!r}; choose one of {', '.join(ISOLATIONS)}")
    container = None
    if options.isolation == "container":
        container = ContainerIsolation.create(options.state_dir, options.image)
    return LocalRunner(options.state_dir, options.tracking_uri, container)
