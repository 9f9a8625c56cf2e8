"""coordination.k8s.io/v1 Leases as raw JSON: read, create, and compare-and-swap update.

A Lease is a small object whose ``spec`` says who holds it (``holderIdentity``), for how long a
renewal counts (``leaseDurationSeconds``), when it was acquired and last renewed (``acquireTime``,
``renewTime``, MicroTime: RFC 3339 with microseconds) and how often it changed hands
(``leaseTransitions``). Mutual exclusion comes from the apiserver's optimistic concurrency: an
update (PUT) carries the ``metadata.resourceVersion`` it was based on, and answers 409 Conflict
if anyone wrote the Lease since; a create of an existing Lease answers 409 AlreadyExists. So of
two replicas racing for one Lease exactly one write wins. ``app.kube.leader`` builds the election
on top of this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.kube.convert import parse_timestamp
from app.kube.transport import KubeTransport
from app.models import NotFound


def format_micro_time(at: datetime) -> str:
    """A MicroTime: ``2024-05-01T10:00:00.123456Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    holder: str | None
    lease_duration_seconds: float | None
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int = 0
    # The version this record was read at (or written as); the precondition of an update.
    resource_version: str = ""

    @property
    def held(self) -> bool:
        return bool(self.holder)

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder or "",
            "leaseTransitions": self.transitions,
        }
        if self.lease_duration_seconds is not None:
            # An int32 in the API: round up, never promise less than configured.
            spec["leaseDurationSeconds"] = max(1, math.ceil(self.lease_duration_seconds))
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec


def lease_from_k8s(obj: Mapping[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    metadata = obj.get("metadata") or {}
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    holder = spec.get("holderIdentity")
    return LeaseRecord(
        holder=holder if isinstance(holder, str) and holder else None,
        lease_duration_seconds=float(duration) if isinstance(duration, int) else None,
        acquire_time=parse_timestamp(spec.get("acquireTime")),
        renew_time=parse_timestamp(spec.get("renewTime")),
        transitions=transitions if isinstance(transitions, int) else 0,
        resource_version=str(metadata.get("resourceVersion", "")),
    )


class LeaseClient:
    """The Leases of one namespace."""

    def __init__(self, transport: KubeTransport, namespace: str) -> None:
        self.transport = transport
        self.namespace = namespace
        self._leases = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    async def get(self, name: str) -> LeaseRecord | None:
        try:
            found = await self.transport.request(
                "GET", f"{self._leases}/{name}", action="get leases"
            )
        except NotFound:
            return None
        return lease_from_k8s(found)

    async def create(self, name: str, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease; raises AlreadyExists (a Conflict) if someone was first."""
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": record.spec(),
        }
        created = await self.transport.request(
            "POST", self._leases, action="create leases", body=body, retry=False
        )
        return lease_from_k8s(created)

    async def update(self, name: str, record: LeaseRecord) -> LeaseRecord:
        """Replace the Lease if it is still at ``record.resource_version``; else Conflict."""
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "resourceVersion": record.resource_version,
            },
            "spec": record.spec(),
        }
        updated = await self.transport.request(
            "PUT", f"{self._leases}/{name}", action="update leases", body=body, retry=False
        )
        return lease_from_k8s(updated)
