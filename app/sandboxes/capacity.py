"""How many more default-size sandboxes fit: per the namespace's quota and, if allowed, per node.

The footprint of one default sandbox is the default requests and limits plus the RuntimeClass
overhead, which Kubernetes adds to both when scheduling and when charging quota. The overhead
is taken, in this order of preference, from:

1. the RuntimeClass itself (cluster-scoped: readable only with the opt-in node-reader
   component, since the service's own Role is namespaced);
2. ``spec.overhead`` of an existing sandbox pod: RuntimeClass admission copied it there, so it
   is the RuntimeClass's overhead as of that pod's creation;
3. the setting ``Kubernetes.RuntimeClassOverheadFallback``.

``overhead_note`` says which and why. A ResourceQuota admits ``floor(remaining / cost)`` more
sandboxes for each resource it limits (pods: 1 each; ``requests.*``: requests + overhead;
``limits.*``: limits + overhead); the smallest count wins. A quota without status has not been
counted by the quota controller yet, and quota admission refuses every pod until it is: 0.

Per node (only with node read access): allocatable less what this service's sandboxes on the
node request, divided by the footprint, over the nodes the RuntimeClass selects that are Ready
and schedulable. Other workloads on a node are invisible to the service, so that is an upper
bound, and the note says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.config import KubernetesSettings
from app.kube.cluster_reads import ClusterReader, NodeAllocatable, ResourceQuotaStatus
from app.kube.informer import PodInformer
from app.models import (
    NO_REQUIREMENTS,
    Capacity,
    Forbidden,
    NodeCapacity,
    NotFound,
    OverheadSource,
    QuotaResource,
    QuotaUsage,
    ResourceAmounts,
    Sandbox,
    SandboxFootprint,
)
from app.sandboxes.manifest import resolve_resources

NODE_READER_COMPONENT = "manifests/components/node-reader"


def _fits(free: int | None, cost: int | None) -> int | None:
    if free is None or not cost:
        return None
    return max(0, free // cost)


def quota_usage(quota: ResourceQuotaStatus, footprint: SandboxFootprint) -> QuotaUsage:
    scheduled, limited = footprint.scheduled, footprint.limited
    cost = {
        "pods": 1,
        "count/pods": 1,
        "requests.memory": scheduled.memory_mi,
        "memory": scheduled.memory_mi,
        "limits.memory": limited.memory_mi,
        "requests.cpu": scheduled.cpu_millicores,
        "cpu": scheduled.cpu_millicores,
        "limits.cpu": limited.cpu_millicores,
    }
    resources = tuple(QuotaResource(a.resource, a.hard, a.used, a.unit) for a in quota.amounts)
    counts = [
        fit for r in resources if (fit := _fits(r.remaining, cost.get(r.resource))) is not None
    ]
    fit = min(counts) if counts else None
    if not quota.has_status and resources:
        fit = 0
    return QuotaUsage(quota.name, resources, fit)


def _sum(sandboxes: Sequence[Sandbox]) -> ResourceAmounts:
    memory = cpu = 0
    for s in sandboxes:
        overhead = s.resources.overhead
        memory += (s.resources.requests.memory_mi or 0) + ((overhead and overhead.memory_mi) or 0)
        cpu += (s.resources.requests.cpu_millicores or 0) + (
            (overhead and overhead.cpu_millicores) or 0
        )
    return ResourceAmounts(memory_mi=memory, cpu_millicores=cpu)


def node_capacity(
    node: NodeAllocatable, sandboxes: Sequence[Sandbox], footprint: SandboxFootprint
) -> NodeCapacity:
    here = [s for s in sandboxes if s.node_name == node.name and not s.phase.is_terminal]
    used = _sum(here)
    need = footprint.scheduled
    free_memory = (node.allocatable.memory_mi or 0) - (used.memory_mi or 0)
    free_cpu = (node.allocatable.cpu_millicores or 0) - (used.cpu_millicores or 0)
    counts = [
        fit
        for fit in (
            _fits(free_memory, need.memory_mi),
            _fits(free_cpu, need.cpu_millicores),
            node.pods - len(here) if node.pods is not None else None,
        )
        if fit is not None
    ]
    return NodeCapacity(
        name=node.name,
        allocatable=node.allocatable,
        allocatable_pods=node.pods,
        sandbox_count=len(here),
        sandbox_requests=used,
        sandboxes_that_fit=max(0, min(counts)) if counts else 0,
    )


class CapacityService:
    def __init__(
        self, reader: ClusterReader, informer: PodInformer, settings: KubernetesSettings
    ) -> None:
        self.reader = reader
        self.informer = informer
        self.settings = settings

    async def _overhead(self) -> tuple[ResourceAmounts, OverheadSource, str, dict[str, str] | None]:
        name = self.settings.runtime_class_name
        try:
            overhead, selector = await self.reader.runtime_class(name)
        except Forbidden:
            why = (
                f"the service may not read RuntimeClasses (cluster-scoped; the optional "
                f"{NODE_READER_COMPONENT} component allows it)"
            )
        except NotFound:
            why = f"RuntimeClass {name!r} does not exist (sandboxes cannot be created)"
        else:
            if overhead is None:
                return (
                    ResourceAmounts(memory_mi=0, cpu_millicores=0),
                    OverheadSource.RUNTIME_CLASS,
                    f"RuntimeClass {name!r} declares no overhead; Kubernetes counts none",
                    selector,
                )
            return overhead, OverheadSource.RUNTIME_CLASS, f"from RuntimeClass {name!r}", selector
        for sandbox in self.informer.ordered():
            seen = sandbox.resources.overhead
            if sandbox.runtime_class_name == name and seen is not None:
                return (
                    seen,
                    OverheadSource.OBSERVED,
                    f"from spec.overhead of sandbox {sandbox.name}, which RuntimeClass admission "
                    f"copied from {name!r}; {why}",
                    None,
                )
        fallback = self.settings.runtime_class_overhead_fallback
        return (
            ResourceAmounts(memory_mi=fallback.memory_mi, cpu_millicores=fallback.cpu_millicores),
            OverheadSource.SETTINGS,
            f"from the setting Kubernetes.RuntimeClassOverheadFallback: {why}, and no sandbox "
            "exists to read it from",
            None,
        )

    async def footprint(self) -> SandboxFootprint:
        footprint, _ = await self._footprint()
        return footprint

    async def _footprint(self) -> tuple[SandboxFootprint, dict[str, str] | None]:
        defaults = resolve_resources(NO_REQUIREMENTS, self.settings)
        overhead, source, note, selector = await self._overhead()
        footprint = SandboxFootprint(defaults.requests, defaults.limits, overhead, source, note)
        return footprint, selector

    async def _quotas(self, footprint: SandboxFootprint) -> tuple[list[QuotaUsage], str | None]:
        namespace = self.settings.target_namespace
        try:
            quotas = await self.reader.resource_quotas(namespace)
        except Forbidden:
            return [], "the service may not read ResourceQuotas (its Role lacks resourcequotas)"
        usages = [quota_usage(q, footprint) for q in quotas]
        if not usages:
            return [], f"no ResourceQuota in namespace {namespace!r}"
        pending = [q.name for q in quotas if not q.has_status]
        if pending:
            return usages, (
                f"ResourceQuota {', '.join(pending)} has no status yet: until the quota "
                "controller counts it, Kubernetes refuses every new pod"
            )
        return usages, None

    async def _nodes(
        self, footprint: SandboxFootprint, selector: dict[str, str] | None
    ) -> tuple[list[NodeCapacity] | None, str | None]:
        try:
            nodes = await self.reader.nodes()
        except Forbidden:
            return None, (
                "Nodes are cluster-scoped and the service's RBAC is namespaced; install the "
                f"optional {NODE_READER_COMPONENT} kustomize component for per-node capacity"
            )
        usable = [
            n
            for n in nodes
            if n.ready
            and n.schedulable
            and all(n.labels.get(k) == v for k, v in (selector or {}).items())
        ]
        sandboxes = self.informer.sandboxes()
        return [node_capacity(n, sandboxes, footprint) for n in usable], (
            "upper bounds: other workloads on the nodes are not visible to the service"
        )

    async def capacity(self) -> Capacity:
        footprint, selector = await self._footprint()
        quotas, quota_note = await self._quotas(footprint)
        nodes, nodes_note = await self._nodes(footprint, selector)
        bounds: list[tuple[int, str]] = []
        quota_fits = [q.sandboxes_that_fit for q in quotas if q.sandboxes_that_fit is not None]
        if quota_fits:
            bounds.append((min(quota_fits), "the namespace's ResourceQuota"))
        if nodes is not None:
            bounds.append((sum(n.sandboxes_that_fit for n in nodes), "the nodes' free capacity"))
        if bounds:
            fit, by = min(bounds)
            fit_note = f"limited by {by}"
        else:
            fit, fit_note = None, "unknown: no ResourceQuota applies and nodes cannot be read"
        return Capacity(
            footprint=footprint,
            quotas=tuple(quotas),
            quota_note=quota_note,
            nodes=tuple(nodes) if nodes is not None else None,
            nodes_note=nodes_note,
            sandboxes_that_fit=fit if bounds else None,
            fit_note=fit_note,
        )
