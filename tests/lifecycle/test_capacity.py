"""The capacity report as kata-manager, a real ResourceQuota refusing a create, and the opt-in
node-reader component."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient

from app.kube.cluster_reads import ClusterReader
from app.kube.informer import PodInformer
from app.kube.transport import KubeTransport
from app.models import Forbidden, OverheadSource, QuotaExceeded
from app.sandboxes.capacity import CapacityService
from app.sandboxes.service import SandboxService
from devcluster.cluster import MANIFESTS_DIR, SANDBOX_NAMESPACE, LocalCluster
from tests.conftest import SpecFactory
from tests.lifecycle.conftest import eventually

COMPONENT = MANIFESTS_DIR / "components" / "node-reader"


@pytest.fixture
def capacity(
    manager_client: ApiClient, informer: PodInformer, service: SandboxService
) -> CapacityService:
    return CapacityService(ClusterReader(KubeTransport(manager_client)), informer, service.settings)


async def test_capacity_with_the_shipped_quota_and_namespaced_rbac(
    capacity: CapacityService, service: SandboxService, spec: SpecFactory
) -> None:
    await service.create(spec())
    report = await capacity.capacity()
    footprint = report.footprint
    # RuntimeClasses are cluster-scoped: read from a sandbox pod's spec.overhead instead.
    assert footprint.overhead_source is OverheadSource.OBSERVED
    assert "may not read RuntimeClasses" in footprint.overhead_note
    assert (footprint.scheduled.memory_mi, footprint.scheduled.cpu_millicores) == (416, 500)
    (quota,) = report.quotas
    assert quota.name == "sandbox-quota"
    hard = {r.resource: r.hard for r in quota.resources}
    assert hard == {"pods": 500, "requests.memory": 131072, "requests.cpu": 64000}
    used = {r.resource: r.used for r in quota.resources}
    assert used["pods"] >= 1
    assert quota.sandboxes_that_fit is not None
    assert 0 < quota.sandboxes_that_fit <= 128
    assert report.nodes is None
    assert report.nodes_note is not None
    assert "node-reader" in report.nodes_note
    assert report.sandboxes_that_fit == quota.sandboxes_that_fit


@pytest.fixture
def tiny_quota(cluster: LocalCluster) -> Iterator[str]:
    name = f"tiny-{secrets.token_hex(3)}"
    cluster.apply_objects(
        [
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": name, "namespace": SANDBOX_NAMESPACE},
                "spec": {"hard": {"requests.memory": "1Mi"}},
            }
        ]
    )
    cluster.quota.sync()  # what the quota controller would do at once
    try:
        yield name
    finally:
        cluster.kubectl("delete", "resourcequota", name, "-n", SANDBOX_NAMESPACE, "--wait=true")


async def test_a_create_the_quota_refuses_is_quota_exceeded(
    service: SandboxService, spec: SpecFactory, capacity: CapacityService, tiny_quota: str
) -> None:
    with pytest.raises(QuotaExceeded) as refused:
        await service.create(spec())
    assert refused.value.code == "QUOTA_EXCEEDED"
    assert tiny_quota in refused.value.message
    assert "requests.memory" in refused.value.message
    report = await capacity.capacity()
    tiny = next(q for q in report.quotas if q.name == tiny_quota)
    assert tiny.sandboxes_that_fit == 0
    assert report.sandboxes_that_fit == 0


def render_with_component(cluster: LocalCluster, workdir: Path) -> list[dict[str, Any]]:
    overlay = workdir / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only.
                "resources": [os.path.relpath(MANIFESTS_DIR / "base", overlay)],
                "components": [os.path.relpath(COMPONENT, overlay)],
            }
        )
    )
    rendered = cluster.kubectl("kustomize", "--load-restrictor=LoadRestrictionsNone", str(overlay))
    return [d for d in yaml.safe_load_all(rendered) if d]


def test_the_component_adds_read_only_cluster_access_and_nothing_else(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    with_component = render_with_component(cluster, tmp_path)
    base = [d for d in yaml.safe_load_all(cluster.kubectl("kustomize", str(MANIFESTS_DIR))) if d]
    added = [d for d in with_component if d not in base]
    assert sorted(d["kind"] for d in added) == ["ClusterRole", "ClusterRoleBinding"]
    role = next(d for d in added if d["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"nodes", "runtimeclasses"}


@pytest.fixture
async def node_reader(cluster: LocalCluster, capacity: CapacityService) -> AsyncIterator[None]:
    documents = list(yaml.safe_load_all((COMPONENT / "node-reader.yaml").read_text()))
    cluster.apply_objects(documents)

    async def allowed() -> bool:
        try:
            await capacity.reader.nodes()
        except Forbidden:
            return False
        return True

    await eventually(allowed, what="RBAC to allow reading nodes")
    try:
        yield
    finally:
        cluster.kubectl(
            "delete",
            "-f",
            "-",
            stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": documents}),
        )

        async def forbidden() -> bool:
            return not await allowed()

        await eventually(forbidden, what="RBAC to forbid reading nodes again")


async def test_with_the_node_reader_component_nodes_and_the_runtime_class_are_read(
    capacity: CapacityService, service: SandboxService, spec: SpecFactory, node_reader: None
) -> None:
    sandbox = await service.create(spec(), wait_for_ready=True)
    report = await capacity.capacity()
    footprint = report.footprint
    assert footprint.overhead_source is OverheadSource.RUNTIME_CLASS
    assert (footprint.overhead.memory_mi, footprint.overhead.cpu_millicores) == (160, 250)
    assert report.nodes is not None
    assert sorted(n.name for n in report.nodes) == ["office1", "office2", "office3", "office4"]
    home = next(n for n in report.nodes if n.name == sandbox.node_name)
    assert home.sandbox_count >= 1
    for node in report.nodes:
        assert (node.allocatable.memory_mi, node.allocatable.cpu_millicores) == (16384, 8000)
        # CPU binds: (8000 - what our sandboxes there request) // 500.
        assert (
            node.sandboxes_that_fit == (8000 - (node.sandbox_requests.cpu_millicores or 0)) // 500
        )
    assert report.sandboxes_that_fit == min(
        sum(n.sandboxes_that_fit for n in report.nodes),
        min(q.sandboxes_that_fit for q in report.quotas if q.sandboxes_that_fit is not None),
    )
