"""The election's rules, against an in-memory Lease store that does compare-and-swap like the
apiserver (the real one is exercised in tests/lifecycle)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from app.config import LeaderElectionSettings
from app.kube.errors import AlreadyExists
from app.kube.leader import LeaderElector, claim
from app.kube.lease import LeaseClient, LeaseRecord, format_micro_time, lease_from_k8s
from app.models import Conflict

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
SETTINGS = LeaderElectionSettings(
    lease_duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2
)


def test_claim_creates_renews_waits_and_takes_over() -> None:
    created = claim(None, "a", NOW, 15, expired=False)
    assert created == LeaseRecord("a", 15, acquire_time=NOW, renew_time=NOW, transitions=0)
    assert created is not None
    held = dataclasses.replace(created, resource_version="7")
    later = NOW + timedelta(seconds=2)
    renewed = claim(held, "a", later, 15, expired=False)
    assert renewed is not None
    assert (renewed.acquire_time, renewed.renew_time, renewed.transitions) == (NOW, later, 0)
    assert renewed.resource_version == "7"  # the precondition of the update
    assert claim(held, "b", later, 15, expired=False) is None
    taken = claim(held, "b", later, 15, expired=True)
    assert taken is not None
    assert (taken.holder, taken.acquire_time, taken.transitions) == ("b", later, 1)
    released = dataclasses.replace(held, holder=None)
    assert claim(released, "b", later, 15, expired=False) is not None


def test_records_round_trip_through_the_lease_object() -> None:
    record = LeaseRecord("a", 14.2, acquire_time=NOW, renew_time=NOW, transitions=3)
    spec = record.spec()
    assert spec == {
        "holderIdentity": "a",
        "leaseTransitions": 3,
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-12-04T12:00:00.000000Z",
        "renewTime": "2026-12-04T12:00:00.000000Z",
    }
    back = lease_from_k8s({"metadata": {"resourceVersion": "9"}, "spec": spec})
    assert back == dataclasses.replace(record, lease_duration_seconds=15, resource_version="9")
    assert format_micro_time(NOW + timedelta(microseconds=5)).endswith(".000005Z")


class MemoryLeases(LeaseClient):
    """One Lease, with the apiserver's optimistic concurrency."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0

    async def get(self, name: str) -> LeaseRecord | None:
        return self.record

    def _store(self, record: LeaseRecord) -> LeaseRecord:
        self.version += 1
        self.record = dataclasses.replace(record, resource_version=str(self.version))
        return self.record

    async def create(self, name: str, record: LeaseRecord) -> LeaseRecord:
        if self.record is not None:
            raise AlreadyExists("exists")
        return self._store(record)

    async def update(self, name: str, record: LeaseRecord) -> LeaseRecord:
        if self.record is None or record.resource_version != self.record.resource_version:
            raise Conflict("conflict")
        return self._store(record)


class Ticks:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


async def test_one_leader_takeover_only_after_the_lease_went_stale_locally() -> None:
    leases, ticks = MemoryLeases(), Ticks()
    a = LeaderElector(leases, SETTINGS, identity="a", monotonic=ticks, clock=lambda: NOW)
    b = LeaderElector(leases, SETTINGS, identity="b", monotonic=ticks, clock=lambda: NOW)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert b.observed_holder == "a"
    ticks.value += 14  # b has seen the same record for 14 s of its lease's 15
    assert not await b.try_acquire_or_renew()
    ticks.value += 1
    assert await b.try_acquire_or_renew()
    assert leases.record is not None
    assert (leases.record.holder, leases.record.transitions) == ("b", 1)
    # a, reading the new record, sees it held by b and fresh.
    assert not await a.try_acquire_or_renew()


async def test_a_renewal_resets_the_observed_age() -> None:
    leases, ticks = MemoryLeases(), Ticks()
    a = LeaderElector(leases, SETTINGS, identity="a", monotonic=ticks, clock=lambda: NOW)
    b = LeaderElector(leases, SETTINGS, identity="b", monotonic=ticks, clock=lambda: NOW)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    for _ in range(5):
        ticks.value += 10
        assert await a.try_acquire_or_renew()  # renewed: a new resourceVersion
        assert not await b.try_acquire_or_renew()


class RacedLeases(MemoryLeases):
    """Someone else writes the Lease right after each read."""

    async def get(self, name: str) -> LeaseRecord | None:
        read = self.record
        if read is not None:
            self._store(dataclasses.replace(read, holder="c"))
        return read


async def test_a_lost_race_is_no_leadership() -> None:
    leases, ticks = RacedLeases(), Ticks()
    leases._store(LeaseRecord(None, 15, NOW, NOW))  # released
    b = LeaderElector(leases, SETTINGS, identity="b", monotonic=ticks, clock=lambda: NOW)
    assert not await b.try_acquire_or_renew()  # its update carried a stale resourceVersion
    assert leases.record is not None
    assert leases.record.holder == "c"


async def test_leadership_lapses_past_the_renew_deadline_and_is_released_on_stop() -> None:
    leases, ticks = MemoryLeases(), Ticks()
    a = LeaderElector(leases, SETTINGS, identity="a", monotonic=ticks, clock=lambda: NOW)
    a.start()
    assert await a.wait_leader(timeout=2)
    assert a.is_leader
    assert a.terms == 1
    ticks.value += 10  # no renewal seen for the renew deadline
    assert not a.is_leader
    ticks.value -= 10
    await a.stop()
    assert leases.record is not None
    assert leases.record.holder is None
    b = LeaderElector(leases, SETTINGS, identity="b", monotonic=ticks, clock=lambda: NOW)
    assert await b.try_acquire_or_renew()  # released: no need to wait for expiry
