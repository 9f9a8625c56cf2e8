"""Fixtures for the lifecycle tests: more replicas of the service, and pod events.

A "replica" here is what one server process holds: its own API client, PodRepository,
PodInformer and SandboxService (and, where a test needs it, a LifecycleRuntime), all acting as
the kata-manager ServiceAccount. Several replicas in one test process share nothing but the
cluster, which is what makes the cross-replica tests meaningful.

Background workers that delete pods (reapers) watch only the test's own sandboxes: their
repository's label selector adds the test's tag, so they cannot touch another test's pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient

from app.config import KubernetesSettings
from app.kube.client import create_api_client
from app.kube.event_informer import EventInformer
from app.kube.informer import PodInformer
from app.kube.ownership import MANAGED_POD_SELECTOR
from app.kube.pods import PodRepository
from app.kube.transport import KubeTransport
from app.sandboxes.service import SandboxService
from devcluster.cluster import SANDBOX_NAMESPACE
from tests.conftest import SpecFactory


@dataclass
class Replica:
    client: ApiClient
    transport: KubeTransport
    repository: PodRepository
    informer: PodInformer
    service: SandboxService


@contextlib.asynccontextmanager
async def replica(
    kubeconfig: Path, settings: KubernetesSettings, *, selector: str = MANAGED_POD_SELECTOR
) -> AsyncIterator[Replica]:
    client = await create_api_client(kubeconfig=str(kubeconfig))
    async with client:
        transport = KubeTransport(client)
        repository = PodRepository(transport, SANDBOX_NAMESPACE, selector=selector)
        informer = PodInformer(repository)
        informer.start()
        try:
            await informer.wait_synced(timeout=30)
            yield Replica(
                client,
                transport,
                repository,
                informer,
                SandboxService(repository, informer, settings),
            )
        finally:
            await informer.stop()


Replicas = Callable[..., contextlib.AbstractAsyncContextManager[Replica]]


@pytest.fixture
def replicas(kata_manager_kubeconfig: Path) -> Replicas:
    """``async with replicas(settings, selector=...) as r:`` — another replica of the service."""

    def make(
        settings: KubernetesSettings | None = None, *, selector: str = MANAGED_POD_SELECTOR
    ) -> contextlib.AbstractAsyncContextManager[Replica]:
        return replica(kata_manager_kubeconfig, settings or KubernetesSettings(), selector=selector)

    return make


def own_pods(spec: SpecFactory) -> str:
    """A selector for the test's own sandboxes only."""
    return f"{MANAGED_POD_SELECTOR},{spec.selector}"


@pytest.fixture(scope="session")
async def pod_events(manager_client: ApiClient) -> AsyncIterator[EventInformer]:
    events = EventInformer(KubeTransport(manager_client), SANDBOX_NAMESPACE)
    events.start()
    await events.wait_synced(timeout=30)
    try:
        yield events
    finally:
        await events.stop()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)
