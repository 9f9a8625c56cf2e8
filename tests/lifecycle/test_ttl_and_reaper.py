"""TTLs, extensions, EXPIRING notices and the reaper's deletions with their reasons, for real.

Each reaper here watches only the test's own sandboxes (see conftest), so it cannot delete
another test's pods; what it deletes and why is then visible to every watcher of the namespace,
including the session's informer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from app.kube.ownership import DELETION_REASON_ANNOTATION
from app.models import (
    BadUserInput,
    ChangeType,
    Conflict,
    DeletionReason,
    NotFound,
    SandboxChange,
)
from app.sandboxes.expiry import expiring_notices, merge_changes
from app.sandboxes.reaper import Reaper, ReapPolicy
from app.sandboxes.service import SandboxService
from devcluster.kwok import BOOT_DELAY_LABEL, EXIT_ZERO, IMAGE_PULL_FAILURE
from tests.conftest import SpecFactory
from tests.lifecycle.conftest import Replicas, eventually, own_pods

ONLY_EXPIRY = ReapPolicy(
    cleanup_completed=False, completed_retention=timedelta(0), max_pending=None
)


async def test_ttl_is_stored_on_the_pod_and_extend_moves_it(
    service: SandboxService, spec: SpecFactory
) -> None:
    created = await service.create(dataclasses.replace(spec(), ttl_seconds=600))
    assert created.expires_at == created.created_at + timedelta(seconds=600)
    before = datetime.now(UTC)
    extended = await service.extend(created.name, 3600)
    assert extended.expires_at is not None
    assert before + timedelta(seconds=3600) <= extended.expires_at
    assert extended.expires_at <= datetime.now(UTC) + timedelta(seconds=3600)
    # What every replica sees: the annotation on the pod.
    fresh = await service.repository.get(created.name)
    assert fresh.expires_at == extended.expires_at
    with pytest.raises(BadUserInput) as error:
        await service.extend(created.name, 10**7)
    assert error.value.field == "ttlSeconds"
    with pytest.raises(NotFound):
        await service.extend("kata-sandbox-00000000", 60)


async def test_a_sandbox_marked_for_reaping_cannot_be_extended(
    service: SandboxService, spec: SpecFactory
) -> None:
    created = await service.create(dataclasses.replace(spec(), ttl_seconds=600))
    await service.repository.patch_annotations(
        created.name, {DELETION_REASON_ANNOTATION: "EXPIRED"}, resource_version=None
    )
    await eventually(
        lambda: (s := service.get(created.name)) is not None and s.deletion_reason is not None,
        what="the mark in the store",
    )
    with pytest.raises(Conflict, match="being deleted"):
        await service.extend(created.name, 600)


async def test_expiring_notice_then_deleted_with_reason_expired(
    service: SandboxService, replicas: Replicas, spec: SpecFactory
) -> None:
    async with replicas(selector=own_pods(spec)) as own:
        reaper = Reaper(own.repository, own.informer, ONLY_EXPIRY, interval_seconds=0.2)
        # A subscriber on the session's replica: the informer's changes plus EXPIRING notices.
        stream = merge_changes(
            service.informer.subscribe(),
            expiring_notices(service.informer, lead_seconds=2, include_current=False),
        )
        created = await service.create(
            dataclasses.replace(spec(**{BOOT_DELAY_LABEL: "0s"}), ttl_seconds=4)
        )
        reaper.start()
        seen: list[SandboxChange] = []
        try:
            async with asyncio.timeout(30):
                async for change in stream:
                    if change.sandbox.name != created.name:
                        continue
                    seen.append(change)
                    if change.type is ChangeType.DELETED:
                        break
        finally:
            await stream.aclose()
            await reaper.stop()
    kinds = [c.type for c in seen]
    assert ChangeType.EXPIRING in kinds
    expiring = seen[kinds.index(ChangeType.EXPIRING)]
    assert expiring.reason is None
    assert expiring.sandbox.expires_at == created.expires_at
    assert kinds.index(ChangeType.EXPIRING) < kinds.index(ChangeType.DELETED)
    # Terminating and then gone, both saying why.
    assert seen[-1].reason is DeletionReason.EXPIRED
    terminating = [c for c in seen if c.type is ChangeType.MODIFIED and c.sandbox.terminating]
    assert terminating
    assert all(c.reason is DeletionReason.EXPIRED for c in terminating)
    assert [r.name for r in reaper.reaped] == [created.name]


async def test_completed_and_stuck_sandboxes_are_reaped_with_their_reasons(
    service: SandboxService, replicas: Replicas, spec: SpecFactory
) -> None:
    policy = ReapPolicy(
        cleanup_completed=True,
        completed_retention=timedelta(seconds=1),
        max_pending=timedelta(seconds=4),
    )
    async with replicas(selector=own_pods(spec)) as own:
        reaper = Reaper(own.repository, own.informer, policy, interval_seconds=0.2)
        async with service.informer.subscribe() as changes:
            done = await service.create(spec(EXIT_ZERO, **{BOOT_DELAY_LABEL: "0s"}))
            stuck = await service.create(spec(IMAGE_PULL_FAILURE, **{BOOT_DELAY_LABEL: "0s"}))
            running = await service.create(spec(**{BOOT_DELAY_LABEL: "0s"}), wait_for_ready=True)
            reaper.start()
            reasons: dict[str, DeletionReason | None] = {}
            try:
                async with asyncio.timeout(30):
                    async for change in changes:
                        if change.type is ChangeType.DELETED:
                            reasons[change.sandbox.name] = change.reason
                        if {done.name, stuck.name} <= reasons.keys():
                            break
            finally:
                await reaper.stop()
    assert reasons[done.name] is DeletionReason.COMPLETED
    assert reasons[stuck.name] is DeletionReason.STUCK
    assert running.name not in reasons
    assert service.get(running.name) is not None


async def test_a_users_delete_says_user(service: SandboxService, spec: SpecFactory) -> None:
    created = await service.create(spec(**{BOOT_DELAY_LABEL: "0s"}))
    async with service.informer.subscribe() as changes:
        await service.delete(created.name, force=True)
        async with asyncio.timeout(30):
            async for change in changes:
                if change.sandbox.name == created.name and change.type is ChangeType.DELETED:
                    assert change.reason is DeletionReason.USER
                    break
