"""Tracking URIs checked before use: a supported scheme, a server that answers, no secret on disk.

Import-light (standard library only): the ``runner`` checks the URI before it starts any step, and
each step checks it again before it touches the store, because containers call the steps directly.
An HTTP store that does not answer is refused in seconds, instead of MLflow's retries taking minutes.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

SCHEMES = {
    "": "a folder path (file store)",
    "file": "file store",
    "sqlite": "SQLite store",
    "postgresql": "database store",
    "mysql": "database store",
    "mssql": "database store",
    "http": "tracking server",
    "https": "tracking server",
    "databricks": "Databricks",
    "azureml": "Azure ML workspace (azureml-mlflow plugin)",
    "arn": "SageMaker MLflow tracking server (sagemaker-mlflow plugin)",
}
REACHABLE_TIMEOUT_S = 3.0
REDACTED = "***"


class TrackingStoreError(ValueError):
    """The tracking URI is unsupported or its server does not answer; the message says which."""


def _scheme(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    return scheme.split("+", 1)[0]  # postgresql+psycopg2 -> postgresql


def check_scheme(uri: str) -> None:
    scheme = _scheme(uri)
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        return
    if scheme not in SCHEMES:
        supported = ", ".join(f"{s}:" for s in SCHEMES if s)
        raise TrackingStoreError(
            f"tracking URI {redact(uri)!r}: unsupported scheme {scheme!r}; use one of {supported} or a folder path"
        )


def check_reachable(uri: str, timeout_s: float = REACHABLE_TIMEOUT_S) -> None:
    """An ``http(s)`` store must answer within ``timeout_s`` (any HTTP status counts as an answer)."""
    check_scheme(uri)
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https"):
        return
    public = _without_credentials(parts)
    try:
        with urllib.request.urlopen(public.rstrip("/") + "/health", timeout=timeout_s):  # http(s) only: checked above
            pass
    except urllib.error.HTTPError:
        return  # it answered: a proxy or an auth wall is still a server
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingStoreError(
            f"tracking server {public} did not answer within {timeout_s:g} s ({reason}); is it running and reachable?"
        ) from None


def _without_credentials(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact(uri: str) -> str:
    """The URI with any password (and token-like query values) replaced by ``***``: safe to store or print."""
    parts = urlsplit(uri)
    if not parts.scheme or (parts.password is None and not parts.username):
        return uri
    user = parts.username or ""
    netloc = (f"{user}:{REDACTED}@" if parts.password is not None else f"{REDACTED}@") + parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_credentials(uri: str) -> tuple[str, dict[str, str]]:
    """An ``http(s)`` URI without its ``user:password@``, and those as MLflow's basic-auth variables.

    MLflow reads ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` from the environment, so
    the credentials travel to the steps in their environment and never appear in a plan, a handle
    or a log line.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https") or (parts.username is None and parts.password is None):
        return uri, {}
    env = {"MLFLOW_TRACKING_USERNAME": unquote(parts.username or "")}
    if parts.password is not None:
        env["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return _without_credentials(parts), env
