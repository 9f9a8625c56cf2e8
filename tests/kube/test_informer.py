"""The informer against the real apiserver: relist on 410, surviving a restart, bounded fan-out."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.config import KubernetesSettings
from app.kube.informer import PodInformer, SubscriberOverflow
from app.kube.pods import PodRepository
from app.models import ChangeType, Sandbox, SandboxChange, SandboxPhase
from app.sandboxes.service import SandboxService
from devcluster.cluster import LocalCluster
from devcluster.kwok import EXIT_ZERO
from tests.conftest import SpecFactory


@pytest.fixture
async def own_informer(repository: PodRepository) -> AsyncIterator[PodInformer]:
    informer = PodInformer(repository, watch_timeout_seconds=30, max_backoff_seconds=1.0)
    informer.start()
    await informer.wait_synced(timeout=30)
    try:
        yield informer
    finally:
        await informer.stop()


async def truth(repository: PodRepository) -> dict[str, str]:
    items, _ = await repository.list_raw()
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in items}


def snapshot(informer: PodInformer) -> dict[str, str]:
    return {name: s.resource_version for name, s in informer.store.items()}


async def converged(informer: PodInformer, repository: PodRepository) -> bool:
    return snapshot(informer) == await truth(repository)


async def wait_converged(informer: PodInformer, repository: PodRepository) -> None:
    async with asyncio.timeout(60):
        while not await converged(informer, repository):
            await asyncio.sleep(0.3)


async def test_stale_resource_version_relists_and_announces_vanished_pods(
    own_informer: PodInformer, repository: PodRepository, spec: SpecFactory, service: SandboxService
) -> None:
    await own_informer.stop()
    ghost = Sandbox(
        name="kata-sandbox-0badc0de",
        namespace=repository.namespace,
        image="busybox",
        phase=SandboxPhase.RUNNING,
        created_at=datetime.now(UTC),
        resource_version="1",
    )
    own_informer.store[ghost.name] = ghost
    # Far older than anything the apiserver still keeps: the watch answers 410 Gone.
    own_informer.resource_version = "1"
    relists = own_informer.relists
    created = await service.create(spec())
    async with own_informer.subscribe() as changes:
        own_informer.start()
        seen: list[SandboxChange] = []
        async with asyncio.timeout(30):
            async for change in changes:
                seen.append(change)
                if {ghost.name, created.name} <= {c.sandbox.name for c in seen}:
                    break
    assert own_informer.relists == relists + 1
    deleted = [c for c in seen if c.sandbox.name == ghost.name]
    assert [c.type for c in deleted] == [ChangeType.DELETED]
    assert deleted[0].sandbox == ghost
    assert ghost.name not in own_informer.store
    await wait_converged(own_informer, repository)


async def test_store_converges_after_an_apiserver_restart(
    own_informer: PodInformer,
    repository: PodRepository,
    cluster: LocalCluster,
    spec: SpecFactory,
    service: SandboxService,
) -> None:
    finishing = await service.create(
        spec(EXIT_ZERO, **{"kata-sim.test/run-duration": "2s"}), wait_for_ready=True
    )
    doomed = await service.create(spec())
    version = own_informer.version
    cluster.stop_apiserver()
    await asyncio.sleep(1)
    await asyncio.to_thread(cluster.start_apiserver)
    # Changes made right after the restart must reach the store through the resumed watch.
    await service.repository.delete(doomed.name, force=True)
    added = await service.repository.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"kata-sandbox-{secrets.token_hex(4)}",
                "labels": {
                    "app": "kata-sandbox",
                    "managed-by": "kata-sandbox-api",
                    "test-tag": spec.tag,
                },
            },
            "spec": {
                "runtimeClassName": "kata-qemu",
                "automountServiceAccountToken": False,
                "containers": [{"name": "sandbox", "image": "docker.io/library/busybox:1.36"}],
            },
        }
    )
    await wait_converged(own_informer, repository)
    assert doomed.name not in own_informer.store
    assert added.name in own_informer.store
    assert own_informer.version > version

    # The final state of a pod that finished around the restart is not lost.
    def finished() -> bool:
        sandbox = own_informer.get(finishing.name)
        return sandbox is not None and sandbox.phase is SandboxPhase.SUCCEEDED

    assert await own_informer.wait_until(finished, timeout=30)


async def test_a_slow_subscriber_is_cut_off_without_delaying_others(
    own_informer: PodInformer, spec: SpecFactory, service: SandboxService
) -> None:
    slow = own_informer.subscribe(maxsize=2)
    fast = own_informer.subscribe()
    count = own_informer.subscriber_count
    created = [await service.create(spec()) for _ in range(3)]
    names = {c.name for c in created}
    received: set[str] = set()
    async with asyncio.timeout(30):
        async for change in fast:
            received.add(change.sandbox.name)
            if names <= received:
                break
    fast.close()
    assert slow.overflowed
    assert own_informer.subscriber_count == count - 2
    delivered = [await anext(slow), await anext(slow)]
    assert len(delivered) == 2
    with pytest.raises(SubscriberOverflow):
        await anext(slow)


async def test_stop_ends_subscriptions(repository: PodRepository) -> None:
    informer = PodInformer(repository)
    informer.start()
    await informer.wait_synced(timeout=30)
    subscription = informer.subscribe()
    await informer.stop()
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)
    assert informer.subscriber_count == 0


def test_settings_default_namespace_matches_the_manifests() -> None:
    assert KubernetesSettings().target_namespace == "sandbox-containers"
