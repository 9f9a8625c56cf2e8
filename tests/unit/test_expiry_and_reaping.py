from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.config import KubernetesSettings
from app.kube.convert import sandbox_from_pod
from app.models import (
    BadUserInput,
    ChangeType,
    ContainerStateKind,
    ContainerStatus,
    DeletionReason,
    Sandbox,
    SandboxChange,
    SandboxPhase,
    SandboxSpec,
)
from app.sandboxes.expiry import expiring_notices, merge_changes
from app.sandboxes.manifest import build_pod_manifest
from app.sandboxes.reaper import ReapPolicy, reap_reason

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def sandbox(name: str, **fields: object) -> Sandbox:
    base = Sandbox(
        name=name,
        namespace="ns",
        image="busybox",
        phase=SandboxPhase.RUNNING,
        created_at=NOW - timedelta(minutes=5),
        uid=f"uid-{name}",
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


# -- TTL on the pod ----------------------------------------------------------------------------


def test_ttl_becomes_the_expires_at_annotation_and_back() -> None:
    spec = SandboxSpec(image="busybox", ttl_seconds=90)
    manifest = build_pod_manifest(spec, KubernetesSettings(), name="n", created_at=NOW)
    annotations = manifest["metadata"]["annotations"]
    assert annotations["kata-sandbox-api/expires-at"] == "2026-12-04T12:01:30.000000Z"
    assert sandbox_from_pod(manifest).expires_at == NOW + timedelta(seconds=90)
    plain = build_pod_manifest(
        SandboxSpec(image="busybox"), KubernetesSettings(), name="n", created_at=NOW
    )
    assert "kata-sandbox-api/expires-at" not in plain["metadata"]["annotations"]
    defaulted = build_pod_manifest(
        SandboxSpec(image="busybox"),
        KubernetesSettings(default_ttl_seconds=3600),
        name="n",
        created_at=NOW,
    )
    assert sandbox_from_pod(defaulted).expires_at == NOW + timedelta(hours=1)


def test_ttl_is_bounded_by_the_maximum() -> None:
    settings = KubernetesSettings(max_ttl_seconds=600)
    for ttl in (0, -5, 601):
        with pytest.raises(BadUserInput) as error:
            build_pod_manifest(
                SandboxSpec(image="busybox", ttl_seconds=ttl), settings, name="n", created_at=NOW
            )
        assert error.value.field == "input.ttlSeconds"


def test_change_reason_is_the_annotation_or_user() -> None:
    gone = sandbox("a", terminating=True, deletion_reason=DeletionReason.EXPIRED)
    assert SandboxChange(ChangeType.DELETED, gone).reason is DeletionReason.EXPIRED
    assert SandboxChange(ChangeType.MODIFIED, gone).reason is DeletionReason.EXPIRED
    assert SandboxChange(ChangeType.DELETED, sandbox("b")).reason is DeletionReason.USER
    assert SandboxChange(ChangeType.MODIFIED, sandbox("b")).reason is None
    assert SandboxChange(ChangeType.EXPIRING, sandbox("b")).reason is None


# -- EXPIRING notices --------------------------------------------------------------------------


class FakeStore:
    def __init__(self, *sandboxes: Sandbox) -> None:
        self.items = {s.name: s for s in sandboxes}
        self.version = 0
        self._changed = asyncio.Event()

    def sandboxes(self) -> list[Sandbox]:
        return list(self.items.values())

    def get(self, name: str) -> Sandbox | None:
        return self.items.get(name)

    def put(self, item: Sandbox) -> None:
        self.items[item.name] = item
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float | None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            return predicate()
        return True


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def take(stream: AsyncIterator[SandboxChange], count: int) -> list[SandboxChange]:
    return [await asyncio.wait_for(anext(stream), timeout=2) for _ in range(count)]


async def test_notices_come_a_lead_time_before_expiry_once_per_expiry() -> None:
    clock = Clock()
    soon = sandbox("soon", expires_at=NOW + timedelta(seconds=30))
    later = sandbox("later", expires_at=NOW + timedelta(seconds=600))
    store = FakeStore(soon, later, sandbox("forever"))
    stream = expiring_notices(store, lead_seconds=60, clock=clock)
    (first,) = await take(stream, 1)
    assert (first.type, first.sandbox.name) == (ChangeType.EXPIRING, "soon")

    clock.now = NOW + timedelta(seconds=541)  # later's notice is due at 540 s
    store.put(sandbox("unrelated"))
    (second,) = await take(stream, 1)
    assert second.sandbox.name == "later"

    # Extended: a new expiry is noticed again when it nears, not before.
    store.put(dataclasses.replace(later, expires_at=clock.now + timedelta(seconds=120)))
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.2)
    assert not pending.done()
    clock.now += timedelta(seconds=61)
    store.put(sandbox("another"))
    third = await asyncio.wait_for(pending, timeout=2)
    assert third.sandbox.name == "later"
    await stream.aclose()


