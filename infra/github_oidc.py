"""GitHub Actions OIDC facts, shared by both clouds and the policy pack.

CI authenticates with a short-lived token that GitHub signs for one repository and one deployment
environment; the clouds trust exactly that subject, so no long-lived secret exists anywhere.
"""

from __future__ import annotations

import re

ISSUER = "https://token.actions.githubusercontent.com"
#: The host part of the issuer; AWS names condition keys after it.
ISSUER_HOST = "token.actions.githubusercontent.com"
#: Audience Entra ID expects for workload identity federation.
AZURE_AUDIENCE = "api://AzureADTokenExchange"
#: Audience configure-aws-credentials requests.
AWS_AUDIENCE = "sts.amazonaws.com"

_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_SUBJECT = re.compile(r"^repo:[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+:environment:[A-Za-z0-9._-]+$")


def validate_repository(repository: str) -> str:
    """Return ``repository`` if it is a literal ``OWNER/REPO`` (no wildcards), else raise."""
    if not _REPOSITORY.match(repository):
        raise ValueError(f"github repository must be OWNER/REPO without wildcards, got {repository!r}")
    return repository


def validate_environment(environment: str) -> str:
    """Return ``environment`` if it is a literal deployment-environment name, else raise."""
    if not _ENVIRONMENT.match(environment):
        raise ValueError(f"github environment must be a literal name, got {environment!r}")
    return environment


def subject(repository: str, environment: str) -> str:
    """The token subject for jobs of ``repository`` that run in deployment ``environment``."""
    return f"repo:{validate_repository(repository)}:environment:{validate_environment(environment)}"


def is_pinned_subject(value: object) -> bool:
    """True when ``value`` names exactly one repository and one environment (no wildcards)."""
    return isinstance(value, str) and bool(_SUBJECT.match(value))
