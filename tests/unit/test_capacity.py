from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import KubernetesSettings
from app.kube.cluster_reads import (
    ClusterReader,
    NodeAllocatable,
    ResourceQuotaStatus,
    node_from_k8s,
    quota_from_k8s,
)
from app.models import (
    Forbidden,
    OverheadSource,
    ResourceAmounts,
    Resources,
    Sandbox,
    SandboxPhase,
)
from app.sandboxes.capacity import CapacityService
from devcluster.quota import charged, usage

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
KATA_NODE = {
    "metadata": {"name": "office1", "labels": {"katacontainers.io/kata-runtime": "true"}},
    "spec": {},
    "status": {
        "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}
QUOTA = {
    "metadata": {"name": "sandbox-quota"},
    "spec": {"hard": {"pods": "500", "requests.cpu": "64", "requests.memory": "128Gi"}},
    "status": {
        "hard": {"pods": "500", "requests.cpu": "64", "requests.memory": "128Gi"},
        "used": {"pods": "2", "requests.cpu": "1", "requests.memory": "832Mi"},
    },
}


def test_quota_and_node_objects_in_our_units() -> None:
    quota = quota_from_k8s(QUOTA)
    assert quota.has_status
    assert [(a.resource, a.hard, a.used, a.unit) for a in quota.amounts] == [
        ("pods", 500, 2, "count"),
        ("requests.memory", 131072, 832, "Mi"),
        ("requests.cpu", 64000, 1000, "m"),
    ]
    fresh = quota_from_k8s({**QUOTA, "status": {}})
    assert not fresh.has_status
    assert fresh.amounts[0].used == 0
    node = node_from_k8s(KATA_NODE)
    assert node.allocatable == ResourceAmounts(memory_mi=16384, cpu_millicores=8000)
    assert (node.pods, node.ready, node.schedulable) == (110, True, True)


class FakeReader(ClusterReader):
    def __init__(self, *, runtime_class: bool, nodes: bool, quotas: list[dict[str, Any]]) -> None:
        self.allow_runtime_class, self.allow_nodes, self.quotas = runtime_class, nodes, quotas

    async def runtime_class(self, name: str) -> tuple[ResourceAmounts | None, dict[str, str]]:
        if not self.allow_runtime_class:
            raise Forbidden("no")
        return ResourceAmounts(memory_mi=200, cpu_millicores=100), {
            "katacontainers.io/kata-runtime": "true"
        }

    async def resource_quotas(self, namespace: str) -> list[ResourceQuotaStatus]:
        return [quota_from_k8s(q) for q in self.quotas]

    async def nodes(self) -> list[NodeAllocatable]:
        if not self.allow_nodes:
            raise Forbidden("no")
        plain = {**KATA_NODE, "metadata": {"name": "plain", "labels": {}}}
        return [node_from_k8s(KATA_NODE), node_from_k8s(plain)]


class Store:
    def __init__(self, *sandboxes: Sandbox) -> None:
        self.items = list(sandboxes)

    def ordered(self) -> list[Sandbox]:
        return self.items

    def sandboxes(self) -> list[Sandbox]:
        return self.items


def running_on(node: str) -> Sandbox:
    return Sandbox(
        name=f"kata-sandbox-{node}",
        namespace="sandbox-containers",
        image="busybox",
        phase=SandboxPhase.RUNNING,
        created_at=NOW,
        node_name=node,
        runtime_class_name="kata-qemu",
        resources=Resources(
            ResourceAmounts(memory_mi=1024, cpu_millicores=1000),
            ResourceAmounts(memory_mi=1024, cpu_millicores=1000),
            overhead=ResourceAmounts(memory_mi=160, cpu_millicores=250),
        ),
    )


async def test_without_cluster_reads_the_overhead_comes_from_a_pod_or_the_settings() -> None:
    reader = FakeReader(runtime_class=False, nodes=False, quotas=[QUOTA])
    service = CapacityService(reader, Store(running_on("office1")), KubernetesSettings())  # type: ignore[arg-type]
    capacity = await service.capacity()
    footprint = capacity.footprint
    assert footprint.overhead_source is OverheadSource.OBSERVED
    assert "kata-sandbox-office1" in footprint.overhead_note
    assert "may not read RuntimeClasses" in footprint.overhead_note
    assert footprint.scheduled == ResourceAmounts(memory_mi=416, cpu_millicores=500)
    assert footprint.limited == ResourceAmounts(memory_mi=672, cpu_millicores=750)
    (quota,) = capacity.quotas
    # cpu: (64000 - 1000) // 500 = 126; memory (131072 - 832) // 416 = 313; pods 498.
    assert quota.sandboxes_that_fit == 126
    assert capacity.nodes is None
    assert capacity.nodes_note is not None
    assert "node-reader" in capacity.nodes_note
    assert capacity.sandboxes_that_fit == 126
    assert capacity.fit_note == "limited by the namespace's ResourceQuota"

    empty = CapacityService(reader, Store(), KubernetesSettings())  # type: ignore[arg-type]
    fallback = (await empty.capacity()).footprint
    assert fallback.overhead_source is OverheadSource.SETTINGS
    assert fallback.overhead == ResourceAmounts(memory_mi=160, cpu_millicores=250)


async def test_with_node_reader_nodes_and_runtime_class_are_read() -> None:
    reader = FakeReader(runtime_class=True, nodes=True, quotas=[])
    service = CapacityService(reader, Store(running_on("office1")), KubernetesSettings())  # type: ignore[arg-type]
    capacity = await service.capacity()
    assert capacity.footprint.overhead_source is OverheadSource.RUNTIME_CLASS
    assert capacity.footprint.scheduled == ResourceAmounts(memory_mi=456, cpu_millicores=350)
    assert capacity.quotas == ()
    assert capacity.quota_note == "no ResourceQuota in namespace 'sandbox-containers'"
    assert capacity.nodes is not None
    (node,) = capacity.nodes  # only the node the RuntimeClass selects
    assert node.name == "office1"
    assert node.sandbox_count == 1
    assert node.sandbox_requests == ResourceAmounts(memory_mi=1184, cpu_millicores=1250)
    # cpu: (8000 - 1250) // 350 = 19; memory: (16384 - 1184) // 456 = 33.
    assert node.sandboxes_that_fit == 19
    assert capacity.sandboxes_that_fit == 19


async def test_a_quota_without_status_admits_nothing() -> None:
    reader = FakeReader(runtime_class=False, nodes=False, quotas=[{**QUOTA, "status": {}}])
    capacity = await CapacityService(reader, Store(), KubernetesSettings()).capacity()  # type: ignore[arg-type]
    assert capacity.sandboxes_that_fit == 0
    assert capacity.quota_note is not None
    assert "no status yet" in capacity.quota_note


# -- the devcluster's stand-in for the quota controller ----------------------------------------


def pod(memory: str, *, phase: str = "Running", deleted_ago: int | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "p"}
    if deleted_ago is not None:
        metadata["deletionTimestamp"] = (NOW - timedelta(seconds=deleted_ago)).isoformat()
        metadata["deletionGracePeriodSeconds"] = 30
    return {
        "metadata": metadata,
        "spec": {
            "overhead": {"memory": "160Mi", "cpu": "250m"},
            "initContainers": [{"resources": {"requests": {"memory": "1Gi"}}}],
            "containers": [
                {"resources": {"requests": {"memory": memory, "cpu": "250m"}}},
                {"resources": {"requests": {"memory": memory}, "limits": {"cpu": "1"}}},
            ],
        },
        "status": {"phase": phase},
    }


def test_stand_in_charges_like_the_quota_controller() -> None:
    assert charged(pod("1Mi"), NOW)
    assert not charged(pod("1Mi", phase="Succeeded"), NOW)
    assert charged(pod("1Mi", deleted_ago=5), NOW)  # still within its grace period
    assert not charged(pod("1Mi", deleted_ago=60), NOW)
    hard = {"pods": "9", "count/pods": "9", "requests.memory": "9Gi", "requests.cpu": "9",
            "limits.cpu": "9", "requests.storage": "1Ti"}  # fmt: skip
    pods = [pod("256Mi"), pod("1Gi"), pod("1Mi", phase="Failed")]
    used = usage(hard, pods, NOW)
    mebibyte = 1024 * 1024
    # 2 x 256Mi < the 1Gi init container: 1Gi + 160Mi; then 2 x 1Gi + 160Mi.
    assert used == {
        "pods": "2",
        "count/pods": "3",
        "requests.memory": str((1024 + 160 + 2048 + 160) * mebibyte),
        "requests.cpu": "1000m",
        "limits.cpu": "2500m",
    }
