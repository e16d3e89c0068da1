"""Deterministic names for Azure resources whose names are global and have strict alphabets.

Storage accounts, registries and key vaults share one DNS namespace across all tenants. Names are
the readable prefix plus a short hash of the subscription and prefix: stable for a stack (so
``pulumi up`` never renames), different across subscriptions (so two deployments don't collide).
"""

from __future__ import annotations

import hashlib
import re


def _suffix(seed: str, length: int = 8) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def storage_account_name(prefix: str, subscription_id: str) -> str:
    """3-24 lowercase letters and digits, e.g. ``stgridcastazure1a2b3c4d``."""
    return f"st{_alnum(prefix)[:14]}{_suffix(subscription_id + prefix)}"


def container_registry_name(prefix: str, subscription_id: str) -> str:
    """5-50 letters and digits, e.g. ``crgridcastazure1a2b3c4d``."""
    return f"cr{_alnum(prefix)[:40]}{_suffix(subscription_id + prefix)}"


def key_vault_name(prefix: str, subscription_id: str) -> str:
    """3-24 letters, digits and single hyphens, starting with a letter, e.g. ``kv-gridcast-az-1a2b3c``."""
    readable = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "", prefix.lower())).strip("-")[:13].strip("-")
    return f"kv-{readable}-{_suffix(subscription_id + prefix, 6)}"
