"""Pure forecasting and overload analysis for transformer peak load.

Nothing in this package (outside ``ml.steps``) talks to MLflow or reads files: it is handed
pandas objects and returns pandas objects, so it runs the same in a test, a laptop or a cloud job.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridcast")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
