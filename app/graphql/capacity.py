"""``Query.capacity``: how much room is left for sandboxes (``app.sandboxes.capacity``).

Amounts are in the API's units (memory in MiB, CPU in millicores, pods as a count). Where a
figure cannot be known it is null and the matching ``...Note`` says why: no ResourceQuota in the
namespace, or no permission to read nodes (the optional node-reader component).
"""

from __future__ import annotations

import strawberry

from app import models
from app.graphql.enums import OverheadSource
from app.graphql.types import ResourceAmounts

# GraphQL's Int is 32-bit; a quota may state more than that in MiB or millicores.
MAX_INT = 2**31 - 1


def _int(value: int) -> int:
    return min(value, MAX_INT)


@strawberry.type(
    name="SandboxFootprint",
    description=(
        "One sandbox with the default resources, as Kubernetes counts it: the RuntimeClass "
        "overhead (the Kata VM's own cost) comes on top of the requests and of the limits."
    ),
)
class SandboxFootprint:
    requests: ResourceAmounts
    limits: ResourceAmounts
    overhead: ResourceAmounts
    overhead_source: OverheadSource
    overhead_note: str = strawberry.field(description="Where the overhead was read, and why.")
    scheduled: ResourceAmounts = strawberry.field(
        description="Requests plus overhead: what the scheduler and a requests.* quota count."
    )
    limited: ResourceAmounts = strawberry.field(
        description="Limits plus overhead: what a limits.* quota counts."
    )

    @classmethod
    def from_domain(cls, footprint: models.SandboxFootprint) -> SandboxFootprint:
        return cls(
            requests=ResourceAmounts.from_domain(footprint.requests),
            limits=ResourceAmounts.from_domain(footprint.limits),
            overhead=ResourceAmounts.from_domain(footprint.overhead),
            overhead_source=OverheadSource[footprint.overhead_source.name],
            overhead_note=footprint.overhead_note,
            scheduled=ResourceAmounts.from_domain(footprint.scheduled),
            limited=ResourceAmounts.from_domain(footprint.limited),
        )


@strawberry.type(
    name="QuotaResource", description="One line of a ResourceQuota, e.g. requests.memory."
)
class QuotaResource:
    resource: str
    hard: int
    used: int
    remaining: int
    unit: str = strawberry.field(description="Mi (MiB), m (millicores) or count.")

    @classmethod
    def from_domain(cls, line: models.QuotaResource) -> QuotaResource:
        return cls(
            resource=line.resource,
            hard=_int(line.hard),
            used=_int(line.used),
            remaining=_int(line.remaining),
            unit=line.unit,
        )


@strawberry.type(name="QuotaUsage", description="A ResourceQuota of the sandbox namespace.")
class QuotaUsage:
    name: str
    resources: list[QuotaResource]
    sandboxes_that_fit: int | None = strawberry.field(
        description="How many more default sandboxes it admits; null if it limits none of theirs."
    )

    @classmethod
    def from_domain(cls, usage: models.QuotaUsage) -> QuotaUsage:
        return cls(
            name=usage.name,
            resources=[QuotaResource.from_domain(line) for line in usage.resources],
            sandboxes_that_fit=(
                _int(usage.sandboxes_that_fit) if usage.sandboxes_that_fit is not None else None
            ),
        )


@strawberry.type(
    name="NodeCapacity",
    description=(
        "A node the RuntimeClass can use: its allocatable, what this service's sandboxes on it "
        "request, and how many more default sandboxes fit (an upper bound: other workloads on "
        "the node are not visible to the service)."
    ),
)
class NodeCapacity:
    name: str
    allocatable: ResourceAmounts
    allocatable_pods: int | None
    sandbox_count: int
    sandbox_requests: ResourceAmounts = strawberry.field(
        description="Requests plus overhead of the service's sandboxes on the node."
    )
    sandboxes_that_fit: int

    @classmethod
    def from_domain(cls, node: models.NodeCapacity) -> NodeCapacity:
        return cls(
            name=node.name,
            allocatable=ResourceAmounts.from_domain(node.allocatable),
            allocatable_pods=node.allocatable_pods,
            sandbox_count=node.sandbox_count,
            sandbox_requests=ResourceAmounts.from_domain(node.sandbox_requests),
            sandboxes_that_fit=_int(node.sandboxes_that_fit),
        )


@strawberry.type(name="Capacity", description="How much room is left for sandboxes.")
class Capacity:
    footprint: SandboxFootprint
    quotas: list[QuotaUsage] = strawberry.field(
        description="The sandbox namespace's ResourceQuotas; empty when there is none."
    )
    quota_note: str | None = strawberry.field(
        description="Why quotas are empty or not to be trusted yet; null when all is known."
    )
    nodes: list[NodeCapacity] | None = strawberry.field(
        description="Per node; null when the service may not read nodes (see nodesNote)."
    )
    nodes_note: str | None
    sandboxes_that_fit: int | None = strawberry.field(
        description=(
            "How many more default sandboxes fit: the smallest of what the quotas and the nodes "
            "allow; null when neither is known."
        )
    )
    fit_note: str = strawberry.field(description="What limits sandboxesThatFit.")

    @classmethod
    def from_domain(cls, capacity: models.Capacity) -> Capacity:
        return cls(
            footprint=SandboxFootprint.from_domain(capacity.footprint),
            quotas=[QuotaUsage.from_domain(q) for q in capacity.quotas],
            quota_note=capacity.quota_note,
            nodes=(
                [NodeCapacity.from_domain(n) for n in capacity.nodes]
                if capacity.nodes is not None
                else None
            ),
            nodes_note=capacity.nodes_note,
            sandboxes_that_fit=(
                _int(capacity.sandboxes_that_fit)
                if capacity.sandboxes_that_fit is not None
                else None
            ),
            fit_note=capacity.fit_note,
        )
