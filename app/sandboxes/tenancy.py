"""Which tenant a sandbox belongs to: the label ``kata-sandbox-api/tenant`` on its pod.

The label is written once, at creation, from the creator's API token (``app.auth``); users
cannot set or change it (the key is reserved, and no mutation edits labels). A pod without the
label (created with authentication off, or by hand) belongs to no tenant: only admins see it.
"""

from __future__ import annotations

from app.kube.ownership import TENANT_LABEL
from app.models import Sandbox

__all__ = ["TENANT_LABEL", "belongs_to", "tenant_of"]


def tenant_of(sandbox: Sandbox) -> str | None:
    for label in sandbox.labels:
        if label.key == TENANT_LABEL:
            return label.value
    return None


def belongs_to(sandbox: Sandbox, tenant: str | None) -> bool:
    """Whether ``sandbox`` is in scope for ``tenant``; None is every tenant's scope (admins)."""
    return tenant is None or tenant_of(sandbox) == tenant
