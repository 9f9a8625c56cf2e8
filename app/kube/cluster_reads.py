"""Reads for the capacity report: the RuntimeClass, the namespace's ResourceQuotas, the Nodes.

What the service may read decides what it can report:

- **ResourceQuotas** are namespaced; the Role in the sandbox namespace grants ``get``/``list``.
  A quota's ``status.hard``/``status.used`` are kept by the quota controller (and raised by quota
  admission on every create); ``used`` counts each pod's requests *plus* its overhead.
- **RuntimeClasses** and **Nodes** are cluster-scoped: a namespaced Role cannot grant them, and
  the service's own RBAC stays namespace-scoped. The opt-in kustomize component
  ``manifests/components/node-reader`` adds a read-only ClusterRole for both. Without it these
  reads answer 403, raised here as ``Forbidden`` for the caller to explain.

Quantities become MiB, millicores and counts (``app.kube.quantity``, rounded up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.kube.quantity import QuantityError, to_mebibytes, to_millicores
from app.kube.transport import KubeTransport
from app.models import ResourceAmounts

# ResourceQuota keys this service's pods are charged to, by unit. "cpu" and "memory" are the
# old spellings of requests.cpu / requests.memory.
MEMORY_RESOURCES = ("requests.memory", "memory", "limits.memory")
CPU_RESOURCES = ("requests.cpu", "cpu", "limits.cpu")
COUNT_RESOURCES = ("pods", "count/pods")


@dataclass(frozen=True, slots=True)
class QuotaAmount:
    resource: str
    hard: int
    used: int
    unit: str  # "Mi", "m" or "count"


@dataclass(frozen=True, slots=True)
class ResourceQuotaStatus:
    name: str
    amounts: tuple[QuotaAmount, ...]
    # False until the quota controller (or the devcluster's stand-in) has written status.hard;
    # until then quota admission refuses every pod in the namespace.
    has_status: bool


@dataclass(frozen=True, slots=True)
class NodeAllocatable:
    name: str
    allocatable: ResourceAmounts
    pods: int | None
    ready: bool
    schedulable: bool
    labels: Mapping[str, str]


def _convert(resource: str, raw: Any) -> tuple[int, str] | None:
    if not isinstance(raw, str):
        return None
    try:
        if resource in MEMORY_RESOURCES:
            return to_mebibytes(raw), "Mi"
        if resource in CPU_RESOURCES:
            return to_millicores(raw), "m"
        if resource in COUNT_RESOURCES:
            return int(to_millicores(raw) // 1000), "count"
    except QuantityError:
        return None
    return None


def quota_from_k8s(obj: Mapping[str, Any]) -> ResourceQuotaStatus:
    """A ResourceQuota; only the resources a sandbox is charged to, with their status."""
    metadata = obj.get("metadata") or {}
    spec_hard = (obj.get("spec") or {}).get("hard") or {}
    status = obj.get("status") or {}
    status_hard = status.get("hard") or {}
    used = status.get("used") or {}
    amounts = []
    for resource in (*COUNT_RESOURCES, *MEMORY_RESOURCES, *CPU_RESOURCES):
        hard = _convert(resource, status_hard.get(resource, spec_hard.get(resource)))
        if hard is None:
            continue
        current = _convert(resource, used.get(resource))
        amounts.append(QuotaAmount(resource, hard[0], current[0] if current else 0, hard[1]))
    return ResourceQuotaStatus(
        name=str(metadata.get("name", "")), amounts=tuple(amounts), has_status=bool(status_hard)
    )


def node_from_k8s(obj: Mapping[str, Any]) -> NodeAllocatable:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    allocatable = status.get("allocatable") or {}
    memory = _convert("memory", allocatable.get("memory"))
    cpu = _convert("cpu", allocatable.get("cpu"))
    pods = _convert("pods", allocatable.get("pods"))
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    labels = metadata.get("labels") or {}
    return NodeAllocatable(
        name=str(metadata.get("name", "")),
        allocatable=ResourceAmounts(
            memory_mi=memory[0] if memory else None, cpu_millicores=cpu[0] if cpu else None
        ),
        pods=pods[0] if pods else None,
        ready=ready,
        schedulable=not spec.get("unschedulable", False),
        labels={str(k): str(v) for k, v in labels.items()},
    )


class ClusterReader:
    def __init__(self, transport: KubeTransport) -> None:
        self.transport = transport

    async def runtime_class(self, name: str) -> tuple[ResourceAmounts | None, dict[str, str]]:
        """The RuntimeClass's ``overhead.podFixed`` (None if it has none) and node selector.

        Raises Forbidden without the node-reader component, NotFound if it does not exist.
        """
        found = await self.transport.request(
            "GET",
            f"/apis/node.k8s.io/v1/runtimeclasses/{name}",
            action="get runtimeclasses",
            retry=False,
        )
        fixed = (found.get("overhead") or {}).get("podFixed")
        selector = (found.get("scheduling") or {}).get("nodeSelector") or {}
        overhead = None
        if isinstance(fixed, Mapping):
            memory, cpu = _convert("memory", fixed.get("memory")), _convert("cpu", fixed.get("cpu"))
            overhead = ResourceAmounts(
                memory_mi=memory[0] if memory else 0, cpu_millicores=cpu[0] if cpu else 0
            )
        return overhead, {str(k): str(v) for k, v in selector.items()}

    async def resource_quotas(self, namespace: str) -> list[ResourceQuotaStatus]:
        listing = await self.transport.request(
            "GET", f"/api/v1/namespaces/{namespace}/resourcequotas", action="list resourcequotas"
        )
        return [quota_from_k8s(item) for item in listing.get("items") or []]

    async def nodes(self) -> list[NodeAllocatable]:
        """Every node; raises Forbidden without the node-reader component."""
        listing = await self.transport.request(
            "GET", "/api/v1/nodes", action="list nodes", retry=False
        )
        return [node_from_k8s(item) for item in listing.get("items") or []]
