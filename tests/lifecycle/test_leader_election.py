"""Leader election on the real Lease, as kata-manager, and two reapers deleting each sandbox once.

Every replica here is a full LifecycleRuntime (event informer, elector, reaper) with its own API
client, informer and identity; the Lease is the real ``kata-sandbox-api-reaper`` in
``kata-sandbox-system``, which is the only Lease the Role lets the service touch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from kubernetes_asyncio.client import ApiClient

from app.config import KubernetesSettings, LeaderElectionSettings, LifecycleSettings
from app.kube.leader import LeaderElector
from app.kube.lease import LeaseClient, LeaseRecord
from app.kube.transport import KubeTransport
from app.models import DeletionReason, Forbidden
from app.sandboxes.reaper import Reaper, ReapPolicy
from app.sandboxes.runtime import LifecycleRuntime
from devcluster.cluster import SERVICE_NAMESPACE
from devcluster.kwok import BOOT_DELAY_LABEL, EXIT_ZERO
from tests.conftest import SpecFactory
from tests.lifecycle.conftest import Replica, Replicas, eventually, own_pods

FAST = LeaderElectionSettings(
    lease_duration_seconds=3, renew_deadline_seconds=2, retry_period_seconds=0.25
)
LIFECYCLE = LifecycleSettings(
    reaper_interval_seconds=0.25,
    completed_retention_seconds=0,
    max_pending_seconds=None,
    leader_election=FAST,
)


@pytest.fixture
async def leases(manager_client: ApiClient) -> AsyncIterator[LeaseClient]:
    client = LeaseClient(KubeTransport(manager_client), SERVICE_NAMESPACE)
    yield client
    # Leave the Lease released for the next test (as a clean shutdown would).
    current = await client.get(FAST.lease_name)
    if current is not None and current.holder is not None:
        released = LeaseRecord(None, 1, None, None, current.transitions, current.resource_version)
        with contextlib.suppress(Exception):
            await client.update(FAST.lease_name, released)


async def test_one_leader_then_a_handover_on_release_and_a_takeover_on_expiry(
    leases: LeaseClient,
) -> None:
    a = LeaderElector(leases, FAST, identity="replica-a")
    b = LeaderElector(leases, FAST, identity="replica-b")
    a.start()
    assert await a.wait_leader(timeout=10)
    b.start()
    try:
        await asyncio.sleep(1)
        assert a.is_leader
        assert not b.is_leader
        record = await leases.get(FAST.lease_name)
        assert record is not None
        assert record.holder == "replica-a"
        transitions = record.transitions

        await a.stop(release=True)  # a clean shutdown: b takes over within a retry period
        assert await b.wait_leader(timeout=2)
        record = await leases.get(FAST.lease_name)
        assert record is not None
        assert (record.holder, record.transitions) == ("replica-b", transitions + 1)

        # b dies without releasing: a new replica waits out the lease duration, then takes over.
        await b.stop(release=False)
        c = LeaderElector(leases, FAST, identity="replica-c")
        c.start()
        try:
            assert not await c.wait_leader(timeout=2)
            assert await c.wait_leader(timeout=5)
        finally:
            await c.stop()
    finally:
        await a.stop()
        await b.stop()


async def test_the_service_may_touch_only_its_own_lease(leases: LeaseClient) -> None:
    with pytest.raises(Forbidden):
        await leases.get("someone-elses-lease")
    elsewhere = LeaseClient(leases.transport, "sandbox-containers")
    with pytest.raises(Forbidden):
        await elsewhere.get(FAST.lease_name)


@contextlib.asynccontextmanager
async def lifecycle(own: Replica, identity: str) -> AsyncIterator[LifecycleRuntime]:
    runtime = LifecycleRuntime(
        own.transport,
        own.repository,
        own.informer,
        own.service.settings,
        LIFECYCLE,
        identity=identity,
    )
    runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_two_replicas_reap_each_sandbox_exactly_once(
    replicas: Replicas, spec: SpecFactory, leases: LeaseClient
) -> None:
    scope = own_pods(spec)
    async with (
        replicas(KubernetesSettings(), selector=scope) as one,
        replicas(KubernetesSettings(), selector=scope) as two,
        lifecycle(one, "replica-one") as first,
        lifecycle(two, "replica-two") as second,
    ):
        assert first.elector is not None
        assert second.elector is not None
        assert first.reaper is not None
        assert second.reaper is not None

        async def leader() -> bool:
            return first.elector.is_leader != second.elector.is_leader  # type: ignore[union-attr]

        await eventually(leader, what="exactly one leader")
        expiring = [
            dataclasses.replace(spec(**{BOOT_DELAY_LABEL: "0s"}), ttl_seconds=2) for _ in range(4)
        ]
        created = await asyncio.gather(
            *(r.service.create(s) for r, s in zip([one, two, one, two], expiring, strict=True)),
            one.service.create(spec(EXIT_ZERO, **{BOOT_DELAY_LABEL: "0s"})),
            two.service.create(spec(EXIT_ZERO, **{BOOT_DELAY_LABEL: "0s"})),
        )
        names = {s.name for s in created}
        await eventually(
            lambda: not names & {s.name for s in one.informer.sandboxes() if not s.terminating},
            within=45,
            what="every sandbox reaped",
        )
        # The leader hands over; the new leader reaps what comes next.
        old, new = (first, second) if first.elector.is_leader else (second, first)
        assert old.elector is not None
        assert new.elector is not None
        await old.elector.stop(release=True)
        assert await new.elector.wait_leader(timeout=5)
        late = await one.service.create(
            dataclasses.replace(spec(**{BOOT_DELAY_LABEL: "0s"}), ttl_seconds=1)
        )
        await eventually(
            lambda: any(r.name == late.name for r in new.reaper.reaped),  # type: ignore[union-attr]
            within=30,
            what="the new leader to reap",
        )
        reaped = [*first.reaper.reaped, *second.reaper.reaped]
        counted = [r.name for r in reaped]
        assert sorted(counted) == sorted({*names, late.name})  # each exactly once
        assert {r.name for r in old.reaper.reaped} == names  # type: ignore[union-attr]
        reasons = {r.name: r.reason for r in reaped}
        assert sorted(reasons[n].value for n in names) == ["COMPLETED"] * 2 + ["EXPIRED"] * 4
        assert reasons[late.name] is DeletionReason.EXPIRED


async def test_even_two_reapers_that_both_think_they_lead_delete_each_sandbox_once(
    replicas: Replicas, spec: SpecFactory
) -> None:
    """Without the election (a split brain): the conditional writes alone keep it exactly once."""
    policy = ReapPolicy(cleanup_completed=False, completed_retention=timedelta(0), max_pending=None)
    scope = own_pods(spec)
    async with (
        replicas(selector=scope) as one,
        replicas(selector=scope) as two,
    ):
        reapers = [
            Reaper(r.repository, r.informer, policy, interval_seconds=0.05) for r in (one, two)
        ]
        created = await asyncio.gather(
            *(
                one.service.create(
                    dataclasses.replace(spec(**{BOOT_DELAY_LABEL: "0s"}), ttl_seconds=2)
                )
                for _ in range(6)
            )
        )
        names = {s.name for s in created}
        for reaper in reapers:
            reaper.start()
        try:
            await eventually(
                lambda: not names & {s.name for s in two.informer.sandboxes()},
                within=45,
                what="every sandbox gone",
            )
        finally:
            for reaper in reapers:
                await reaper.stop()
    counted = sorted(r.name for reaper in reapers for r in reaper.reaped)
    assert counted == sorted(names)
