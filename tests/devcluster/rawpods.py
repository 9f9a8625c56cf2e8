"""Raw pods for the tests of the environment itself (before any code of the service is involved)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from devcluster.cluster import SANDBOX_NAMESPACE

NS = SANDBOX_NAMESPACE
CreatePod = Callable[[dict[str, Any]], Awaitable[str]]


def pod_body(
    image: str = "docker.io/library/busybox:1.36",
    *,
    labels: dict[str, str] | None = None,
    restart: str = "Never",
    memory: str = "64Mi",
    privileged: bool = False,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"sim-{secrets.token_hex(4)}",
            "labels": {"app": "sim", **(labels or {})},
        },
        "spec": {
            "runtimeClassName": "kata-qemu",
            "automountServiceAccountToken": False,
            "restartPolicy": restart,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "resources": {
                        "requests": {"memory": memory, "cpu": "50m"},
                        "limits": {"memory": memory, "cpu": "100m"},
                    },
                    "securityContext": {
                        "privileged": privileged,
                        "allowPrivilegeEscalation": privileged,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def reasons(core: CoreV1Api, name: str) -> list[str]:
    return [event.reason for event in await pod_events(core, name)]


def condition(pod: Any, kind: str) -> str | None:
    for item in pod.status.conditions or []:
        if item.type == kind:
            status: str = item.status
            return status
    return None


async def wait_pod(
    core: CoreV1Api, name: str, check: Callable[[Any], bool], what: str, within: float = 30.0
) -> Any:
    latest: list[Any] = []

    async def probe() -> bool:
        latest[:] = [await core.read_namespaced_pod(name, NS)]
        return check(latest[0])

    await eventually(probe, within=within, what=what)
    return latest[0]


def running_and_ready(pod: Any) -> bool:
    return bool(pod.status.phase == "Running" and condition(pod, "Ready") == "True")


async def pod_events(core: CoreV1Api, name: str) -> list[Any]:
    events = await core.list_namespaced_event(
        NS, field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}"
    )
    return list(events.items)


async def gone(core: CoreV1Api, name: str) -> bool:
    try:
        await core.read_namespaced_pod(name, NS)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False
