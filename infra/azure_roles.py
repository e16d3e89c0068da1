"""Azure built-in role GUIDs and deterministic role-assignment names.

Role assignment names must be GUIDs that are stable across ``pulumi up`` runs (otherwise every run
would replace the assignment) and unique per (scope, principal, role) in the tenant. A UUIDv5 of
those three strings is both, and needs no random provider and no resource created inside ``apply``.
"""

from __future__ import annotations

import re
import uuid

#: Built-in roles this project may assign, by display name. GUIDs are the same in every tenant.
ASSIGNABLE_ROLES: dict[str, str] = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    # What Microsoft documents for a workspace's user-assigned identity (infra/README.md names the pages):
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    # ...and, with a managed network, for approving its private endpoints to the workspace's dependencies.
    "Azure AI Enterprise Network Connection Approver": "b556d68e-0be0-4f35-a333-ad7ee1ce17ea",
}

#: Control-plane roles the workspace identity alone may hold, each on one resource (policy pack:
#: ``azure-broad-roles-only-for-the-workspace-identity``); never on a group or subscription.
WORKSPACE_IDENTITY_ONLY_ROLES: frozenset[str] = frozenset({"Contributor", "Key Vault Administrator"})

#: Broad roles that must never be assigned by this stack (checked by the policy pack).
FORBIDDEN_ROLES: dict[str, str] = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Azure AI Administrator": "b78c5d69-af96-48a3-bf8d-a8b4d589de94",
}

#: Namespace for role-assignment UUIDv5 names; fixed forever (changing it replaces every assignment).
ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("5d0c1f3e-6a7b-5c2d-9e8f-0a1b2c3d4e5f")

_ROLE_DEFINITION_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/providers/Microsoft\.Authorization/roleDefinitions/"
    r"(?P<guid>[0-9a-fA-F-]{36})$"
)
_SINGLE_RESOURCE_SCOPE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+(/[^/]+/[^/]+)*$",
    re.IGNORECASE,
)


def role_definition_id(subscription_id: str, role_name: str) -> str:
    """Subscription-qualified id of the built-in role ``role_name`` (must be assignable)."""
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/"
        f"{ASSIGNABLE_ROLES[role_name]}"
    )


def role_guid(role_definition: str) -> str | None:
    """The GUID at the end of a role definition id, lower-cased; None if it is not one."""
    match = _ROLE_DEFINITION_ID.match(role_definition or "")
    return match.group("guid").lower() if match else None


def role_assignment_name(scope: str, principal_id: str, role_definition: str) -> str:
    """Deterministic GUID name for the assignment of ``role_definition`` to ``principal_id`` at ``scope``."""
    key = "|".join(part.lower() for part in (scope, principal_id, role_definition))
    return str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, key))


def is_single_resource_scope(scope: str) -> bool:
    """True for a resource id (or a child of one); False for a subscription or resource group."""
    return bool(_SINGLE_RESOURCE_SCOPE.match(scope or ""))