async def test_notices_wake_up_on_time_without_store_changes() -> None:
    store = FakeStore(sandbox("s", expires_at=datetime.now(UTC) + timedelta(seconds=60.3)))
    stream = expiring_notices(store, lead_seconds=60)
    (notice,) = await take(stream, 1)
    assert notice.sandbox.name == "s"
    await stream.aclose()


async def test_without_current_only_later_entries_are_noticed() -> None:
    clock = Clock()
    store = FakeStore(sandbox("due", expires_at=NOW + timedelta(seconds=5)))
    stream = expiring_notices(store, lead_seconds=60, clock=clock, include_current=False)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # iteration has started: "due" is current, hence not announced
    store.put(sandbox("new", expires_at=NOW + timedelta(seconds=10)))
    notice = await asyncio.wait_for(pending, timeout=2)
    assert notice.sandbox.name == "new"
    await stream.aclose()


async def test_merge_interleaves_and_ends_when_all_end() -> None:
    async def source(*names: str) -> AsyncIterator[SandboxChange]:
        for name in names:
            await asyncio.sleep(0.01)
            yield SandboxChange(ChangeType.MODIFIED, sandbox(name))

    merged = [c.sandbox.name async for c in merge_changes(source("a", "b"), source("c"))]
    assert sorted(merged) == ["a", "b", "c"]


async def test_merge_raises_a_source_error() -> None:
    async def broken() -> AsyncIterator[SandboxChange]:
        yield SandboxChange(ChangeType.MODIFIED, sandbox("a"))
        raise RuntimeError("overflow")

    async def endless() -> AsyncIterator[SandboxChange]:
        while True:
            await asyncio.sleep(1)
            yield SandboxChange(ChangeType.MODIFIED, sandbox("b"))

    with pytest.raises(RuntimeError, match="overflow"):
        async for _ in merge_changes(broken(), endless()):
            pass


# -- what the reaper deletes -------------------------------------------------------------------

POLICY = ReapPolicy(
    cleanup_completed=True,
    completed_retention=timedelta(seconds=300),
    max_pending=timedelta(seconds=900),
)


def finished(seconds_ago: int, phase: SandboxPhase = SandboxPhase.SUCCEEDED) -> Sandbox:
    container = ContainerStatus(
        "sandbox",
        "busybox",
        state=ContainerStateKind.TERMINATED,
        exit_code=0,
        finished_at=NOW - timedelta(seconds=seconds_ago),
    )
    return sandbox("f", phase=phase, containers=(container,))


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (sandbox("ok"), None),
        (sandbox("x", expires_at=NOW), DeletionReason.EXPIRED),
        (sandbox("x", expires_at=NOW + timedelta(seconds=1)), None),
        (finished(301), DeletionReason.COMPLETED),
        (finished(301, SandboxPhase.FAILED), DeletionReason.COMPLETED),
        (finished(299), None),
        (
            sandbox("p", phase=SandboxPhase.PENDING, created_at=NOW - timedelta(seconds=901)),
            DeletionReason.STUCK,
        ),
        (sandbox("p", phase=SandboxPhase.PENDING, created_at=NOW - timedelta(seconds=899)), None),
        # Already being deleted: never again.
        (sandbox("t", expires_at=NOW, terminating=True), None),
        # Marked by a reaper that did not get to delete it: finished with its reason.
        (sandbox("m", deletion_reason=DeletionReason.STUCK), DeletionReason.STUCK),
        # Expiry wins over the other reasons.
        (dataclasses.replace(finished(400), expires_at=NOW), DeletionReason.EXPIRED),
    ],
)
def test_reap_reason(item: Sandbox, reason: DeletionReason | None) -> None:
    assert reap_reason(item, NOW, POLICY) is reason


def test_completed_and_stuck_reaping_can_be_off() -> None:
    off = ReapPolicy(cleanup_completed=False, completed_retention=timedelta(0), max_pending=None)
    assert reap_reason(finished(10_000), NOW, off) is None
    stuck = sandbox("p", phase=SandboxPhase.PENDING, created_at=NOW - timedelta(days=1))
    assert reap_reason(stuck, NOW, off) is None
