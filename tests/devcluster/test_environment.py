"""The test environment is a real cluster: RBAC, admission, scheduling and graceful deletion.

Everything here acts as the ``kata-manager`` ServiceAccount, with the Role from ``manifests/``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from devcluster.cluster import SANDBOX_NAMESPACE, LocalCluster

NS = SANDBOX_NAMESPACE


def pod_body(
    *, name: str | None = None, privileged: bool = False, memory: str = "64Mi"
) -> dict[str, Any]:
    security: dict[str, Any] = {
        "allowPrivilegeEscalation": privileged,
        "privileged": privileged,
        "capabilities": {"drop": ["ALL"]},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name or f"env-{secrets.token_hex(4)}", "labels": {"app": "env-test"}},
        "spec": {
            "runtimeClassName": "kata-qemu",
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "docker.io/library/busybox:1.36",
                    "resources": {
                        "requests": {"memory": memory, "cpu": "50m"},
                        "limits": {"memory": memory, "cpu": "100m"},
                    },
                    "securityContext": security,
                }
            ],
        },
    }


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


async def pod_events(core: CoreV1Api, name: str) -> list[Any]:
    events = await core.list_namespaced_event(
        NS, field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}"
    )
    return list(events.items)


@pytest.fixture
def core(manager_api: ApiClient) -> CoreV1Api:
    return CoreV1Api(manager_api)


async def test_version_is_the_pinned_release(cluster: LocalCluster) -> None:
    assert cluster.version()["gitVersion"].startswith("v1.33.")


async def test_pod_gets_overhead_runs_on_office_node_and_has_logs_and_events(
    core: CoreV1Api,
) -> None:
    created = await core.create_namespaced_pod(NS, pod_body())  # type: ignore[arg-type]
    name = created.metadata.name
    try:
        # RuntimeClass admission copied the Kata VM's fixed cost into the pod.
        assert created.spec.overhead == {"memory": "160Mi", "cpu": "250m"}

        async def running_and_ready() -> bool:
            pod = await core.read_namespaced_pod(name, NS)
            ready = any(
                c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])
            )
            return bool(pod.status.phase == "Running" and ready and pod.status.pod_ip)

        await eventually(running_and_ready, what="Running and Ready")
        pod = await core.read_namespaced_pod(name, NS)
        assert pod.spec.node_name in {"office1", "office2", "office3", "office4"}

        log = await core.read_namespaced_pod_log(name, NS, tail_lines=2)
        assert len(log.strip().splitlines()) == 2

        async def lifecycle_events() -> bool:
            reasons = {event.reason for event in await pod_events(core, name)}
            return {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= reasons

        await eventually(lifecycle_events, what="Scheduled/Pulling/Pulled/Created/Started events")
    finally:
        await core.delete_namespaced_pod(name, NS, grace_period_seconds=0)


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kata-sandbox-system"])
async def test_service_account_is_forbidden_outside_its_namespace(
    core: CoreV1Api, namespace: str
) -> None:
    with pytest.raises(ApiException) as listing:
        await core.list_namespaced_pod(namespace)
    assert listing.value.status == 403
    with pytest.raises(ApiException) as creating:
        await core.create_namespaced_pod(namespace, pod_body())  # type: ignore[arg-type]
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
        await core.create_namespaced_pod(NS, pod_body(privileged=True))  # type: ignore[arg-type]
    assert error.value.status == 403
    assert "violates PodSecurity" in str(error.value.body)


async def test_pod_larger_than_any_node_stays_pending_with_failed_scheduling(
    core: CoreV1Api,
) -> None:
    created = await core.create_namespaced_pod(NS, pod_body(memory="1Ti"))  # type: ignore[arg-type]
    name = created.metadata.name
    try:

        async def failed_scheduling() -> bool:
            return any(e.reason == "FailedScheduling" for e in await pod_events(core, name))

        await eventually(failed_scheduling, what="a FailedScheduling event")
        pod = await core.read_namespaced_pod(name, NS)
        assert pod.status.phase == "Pending"
        assert pod.spec.node_name is None
        message = next(
            e.message for e in await pod_events(core, name) if e.reason == "FailedScheduling"
        )
        assert "Insufficient memory" in message
    finally:
        await core.delete_namespaced_pod(name, NS)


async def test_graceful_delete_passes_through_terminating(core: CoreV1Api) -> None:
    created = await core.create_namespaced_pod(NS, pod_body())  # type: ignore[arg-type]
    name = created.metadata.name

    async def running() -> bool:
        return bool((await core.read_namespaced_pod(name, NS)).status.phase == "Running")

    await eventually(running, what="Running")
    await core.delete_namespaced_pod(name, NS, grace_period_seconds=2)
    # A pod bound to a node is only marked for deletion; the node's agent removes it.
    terminating = await core.read_namespaced_pod(name, NS)
    assert terminating.metadata.deletion_timestamp is not None

    async def gone() -> bool:
        try:
            await core.read_namespaced_pod(name, NS)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    await eventually(gone, what="the pod to be removed")
