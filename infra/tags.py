"""The tags every taggable resource carries, so cost and ownership are answerable from the bill."""

from __future__ import annotations

from collections.abc import Mapping

#: Keys that every taggable resource must carry (checked by the ``required-tags`` policy).
REQUIRED_TAG_KEYS: tuple[str, ...] = ("project", "stack", "owner", "cost-center")


def base_tags(*, project: str, stack: str, owner: str, cost_center: str) -> dict[str, str]:
    """The required tags for one stack, built from config in ``__main__``."""
    return {"project": project, "stack": stack, "owner": owner, "cost-center": cost_center}


def missing_required(tags: Mapping[str, str] | None) -> list[str]:
    """Required keys absent or empty in ``tags`` (empty list when compliant)."""
    tags = tags or {}
    return [key for key in REQUIRED_TAG_KEYS if not str(tags.get(key) or "").strip()]


def merge_tags(*layers: Mapping[str, str]) -> dict[str, str]:
    """Merge tag layers left to right; later layers win, but required keys must survive non-empty.

    Components call this explicitly (no provider-level default tags) so every resource's tags are
    visible in its inputs, where tests and policies can read them.
    """
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update({str(k): str(v) for k, v in layer.items()})
    missing = missing_required(merged)
    if missing:
        raise ValueError(f"tags are missing required keys: {', '.join(missing)}")
    return merged
