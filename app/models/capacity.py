"""How much room is left for sandboxes: the footprint of one, the namespace quota, the nodes.

Kubernetes counts a Kata pod as its containers' requests *plus* the RuntimeClass overhead
(``spec.overhead``): the scheduler fits that sum into a node's allocatable, and a ResourceQuota
charges it to ``requests.memory`` / ``requests.cpu`` (and ``limits.*`` on top of the limits).
So the footprint here always includes the overhead.

Amounts are in the API's units: memory in MiB, CPU in millicores, pods as a count. Where a
figure cannot be known (no quota, no permission to read nodes), it is None and a ``*_note``
says why in words for a user.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.models.resources import ResourceAmounts


def _add(a: ResourceAmounts, b: ResourceAmounts) -> ResourceAmounts:
    return ResourceAmounts(
        memory_mi=(a.memory_mi or 0) + (b.memory_mi or 0),
        cpu_millicores=(a.cpu_millicores or 0) + (b.cpu_millicores or 0),
    )


class OverheadSource(enum.Enum):
    RUNTIME_CLASS = "RUNTIME_CLASS"  # read from the RuntimeClass object
    OBSERVED = "OBSERVED"  # spec.overhead of an existing sandbox pod (admission copied it there)
    SETTINGS = "SETTINGS"  # Kubernetes.RuntimeClassOverheadFallback


@dataclass(frozen=True, slots=True)
class SandboxFootprint:
    """One sandbox with the default resources."""

    requests: ResourceAmounts
    limits: ResourceAmounts
    overhead: ResourceAmounts
    overhead_source: OverheadSource
    overhead_note: str

    @property
    def scheduled(self) -> ResourceAmounts:
        """Requests plus overhead: what the scheduler and a ``requests.*`` quota count."""
        return _add(self.requests, self.overhead)

    @property
    def limited(self) -> ResourceAmounts:
        """Limits plus overhead: what a ``limits.*`` quota counts."""
        return _add(self.limits, self.overhead)


@dataclass(frozen=True, slots=True)
class QuotaResource:
    """One line of a ResourceQuota, e.g. ``requests.memory`` 48Gi hard, 1248Mi used."""

    resource: str
    hard: int
    used: int
    unit: str  # "Mi", "m" or "count"

    @property
    def remaining(self) -> int:
        return max(0, self.hard - self.used)


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    name: str
    resources: tuple[QuotaResource, ...]
    # How many more default sandboxes this quota admits; None if it limits nothing we use.
    sandboxes_that_fit: int | None


@dataclass(frozen=True, slots=True)
class NodeCapacity:
    """A node's allocatable and what this service's sandboxes on it request.

    Other workloads on the node are not visible to the service, so ``sandboxes_that_fit`` is an
    upper bound: allocatable less the sandboxes' own requests, divided by one footprint.
    """

    name: str
    allocatable: ResourceAmounts
    allocatable_pods: int | None
    sandbox_count: int
    sandbox_requests: ResourceAmounts
    sandboxes_that_fit: int


@dataclass(frozen=True, slots=True)
class Capacity:
    footprint: SandboxFootprint
    quotas: tuple[QuotaUsage, ...]
    quota_note: str | None
    nodes: tuple[NodeCapacity, ...] | None
    nodes_note: str | None
    # The smallest of what the quotas and the nodes allow; None when neither is known.
    sandboxes_that_fit: int | None
    fit_note: str
