"""Policy pack entry point: ``pulumi preview --policy-pack infra/policies``.

The rules live in ``rules.py`` (plain functions) and are wrapped in ``pack.py``; this file only
starts the pack, because constructing ``PolicyPack`` starts the analyzer server.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this pack from infra/policies; put the repository root on sys.path so the rules can
# share constants with the program (role GUIDs, OIDC facts) through ``import infra...``.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from infra.policies.pack import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="gridcast security guardrails: least privilege, encryption, private access, pinned OIDC.",
)
