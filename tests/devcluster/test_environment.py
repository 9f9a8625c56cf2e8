"""The test environment is a real cluster: RBAC, admission, scheduling and graceful deletion.

Everything here acts as the ``kata-manager`` ServiceAccount, with the Role from ``manifests/``.
"""

from __future__ import annotations

from typing import cast

import pytest
from kubernetes_asyncio.client import CoreV1Api, V1Pod
from kubernetes_asyncio.client.exceptions import ApiException

from devcluster.cluster import LocalCluster
from tests.devcluster.rawpods import (
    NS,
    CreatePod,
    eventually,
    gone,
    pod_body,
    pod_events,
    reasons,
    running_and_ready,
    wait_pod,
)


async def test_version_is_the_pinned_release(cluster: LocalCluster) -> None:
    assert cluster.version()["gitVersion"].startswith("v1.33.")


async def test_pod_gets_overhead_runs_on_office_node_and_has_logs_and_events(
    core: CoreV1Api, create_pod: CreatePod
) -> None:
    name = await create_pod(pod_body())
    pod = await core.read_namespaced_pod(name, NS)
    # RuntimeClass admission copied the Kata VM's fixed cost into the pod.
    assert pod.spec.overhead == {"memory": "160Mi", "cpu": "250m"}
    pod = await wait_pod(core, name, running_and_ready, "Running and Ready")
    assert pod.status.pod_ip
    assert pod.spec.node_name in {"office1", "office2", "office3", "office4"}
    log = await core.read_namespaced_pod_log(name, NS, tail_lines=2)
    assert len(log.strip().splitlines()) == 2

    async def lifecycle_events() -> bool:
        return {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= set(
            await reasons(core, name)
        )

    await eventually(lifecycle_events, what="Scheduled/Pulling/Pulled/Created/Started events")


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kata-sandbox-system"])
async def test_service_account_is_forbidden_outside_its_namespace(
    core: CoreV1Api, namespace: str
) -> None:
    with pytest.raises(ApiException) as listing:
        await core.list_namespaced_pod(namespace)
    assert listing.value.status == 403
    with pytest.raises(ApiException) as creating:
        await core.create_namespaced_pod(namespace, cast("V1Pod", pod_body()))
    assert creating.value.status == 403


async def test_service_account_cannot_read_cluster_scoped_resources(core: CoreV1Api) -> None:
    for read in (core.list_node, core.list_namespace, core.list_pod_for_all_namespaces):
        with pytest.raises(ApiException) as error:
            await read()
        assert error.value.status == 403, read


async def test_service_account_cannot_read_secrets(core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as error:
        await core.list_namespaced_secret(NS)
    assert error.value.status == 403


async def test_privileged_pod_is_rejected_by_pod_security(core: CoreV1Api) -> None:
    with pytest.raises(ApiException) as error:
        await core.create_namespaced_pod(NS, cast("V1Pod", pod_body(privileged=True)))
    assert error.value.status == 403
    assert "violates PodSecurity" in str(error.value.body)


async def test_pod_larger_than_any_node_stays_pending_with_failed_scheduling(
    core: CoreV1Api, create_pod: CreatePod
) -> None:
    # Larger than any node (16Gi), within the namespace's ResourceQuota (sandbox-quota: 128Gi), so
    # admission lets it through to the scheduler.
    name = await create_pod(pod_body(memory="64Gi"))

    async def failed_scheduling() -> bool:
        return "FailedScheduling" in await reasons(core, name)

    await eventually(failed_scheduling, what="a FailedScheduling event")
    pod = await core.read_namespaced_pod(name, NS)
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name is None
    events = await pod_events(core, name)
    message = next(e.message for e in events if e.reason == "FailedScheduling")
    assert "Insufficient memory" in message


async def test_graceful_delete_passes_through_terminating(
    core: CoreV1Api, create_pod: CreatePod
) -> None:
    name = await create_pod(pod_body())
    await wait_pod(core, name, running_and_ready, "Running and Ready")
    await core.delete_namespaced_pod(name, NS, grace_period_seconds=2)
    # A pod bound to a node is only marked for deletion; the node's agent removes it.
    terminating = await core.read_namespaced_pod(name, NS)
    assert terminating.metadata.deletion_timestamp is not None
    await eventually(lambda: gone(core, name), what="the pod to be removed")
